"""Spanish vocabulary of the density statement (the cross-check, run on the normalised Spanish report).

Accents are optional everywhere: normalisation may have missed one, and many exports drop them.
"""

from __future__ import annotations

from breast_density.text.density_extraction import Extraction, Language, Rule, extract, fuzzy

_S = r"[\s\-]+"

# A code must end the phrase: "densidad a nivel del..." is not density A ('a' is also a preposition).
_AFTER = (
    r"(?=[ \t]*(?:\Z|[\n\r.,;:)\]/(\-–'\"‘’“”]"
    r"|(?:y|o|con|mamas?|patr[oó]n|par[eé]nquima|tejido|densidad(?:es)?"
    r"|composici[oó]n|seg[uú]n|bilateral(?:es|mente)?|en\s+ambas|acr|bi-?rads|categor[ií]a|tipo"
    r"|de\s+(?:la\s+)?(?:densidad|escala|clasificaci[oó]n|acr|bi-?rads)|del\s+(?:acr|bi-?rads))\b))"
)
_KEY = r"(?:acr|bi[\s-]?rads®?|densidad(?:es)?|dens\.|composici[oó]n|tipo|categor[ií]a|cat\.|patr[oó]n|clase)"
_FILL = (
    r"(?:[ \t:=(\-–'\"‘’“”]+"
    r"|\b(?:de|la|el|del|mamaria|mamario|mamarias|glandular|parenquimatosa|tipo|categor[ií]a"
    r"|patr[oó]n|densidad|composici[oó]n|acr|bi[\s-]?rads|clase|grado|es)\b)"
)
_RANGE = r"[ \t]*(?:[/\-–]|[ \t](?:o|a|y)[ \t])[ \t]*"
_NUM_KEY = r"(?:acr|densidad(?:es)?|dens\.)"

# Spanish adjectives follow the noun, so a lesion is excluded by the distractors ("nódulo muy denso");
# this lookahead covers the rarer order "densa imagen nodular".
_NOT_LESION = (
    r"(?![ \t]+(?:n[oó]dulos?|masas?|lesi[oó]n(?:es)?|(?:micro)?calcificaci[oó]n(?:es)?|opacidad(?:es)?"
    r"|focos?|ganglios?|quistes?|im[aá]gen(?:es)?|formaci[oó]n(?:es)?|[aá]reas?|estructuras?))"
)
_FAT = r"(?:grasas?|grasos?|adiposas?|adiposos?|lipomatos[oa]s?)"
# "compuestas casi en su totalidad por tejido graso"
_OF_TISSUE = rf"{_S}(?:(?:por|de){_S}(?:(?:tejido|componente){_S})?)?"
_FIBRO = rf"(?:{fuzzy('fibroglandular')}(?:es)?|glandular(?:es)?|fg)"
_DISPERSED = rf"(?:{fuzzy('dispersas')}|{fuzzy('dispersos')}|dispers[oa]|aislad[oa]s?|diseminad[oa]s?)"
_DENSE = r"(?:dens[oa]s?)"
_HETERO_ADV = rf"(?:{fuzzy('heterogéneamente')}|{fuzzy('heterogeneamente')}|heterog\.?)"
_HETERO_ADJ = (
    rf"(?:{fuzzy('heterogéneas')}|{fuzzy('heterogéneos')}|{fuzzy('heterogénea')}|{fuzzy('heterogéneo')})"
)

RULES = (
    Rule("code_letter", rf"\b{_KEY}(?:{_FILL}){{0,8}}?\b(?P<code>[a-d])\b{_AFTER}", anchored=True),
    Rule("code_number", rf"\b{_NUM_KEY}(?:{_FILL}){{0,8}}?\b(?P<code>[1-4])(?![.,]\d)\b{_AFTER}"),
    # a range ("C/D", "3-4") names two classes: the second letter makes the report a conflict
    Rule(
        "code_range", rf"\b{_KEY}(?:{_FILL}){{0,8}}?\b[a-d]{_RANGE}(?P<code>[a-d])\b{_AFTER}", anchored=True
    ),
    Rule("code_range", rf"\b{_NUM_KEY}(?:{_FILL}){{0,8}}?\b[1-4]{_RANGE}(?P<code>[1-4])\b{_AFTER}"),
    Rule("code_roman", rf"\bacr(?:{_FILL}){{0,4}}?\b(?P<code>iv|iii|ii|i)\b{_AFTER}"),
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
    ),
    Rule(
        "desc_fatty_replaced",
        rf"\b(?:{fuzzy('involución')}|{fuzzy('involucion')}|{fuzzy('sustitución')}|{fuzzy('sustitucion')}"
        rf"|reemplazo|{fuzzy('transformación')}|{fuzzy('transformacion')}){_S}{_FAT}\b",
        "A",
    ),
    Rule(
        "desc_fatty_breasts",
        rf"\b(?:mamas?|par[eé]nquima|patr[oó]n)(?:{_S}mamari[oa]s?)?{_S}{_FAT}\b",
        "A",
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
    # D: extremadamente densa
    Rule(
        "desc_extremely_dense",
        rf"\b(?:{fuzzy('extremadamente')}|muy|sumamente|{fuzzy('extraordinariamente')}|altamente"
        rf"|{fuzzy('marcadamente')}){_S}{_DENSE}\b{_NOT_LESION}",
        "D",
    ),
    Rule("desc_extreme_density", rf"\bdensidad{_S}(?:mamaria{_S})?extrema\b", "D"),
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
    r"(?<!densidad[\s:\-]{1,3})\b(?:categor[ií]a|cat\.)[\s:\-]*[0-6][abc]?\b(?![ \t]*de[ \t]+densidad)",
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
    other_headers=(
        r"indicaci[oó]n(?:es)?|motivo(?:\s+de\s+(?:consulta|estudio|exploraci[oó]n))?|antecedentes(?:\s+\w+)?"
        r"|historia\s+cl[ií]nica|datos\s+cl[ií]nicos|t[eé]cnica|comparaci[oó]n|recomendaci[oó]n(?:es)?"
    ),
    anchor=(
        r"mamas?|mamari[oa]s?|densidad(?:es)?|dens\.|dens[oa]s?|par[eé]nquima|composici[oó]n|acr|bi[\s-]?rads"
        r"|(?:fibro)?glandular(?:es)?|tejido|mamogr[aá]fic[oa]s?|grasas?|adiposas?"
    ),
)


def extract_es(text: str) -> Extraction:
    """Density outcome of a Spanish report (hallazgos first)."""
    return extract(text, SPANISH)
