"""Spanish vocabulary of the density statement (the cross-check, run on the normalised Spanish report).

Accents are optional everywhere: normalisation may have missed one, and many exports drop them.
"""

from __future__ import annotations

from breast_density.text.density_extraction import (
    CODE_NUMBER,
    DEFAULT_OPTIONS,
    WORD_JOIN,
    Extraction,
    Language,
    Options,
    Rule,
    code_end,
    extract,
    fuzzy,
)

_S = WORD_JOIN

# A code must end the phrase: "densidad a nivel del..." is not density A ('a' is also a preposition).
_AFTER = code_end(
    r"y|o|con|que|lo|mamas?|patr[oó]n|par[eé]nquima|tejido|densidad(?:es)?|de\s+(?:4|cuatro)"
    r"|composici[oó]n|seg[uú]n|bilateral(?:es|mente)?|en\s+ambas|acr|bi-?rads|categor[ií]a|tipo"
    r"|de\s+(?:la\s+)?(?:densidad|escala|clasificaci[oó]n|acr|bi-?rads)|del\s+(?:acr|bi-?rads)"
)
_KEY = (
    r"(?:acr|bi[\s-]?rads®?|densidad(?:es)?|dens\.|composici[oó]n|tipo|categor[ií]a|cat\.|patr[oó]n|clase|grado"
    r"|density)"
)
_FILL = (
    r"(?:[ \t:=()\-–'\"‘’“”«»]+"
    r"|\b(?:de|la|el|del|las|mama|mamas|mamaria|mamario|mamarias|glandular|parenquimatosa|tipo|categor[ií]a"
    r"|patr[oó]n|densidad|composici[oó]n|acr|bi[\s-]?rads|clase|grado|es|son|breast|density|type"
    r"|clasificaci[oó]n|escala|seg[uú]n|sistema)\b)"
)
_RANGE = r"[ \t]*(?:[/\-–]|[ \t](?:o|a|y)[ \t])[ \t]*"
_NUM_KEY = r"(?:acr|densidad(?:es)?|dens\.)"
# Scale words that name a density only in a sentence about density ("tipo 2" is also diabetes or surgery).
_SCALE_KEY = r"(?:tipo|patr[oó]n|grado|categor[ií]a|clase|composici[oó]n)"

# Spanish adjectives follow the noun, so a lesion is excluded by the distractors ("nódulo muy denso");
# this lookahead covers the rarer order "densa imagen nodular".
_NOT_LESION = (
    r"(?![ \t]+(?:n[oó]dulos?|masas?|lesi[oó]n(?:es)?|(?:micro)?calcificaci[oó]n(?:es)?|opacidad(?:es)?"
    r"|focos?|ganglios?|quistes?|im[aá]gen(?:es)?|formaci[oó]n(?:es)?|[aá]reas?|estructuras?))"
)
_FAT = r"(?:grasas?|grasos?|adiposas?|adiposos?|lipomatos[oa]s?)"
_GLAND = rf"(?:{fuzzy('fibroglandular')}(?:es)?|glandular(?:es)?|fg)"
# what a quantity can be about: the fibroglandular tissue or the fat
_GLAND_PART = rf"(?:(?:tejido|componente|par[eé]nquima|densidad(?:es)?){_S}(?:mamari[oa]{_S})?)?{_GLAND}"
_FAT_PART = rf"(?:(?:tejido|componente|densidad){_S}(?:mamari[oa]{_S})?{_FAT}|grasa|{_FAT}{_S}tejido)"
_LOW = (
    rf"(?:escas[oa]s?|poc[oa]s?|muy{_S}poc[oa]s?|m[ií]nim[oa]s?|(?:escasa|peque[ñn]a|m[ií]nima){_S}cantidad"
    rf"|sin{_S}apenas|apenas)"
)
_HIGH = rf"(?:abundantes?|abundancia|(?:gran|abundante){_S}cantidad|rica?s?{_S}en)"
_WHOLE = (
    rf"(?:(?:casi|pr[aá]cticamente){_S})?(?:en{_S}su{_S}totalidad|la{_S}totalidad(?:{_S}de{_S}(?:la|las|ambas)"
    rf"{_S}mamas?)?|tod[oa]s?{_S}(?:la|el|las){_S}(?:mamas?|par[eé]nquima)|por{_S}completo)"
)
_DE = rf"(?:{_S}(?:del|de(?:{_S}(?:la|el|las|los))?))?"
# adverbs of degree between a breast noun and 'grasa' ("mamas prácticamente grasas")
_FAT_ADVERB = (
    r"(?:casi|pr[aá]cticamente|b[aá]sicamente|eminentemente|fundamentalmente|predominantemente|totalmente"
    r"|completamente|mayoritariamente|principalmente|tod[oa]s?)"
)
# "compuestas casi en su totalidad por tejido graso"
_OF_TISSUE = rf"{_S}(?:(?:por|de){_S}(?:(?:tejido|componente){_S})?)?"
_FIBRO = _GLAND
_DISPERSED = rf"(?:{fuzzy('dispersas')}|{fuzzy('dispersos')}|dispers[oa]|aislad[oa]s?|diseminad[oa]s?)"
_DENSE = r"(?:dens[oa]s?)"
_HETERO_ADV = rf"(?:{fuzzy('heterogéneamente')}|{fuzzy('heterogeneamente')}|heterog\.?)"
_HETERO_ADJ = (
    rf"(?:{fuzzy('heterogéneas')}|{fuzzy('heterogéneos')}|{fuzzy('heterogénea')}|{fuzzy('heterogéneo')})"
)

RULES = (
    Rule("code_letter", rf"\b{_KEY}(?:{_FILL}){{0,8}}?\b(?P<code>[a-d])\b{_AFTER}", anchored=True),
    Rule("code_number", rf"\b{_NUM_KEY}(?:{_FILL}){{0,8}}?\b(?P<code>{CODE_NUMBER})\b{_AFTER}"),
    Rule(
        "code_number",
        rf"\b{_SCALE_KEY}(?:{_FILL}){{0,8}}?\b(?P<code>{CODE_NUMBER})\b{_AFTER}",
        anchored="strict",
    ),
    # a range ("C/D", "3-4") names two classes: the second letter makes the report a conflict
    Rule(
        "code_range", rf"\b{_KEY}(?:{_FILL}){{0,8}}?\b[a-d]{_RANGE}(?P<code>[a-d])\b{_AFTER}", anchored=True
    ),
    Rule(
        "code_range",
        rf"\b(?:{_NUM_KEY}|{_SCALE_KEY})(?:{_FILL}){{0,8}}?\b{CODE_NUMBER}{_RANGE}(?P<code>{CODE_NUMBER})\b{_AFTER}",
        anchored="strict",
    ),
    Rule(
        "code_range",
        rf"\bentre{_S}(?:la{_S})?[a-d]{_S}y{_S}(?:la{_S})?(?P<code>[a-d])\b{_AFTER}",
        anchored=True,
    ),
    # A: casi totalmente grasa
    Rule(
        "desc_entirely_fatty",
        rf"\b(?:casi{_S})?(?:{fuzzy('totalmente')}|{fuzzy('completamente')}|{fuzzy('enteramente')}"
        rf"|{fuzzy('exclusivamente')}|en{_S}su{_S}totalidad){_OF_TISSUE}{_FAT}\b",
        "A",
    ),
    Rule(
        "desc_predominantly_fatty",
        rf"\b(?:{fuzzy('predominantemente')}|{fuzzy('mayoritariamente')}|{fuzzy('principalmente')}"
        rf"|{fuzzy('fundamentalmente')}|en{_S}su{_S}mayor[ií]a){_OF_TISSUE}{_FAT}\b",
        "A",
    ),
    Rule(
        "desc_fatty_predominance",
        rf"\b{fuzzy('predominio')}{_S}(?:(?:del?|de{_S}la){_S}(?:(?:tejido|componente|densidad){_S})?)?"
        rf"(?:{_FAT}|grasa)\b",
        "A",
        weak=True,
    ),
    Rule(
        "desc_fatty_replaced",
        rf"\b(?:{fuzzy('involución')}|{fuzzy('involucion')}|{fuzzy('sustitución')}|{fuzzy('sustitucion')}"
        rf"|reemplazo|{fuzzy('transformación')}|{fuzzy('transformacion')}){_S}{_FAT}\b",
        "A",
    ),
    Rule(
        "desc_fatty_breasts",
        rf"\b(?:mamas?|par[eé]nquima|patr[oó]n(?:es)?|composici[oó]n|tejido{_S}mamario)(?:{_S}mamari[oa]s?)?"
        rf"(?:[\s:]+(?:son|es|est[aá]n?|de|con))?(?:{_S}(?:aspecto|patr[oó]n|composici[oó]n|tipo))?"
        rf"(?:{_S}{_FAT_ADVERB}){{0,2}}[\s:\-]+{_FAT}\b{_NOT_LESION}",
        "A",
    ),
    Rule(
        "desc_fatty_replaced",
        rf"\b(?:sustituid|reemplazad|ocupad|compuest|formad)[oa]s?{_S}(?:(?:casi|pr[aá]cticamente){_S})?"
        rf"(?:(?:totalmente|completamente|en{_S}su{_S}totalidad|por{_S}completo){_S})?por{_S}(?:tejido{_S})?"
        rf"{_FAT}\b",
        "A",
    ),
    # involuted breasts have lost their glandular tissue to fat
    Rule(
        "desc_involuted", rf"\b(?:mamas?|par[eé]nquima){_S}(?:involucionad|involutiv)[oa]s?\b", "A", weak=True
    ),
    # quantities (weak): little fibroglandular tissue or plenty of fat is A; gland over most of it is D
    Rule("quantity_low_gland", rf"\b{_LOW}{_DE}{_S}{_GLAND_PART}\b", "A", weak=True),
    Rule(
        "quantity_low_gland",
        rf"\b{_GLAND_PART}{_S}(?:(?:muy|muy{_S}|){_LOW}|residual(?:es)?)\b",
        "A",
        weak=True,
    ),
    # plenty of fat says A only when the sentence mentions no fibroglandular tissue beside it
    Rule(
        "quantity_high_fat",
        rf"(?<!{_GLAND}[^.;\n]*)\b{_HIGH}{_DE}{_S}{_FAT_PART}\b(?![^.;\n]*{_GLAND})",
        "A",
        weak=True,
    ),
    Rule(
        "quantity_whole_gland",
        rf"\b{_WHOLE}{_S}(?:por|de){_S}{_GLAND_PART}\b|\b{_GLAND_PART}(?:{_S}dens[oa])?{_S}que{_S}ocupa[n]?"
        rf"{_S}{_WHOLE}",
        "D",
        weak=True,
    ),
    # predominance of one component over the other
    Rule(
        "quantity_predominance",
        rf"\b{fuzzy('predominio')}{_DE}{_S}{_GLAND_PART}{_S}sobre{_S}(?:el{_S}|la{_S})?(?:{_FAT_PART}|{_FAT})\b"
        rf"|\b{_GLAND_PART}{_S}predomina[n]?{_S}(?:\w+{_S})?sobre{_S}(?:el{_S}|la{_S})?(?:{_FAT_PART}|{_FAT})\b"
        rf"|\bpredomina[n]?{_S}(?:el{_S}|la{_S})?{_GLAND_PART}{_S}sobre{_S}(?:el{_S}|la{_S})?(?:{_FAT_PART}|{_FAT})\b",
        "C",
        weak=True,
    ),
    Rule(
        "quantity_predominance",
        rf"\b(?:{_FAT_PART}|{_FAT}){_S}predomina[n]?{_S}(?:\w+{_S})?sobre{_S}(?:el{_S}|la{_S})?{_GLAND_PART}\b",
        "A",
        weak=True,
    ),
    # B: densidades fibroglandulares dispersas
    Rule(
        "desc_scattered_fibroglandular",
        rf"\b(?:(?:densidad(?:es)?|[aá]reas?|tejido|componentes?|par[eé]nquima|elementos?){_S}"
        rf"(?:de{_S}(?:densidad{_S}|tejido{_S})?)?)?{_FIBRO}{_S}{_DISPERSED}\b",
        "B",
    ),
    Rule(
        "desc_scattered_fibroglandular",
        rf"\b{_DISPERSED}{_S}(?:(?:[aá]reas?{_S})?de{_S})?(?:(?:densidad(?:es)?|tejido){_S})?{_FIBRO}\b",
        "B",
    ),
    Rule(
        "desc_scattered_fibroglandular",
        rf"\b[aá]reas{_S}{_DISPERSED}{_S}de{_S}(?:densidad|tejido){_S}{_FIBRO}\b",
        "B",
    ),
    Rule("desc_scattered_densities", rf"\bdensidades{_S}{_DISPERSED}\b", "B"),
    # C: heterogéneamente densa
    Rule("desc_heterogeneously_dense", rf"\b{_HETERO_ADV}{_S}{_DENSE}\b{_NOT_LESION}", "C"),
    Rule("desc_dense_heterogeneous", rf"\b{_DENSE}{_S}(?:y{_S})?{_HETERO_ADJ}\b", "C"),
    Rule("desc_heterogeneous_density", rf"\bdensidad{_S}(?:mamaria{_S})?{_HETERO_ADJ}\b", "C"),
    Rule("desc_heterogeneous_and_dense", rf"\b{_HETERO_ADJ}{_S}y{_S}{_DENSE}\b", "C"),
    Rule(
        "desc_dense_heterogeneous",
        rf"\b{_DENSE}{_S}de{_S}(?:distribuci[oó]n|aspecto|patr[oó]n|forma|manera){_S}{_HETERO_ADJ}\b",
        "C",
    ),
    Rule(
        "quantity_heterogeneous_gland",
        rf"\b{_GLAND_PART}{_S}(?:{_HIGH}{_S})?(?:de{_S}(?:distribuci[oó]n|aspecto){_S})?{_HETERO_ADJ}\b",
        "C",
        weak=True,
    ),
    # D: extremadamente densa
    Rule(
        "desc_extremely_dense",
        rf"\b(?:{fuzzy('extremadamente')}|muy|sumamente|{fuzzy('extraordinariamente')}|altamente"
        rf"|{fuzzy('marcadamente')}){_S}{_DENSE}\b{_NOT_LESION}",
        "D",
    ),
    Rule("desc_extreme_density", rf"\bdensidad{_S}(?:mamaria{_S})?extrema\b", "D"),
    Rule(
        "desc_extreme_density",
        rf"\bdensidad{_S}(?:mamaria{_S}|mamogr[aá]fica{_S})?(?:{fuzzy('extremadamente')}|sumamente){_S}alta\b",
        "D",
    ),
    # "densa homogénea" / "homogéneamente densa": the whole breast dense, the Spanish wording of D
    Rule(
        "desc_homogeneously_dense",
        rf"\b{_DENSE}{_S}(?:y{_S}|de{_S}(?:forma|manera|distribuci[oó]n|aspecto|patr[oó]n){_S})?"
        rf"{fuzzy('homogéne')}[oa]s?\b|\b{fuzzy('homogéneamente')}{_S}{_DENSE}\b"
        rf"|\b{fuzzy('homogeneamente')}{_S}{_DENSE}\b",
        "D",
    ),
)

GENERIC = (
    rf"\b(?:mamas?|par[eé]nquima|tejido(?:{_S}mamario)?|patr[oó]n)(?:{_S}mamari[oa]s?)?"
    rf"(?:{_S}no(?:{_S}(?:son|es|muy|tan)){{0,2}})?{_S}{_DENSE}\b",
    rf"\bdensidad{_S}(?:mamaria|glandular|parenquimatosa)\b",
    rf"\bcomposici[oó]n{_S}(?:mamaria|de{_S}la{_S}mama)\b",
)

_LESION = (
    r"(?:n[oó]dulos?|masas?|lesi[oó]n(?:es)?|(?:micro)?calcificaci[oó]n(?:es)?|opacidad(?:es)?|focos?"
    r"|ganglios?|quistes?|im[aá]gen(?:es)?|formaci[oó]n(?:es)?|asimetr[ií]as?)"
)
DISTRACTORS = (
    rf"\bdensidad(?:es)?{_S}(?:focal(?:es)?{_S})?asim[eé]tricas?\b",
    rf"\basimetr[ií]as?(?:{_S}(?:focal(?:es)?|global(?:es)?|en{_S}desarrollo))?(?:{_S}de{_S}densidad)?\b",
    rf"\b(?:iso|hiper|hipo){_S}?dens[oa]s?\b",
    rf"\b(?:iso|hiper|hipo)?densidad(?:es)?{_S}(?:grasa|agua|l[ií]quida|c[aá]lcica|met[aá]lica|partes{_S}blandas)\b",
    # adjectives after a lesion noun describe the lesion: "nódulo muy denso", "imagen nodular densa"
    rf"\b{_LESION}(?:{_S}(?!y\b|con\b|en\b)[[:alpha:]]+){{0,2}}?{_S}(?:(?:muy|extremadamente|{_HETERO_ADV})"
    rf"{_S})?{_DENSE}\b",
    rf"\b{_LESION}{_S}de{_S}(?:[[:alpha:]]+{_S}){{0,2}}?densidad\b",
    r"\b(?:acr[\s-]*)?bi[\s-]?rads®?(?:[\s:\-]|categor[ií]a|cat\.)*[0-6][abc]?\b",
    r"(?<!densidad(?:[\s:\-]+de)?[\s:\-]{1,3})\b(?:categor[ií]a|cat\.)[\s:\-]*[0-6][abc]?\b"
    r"(?![ \t]*de[ \t]+densidad)",
    r"\b(?:clasificaci[oó]n|valoraci[oó]n|evaluaci[oó]n)\s+(?:final\s+)?(?:bi[\s-]?rads)?[\s:\-]*[0-6][abc]?\b",
    rf"\b(?:sin|no{_S}(?:hay|se{_S}observan?|existen?)){_S}(?:[[:alpha:]]+{_S}){{0,2}}?cambios?{_S}"
    rf"(?:[[:alpha:]]+{_S})?(?:en|de){_S}(?:la{_S})?densidad(?:{_S}mamaria)?\b",
    rf"\baumento{_S}(?:focal{_S})?de{_S}(?:la{_S})?densidad\b",
)

NEGATION_CUES = frozenset(
    {"no", "sin", "ni", "ausencia", "tampoco", "descarta", "niega", "negativo", "negativa"}
)
SCOPE_STOPPERS = frozenset(
    {
        "en", "cambio", "cambios", "lesiones", "lesión", "lesion", "nódulos", "nodulos", "hallazgos",
        "masas", "calcificaciones", "malignidad",
    }
)  # fmt: skip

SPANISH = Language(
    name="spanish",
    rules=RULES,
    generic=GENERIC,
    distractors=DISTRACTORS,
    negation_cues=NEGATION_CUES,
    scope_stoppers=SCOPE_STOPPERS,
    findings_headers=r"hallazgos|descripci[oó]n|informe|resultados?|exploraci[oó]n",
    fallback_headers=(
        r"impresi[oó]n(?:\s+diagn[oó]stica)?|conclusi[oó]n(?:es)?|diagn[oó]stico|juicio\s+(?:cl[ií]nico|diagn[oó]stico)"
        r"|comentarios?|valoraci[oó]n"
    ),
    strict_anchor=(
        r"densidad(?:es)?|dens\.|acr|bi[\s-]?rads|composici[oó]n|patr[oó]n|par[eé]nquima|(?:fibro)?glandular(?:es)?"
        r"|dens[oa]s?"
    ),
    right=r"derech[oa]s?|dcha\.?|dcho\.?|(?-i:MD)",
    left=r"izquierd[oa]s?|izq(?:da)?\.?|(?-i:MI)",
    both=r"ambas|ambos|bilateral(?:es|mente)?|mamas",
    # a past tense or a year also dates a statement ("eran densas en 2020")
    prior=(
        r"previ[oa]s?|previamente|anterior(?:es|mente)?|antes|hace\s+\d+\s+a[ñn]os?|en\s+(?:19|20)\d\d"
        r"|eran|era|fueron|presentaba[n]?|mostraba[n]?|ten[ií]a[n]?"
    ),
    current=(
        r"actual(?:mente)?|ahora|hoy|sin\s+cambios|similar(?:es)?|igual(?:es)?|estable|persiste|mantiene|como\s+en"
        r"|respecto|comparaci[oó]n|compar(?:ad[oa]s?|a|ando)"
    ),
    other_scales=r"tab[aá]r|wolfe|boyd",
    percent_tissue=(
        r"(?:fibro)?glandular(?:es)?|tejido\s+dens[oa]|par[eé]nquima\s+dens[oa]|densidad\s+(?:mamaria|mamogr[aá]fica)"
    ),
    percent_fat=r"grasa|graso|adiposo|adiposa",
    percent_below=(
        r"(?:inferior(?:es)?|menor(?:es)?)\s+(?:al?|del?|que)|menos\s+del?|por\s+debajo\s+del?|<|≤"
    ),
    percent_upto=r"hasta(?:\s+un|\s+el)?|sin\s+(?:superar|sobrepasar|exceder)|no\s+superior\s+al?|<=",
    percent_above=r"(?:superior(?:es)?|mayor(?:es)?)\s+(?:al?|del?|que)|m[aá]s\s+del?|por\s+encima\s+del?|>|>=|≥",
    percent_approx=(
        r"en\s+torno\s+al?|alrededor\s+del?|aproximadamente|aprox\.?|cerca\s+del?|sobre|unos|unas|~|≈"
    ),
    percent_between=r"entre|del?|desde",
    percent_and=r"y|al?|hasta",
    other_headers=(
        r"indicaci[oó]n(?:es)?|motivo(?:\s+de\s+(?:consulta|estudio|exploraci[oó]n))?|antecedentes(?:\s+\w+)?"
        r"|historia\s+cl[ií]nica|datos\s+cl[ií]nicos|t[eé]cnica|comparaci[oó]n|recomendaci[oó]n(?:es)?"
    ),
    anchor=(
        r"mamas?|mamari[oa]s?|densidad(?:es)?|dens\.|dens[oa]s?|par[eé]nquima|composici[oó]n|acr|bi[\s-]?rads"
        r"|(?:fibro)?glandular(?:es)?|tejido|mamogr[aá]fic[oa]s?|grasas?|adiposas?"
    ),
)


def extract_es(text: str, options: Options = DEFAULT_OPTIONS) -> Extraction:
    """Density outcome of a Spanish report (hallazgos first)."""
    return extract(text, SPANISH, options)
