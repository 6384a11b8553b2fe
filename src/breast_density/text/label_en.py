"""English vocabulary of the density statement (the primary extractor, run on the translated findings)."""

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

# A code must end the phrase: "density a few mm" and "type 2 diabetes" are not density codes.
_AFTER = code_end(
    r"and|or|with|which|that|breasts?|pattern|parenchyma|tissue|densit(?:y|ies)|(?:of|out\s+of)\s+(?:4|four)"
    r"|composition|according|bilateral(?:ly)?|in\s+both|on\s+both|acr|bi-?rads|category|type"
    r"|of\s+(?:the\s+)?(?:acr|bi-?rads|(?:breast\s+|mammary\s+)?(?:density|composition))"
)
_KEY = r"(?:acr|bi[\s-]?rads®?|densit(?:y|ies)|dens\.|composition|type|category|cat\.|pattern|class)"
_FILL = (
    r"(?:[ \t:=()\-–'\"‘’“”«»]+|\b(?:of|the|breast|breasts|mammary|parenchymal|glandular|tissue|acr"
    r"|bi[\s-]?rads|density|type|category|pattern|composition|class|grade|is|are)\b)"
)
_RANGE = r"[ \t]*(?:[/\-–]|[ \t](?:or|to|and)[ \t])[ \t]*"
_NUM_KEY = r"(?:acr|densit(?:y|ies)|dens\.)"
# Scale words that name a density only in a sentence about density ("type 2" is also diabetes).
_SCALE_KEY = r"(?:type|pattern|grade|category|class|composition)"

# A descriptor that goes on to describe a lesion is not the breast composition ("a very dense mass").
_NOT_LESION = (
    r"(?![ \t]+(?:nodules?|mass(?:es)?|lesions?|(?:micro)?calcifications?|opacit(?:y|ies)|foc(?:us|i)"
    r"|areas?|nodes?|lymph|cysts?|formations?|images?|structures?|shadows?))"
)
_FAT = r"(?:fatty|fat|adipose|lipomatous)"
_DENSITY = r"densit(?:y|ies)"
_OF_TISSUE = rf"{_S}(?:of{_S}(?:the{_S})?)?"  # "composed almost entirely of fatty tissue"
_FIBRO = rf"(?:fibro-?glandular|{fuzzy('fibroglandular')}|glandular|fg)"
_HETERO = rf"(?:{fuzzy('heterogeneously')}|{fuzzy('heterogeneous')}|heterog\.?)"
_HOMO = rf"(?:{fuzzy('homogeneously')}|{fuzzy('homogeneous')}|{fuzzy('uniformly')}|uniform)"
_GLAND_PART = rf"(?:{_FIBRO}(?:{_S}(?:tissue|component|parenchyma|densit(?:y|ies)))?|dense{_S}tissue)"
_FAT_PART = rf"(?:{_FAT}(?:{_S}(?:tissue|component))?)"
_LOW = (
    rf"(?:(?:very{_S})?(?:little|scant|scanty|sparse|minimal|few)|(?:a{_S})?(?:small|minimal|scant){_S}amount"
    rf"{_S}of|hardly{_S}any)"
)
_HIGH = rf"(?:abundant|plenty{_S}of|(?:a{_S})?(?:large|great){_S}amount{_S}of|rich{_S}in)"
_WHOLE = (
    rf"(?:(?:almost|nearly|practically|virtually){_S})?(?:entirely|completely|totally|wholly|all|the{_S}whole"
    rf"(?:{_S}breast)?|in{_S}(?:its|their){_S}entirety)"
)

RULES = (
    # ACR / BI-RADS codes
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
    Rule("code_range", rf"\bbetween{_S}[a-d]{_S}and{_S}(?P<code>[a-d])\b{_AFTER}", anchored=True),
    Rule("code_letter_first", r"\b(?P<code>[a-d])-(?:type|pattern)\b", anchored=True),
    Rule("code_letter_first", r"\b(?P<code>[b-d])[ \t]+(?:type|pattern)\b(?![ \t]+of\b)", anchored=True),
    # A: almost entirely fatty
    Rule(
        "desc_entirely_fatty",
        rf"\b(?:(?:almost|nearly){_S})?(?:{fuzzy('entirely')}|{fuzzy('completely')}|totally|wholly)"
        rf"{_OF_TISSUE}{_FAT}\b{_NOT_LESION}",
        "A",
    ),
    Rule(
        "desc_predominantly_fatty",
        rf"\b(?:{fuzzy('predominantly')}|{fuzzy('predominately')}|mostly|mainly|largely|primarily)"
        rf"{_OF_TISSUE}{_FAT}\b{_NOT_LESION}",
        "A",
    ),
    Rule(
        "desc_fatty_replaced", rf"\b{_FAT}{_S}(?:replaced|replacement|{fuzzy('involuted')}|involution)\b", "A"
    ),
    Rule(
        "desc_fatty_breasts",
        rf"\b{_FAT}{_S}(?:breasts?(?:{_S}(?:parenchyma|pattern|composition))?|parenchyma|(?:mammary{_S})?pattern"
        r"|composition)\b",
        "A",
    ),
    Rule(
        "desc_fatty_predominance",
        rf"\b(?:{fuzzy('predominance')}|{fuzzy('predominant')}){_S}(?:of{_S})?(?:the{_S})?{_FAT}\b"
        rf"|\b{_FAT}{_S}{fuzzy('predominance')}\b",
        "A",
        weak=True,
    ),
    Rule("desc_breasts_are_fatty", rf"\b(?:breasts?|parenchyma){_S}(?:are|is){_S}{_FAT}\b{_NOT_LESION}", "A"),
    # B: scattered areas of fibroglandular density
    Rule(
        "desc_scattered_fibroglandular",
        rf"\b(?:{fuzzy('scattered')}|dispersed|isolated){_S}(?:areas?{_S}of{_S})?"
        rf"{_FIBRO}(?:{_S}(?:{_DENSITY}|tissue|parenchyma|elements?))?\b"
        rf"|\b{fuzzy('scattered')}{_S}(?:areas?{_S}of{_S})?{_DENSITY}\b",
        "B",
    ),
    Rule(
        "desc_fibroglandular_scattered",
        rf"\b{_FIBRO}{_S}(?:{_DENSITY}|tissue|elements?|areas?)(?:{_S}(?:are|is))?[\s:\-]+"
        rf"(?:{fuzzy('scattered')}|dispersed)\b",
        "B",
    ),
    # C: heterogeneously dense
    Rule("desc_heterogeneously_dense", rf"\b{_HETERO}{_S}(?:dense|dence)\b{_NOT_LESION}", "C"),
    Rule("desc_dense_heterogeneous", rf"\bdense{_S}(?:and{_S})?{_HETERO}\b{_NOT_LESION}", "C"),
    Rule("desc_heterogeneous_density", rf"\b{_HETERO}{_S}(?:{_FIBRO}{_S})?{_DENSITY}\b{_NOT_LESION}", "C"),
    # D: extremely dense
    Rule(
        "desc_extremely_dense",
        rf"\b(?:{fuzzy('extremely')}|very|highly|markedly|exceedingly|{fuzzy('extraordinarily')})"
        rf"{_S}(?:dense|dence)\b{_NOT_LESION}",
        "D",
    ),
    Rule("desc_extreme_density", rf"\bextreme{_S}{_DENSITY}\b{_NOT_LESION}", "D"),
    Rule(
        "desc_homogeneously_dense",
        rf"\b{_HOMO}{_S}dense\b{_NOT_LESION}|\bdense{_S}(?:and{_S})?{_HOMO}\b",
        "D",
    ),
    Rule(
        "desc_heterogeneously_dense",
        rf"\bdense{_S}(?:of|with|in){_S}(?:a{_S})?{_HETERO}{_S}(?:pattern|distribution|appearance)\b",
        "C",
    ),
    # quantities (weak): little fibroglandular tissue or plenty of fat is A; gland filling the breast is D
    Rule("quantity_low_gland", rf"\b{_LOW}{_S}{_GLAND_PART}\b", "A", weak=True),
    Rule(
        "quantity_high_fat",
        rf"(?<!{_FIBRO}[^.;\n]*)\b{_HIGH}{_S}{_FAT_PART}\b(?![^.;\n]*{_FIBRO})",
        "A",
        weak=True,
    ),
    Rule(
        "quantity_whole_gland",
        rf"\b{_WHOLE}{_S}(?:occupied|filled|replaced|composed|made{_S}up){_S}(?:by|of|with){_S}{_GLAND_PART}\b"
        rf"|\b(?:occupied|filled|composed|made{_S}up){_S}{_WHOLE}{_S}(?:by|of|with){_S}{_GLAND_PART}\b",
        "D",
        weak=True,
    ),
    Rule(
        "quantity_predominance",
        rf"\b(?:{fuzzy('predominance')}|{fuzzy('prevalence')}){_S}of{_S}(?:the{_S})?{_GLAND_PART}{_S}over{_S}"
        rf"(?:the{_S})?{_FAT_PART}\b|\b{_GLAND_PART}{_S}(?:predominates|prevails){_S}(?:\w+{_S})?over{_S}"
        rf"(?:the{_S})?{_FAT_PART}\b|\b(?:predominates|prevails){_S}(?:the{_S})?{_GLAND_PART}{_S}over{_S}(?:the{_S})?{_FAT_PART}\b",
        "C",
        weak=True,
    ),
    Rule(
        "quantity_predominance",
        rf"\b{_FAT_PART}{_S}(?:predominates|prevails){_S}(?:\w+{_S})?over{_S}(?:the{_S})?{_GLAND_PART}\b",
        "A",
        weak=True,
    ),
)

GENERIC = (
    rf"\bdense{_S}(?:breasts?(?:{_S}(?:tissue|parenchyma))?|parenchyma|(?:fibro)?glandular{_S}tissue|tissue)\b",
    rf"\b(?:breasts?|parenchyma|breast{_S}tissue)(?:{_S}(?:are|is))?{_S}(?:not{_S}(?:very{_S})?)?dense\b",
    rf"\b(?:breast|mammary){_S}(?:density|composition)\b",
)

DISTRACTORS = (
    # asymmetries are findings, not composition
    rf"\b(?:(?:focal|global|developing|new){_S})?asymmetr(?:ic|ical|y|ies)(?:{_S}(?:focal{_S})?{_DENSITY})?\b",
    # attenuation of a lesion: isodense, hyperdense, fat density, soft-tissue density
    rf"\b(?:iso|hyper|hypo){_S}?dens(?:e|ity|ities)\b",
    rf"\b(?:high|low|equal|fat|water|soft{_S}tissue|fluid|calcific|metallic){_S}(?:dens(?:e|ity|ities))\b",
    rf"\b(?:nodules?|mass(?:es)?|lesions?|cysts?|nodes?|calcifications?|opacit(?:y|ies))"
    rf"(?:{_S}(?:that|which))?{_S}(?:is|are|appears?|seems?){_S}(?:\w+{_S})?dense\b",
    # a lesion noun, then its adjectives: word-by-word translation keeps that order ("image very dense")
    rf"\b(?:nodules?|mass(?:es)?|lesions?|images?|opacit(?:y|ies)|foci|focus|cysts?)(?:{_S}(?!and\b|with\b|in\b)"
    rf"[[:alpha:]]+){{0,2}}?{_S}(?:(?:very|extremely|highly|{_HETERO}){_S})?dense\b",
    rf"\b(?:nodules?|mass(?:es)?|lesions?|opacit(?:y|ies))(?:{_S}\w+){{0,2}}?{_S}of{_S}(?:\w+{_S}){{0,2}}?"
    rf"{_DENSITY}\b",
    # the BI-RADS assessment category (0-6, 4a-4c), never a density
    r"\b(?:acr[\s-]*)?bi[\s-]?rads®?(?:[\s:\-]|assessment|category|cat\.)*[0-6][abc]?\b",
    rf"(?<!{_DENSITY}[\s:\-]{{1,3}})\b(?:assessment|category|cat\.)[\s:\-]*[0-6][abc]?\b(?![ \t]*{_DENSITY})",
    # unchanged density says nothing about which class
    rf"\b(?:no|without){_S}(?:\w+{_S}){{0,2}}?changes?{_S}(?:in|of){_S}(?:the{_S})?(?:breast{_S}|mammary{_S})?"
    rf"{_DENSITY}\b",
    rf"\bincreased{_S}{_DENSITY}\b",
)

NEGATION_CUES = frozenset(
    {"no", "not", "non", "without", "neither", "nor", "absence", "absent", "negative", "isn", "aren", "wasn"}
)
SCOPE_STOPPERS = frozenset(
    {
        "in", "within", "on", "at", "change", "changes", "changed", "mass", "masses", "lesion", "lesions",
        "finding", "findings", "calcification", "calcifications", "nodule", "nodules", "malignancy",
    }
)  # fmt: skip

ENGLISH = Language(
    name="english",
    rules=RULES,
    generic=GENERIC,
    distractors=DISTRACTORS,
    negation_cues=NEGATION_CUES,
    scope_stoppers=SCOPE_STOPPERS,
    findings_headers=r"findings|description|report|results?",
    fallback_headers=r"impressions?|conclusions?|assessment|opinion|diagnosis|summary|comments?",
    other_headers=(
        r"indications?|clinical\s+(?:history|information|data|indication)|history|reason\s+for\s+(?:exam|study)"
        r"|technique|comparison|recommendations?|procedure"
    ),
    anchor=(
        r"breasts?|mammary|densit(?:y|ies)|dens\.|dense|parenchym(?:a|al)|composition|acr|bi[\s-]?rads"
        r"|(?:fibro)?glandular|tissue|mammogra\w*|fatty"
    ),
    strict_anchor=(
        r"densit(?:y|ies)|dens\.|dense|acr|bi[\s-]?rads|composition|pattern|parenchym(?:a|al)|(?:fibro)?glandular"
    ),
    right=r"right",
    left=r"left",
    both=r"both|bilateral(?:ly)?|breasts",
    prior=r"previous(?:ly)?|prior|earlier|before|\d+\s+years?\s+ago|in\s+(?:19|20)\d\d|were|had\s+been",
    current=(
        r"current(?:ly)?|now|today|present|unchanged|no\s+changes?|stable|similar|same|as\s+(?:in|on)|persists?"
        r"|compared|comparison"
    ),
    other_scales=r"tab[aá]r|wolfe|boyd",
    percent_tissue=r"(?:fibro)?glandular|dense\s+tissue|dense\s+parenchyma|breast\s+density|mammographic\s+density",
    percent_fat=r"fat|fatty|adipose",
    percent_below=r"(?:lower|less|fewer)\s+than|below|under|<|≤",
    percent_upto=r"up\s+to|not\s+(?:exceeding|more\s+than)|without\s+exceeding|at\s+most|<=",
    percent_above=r"(?:more|greater|higher)\s+than|above|over|exceeding|>|>=|≥",
    percent_approx=r"about|around|approximately|approx\.?|roughly|nearly|close\s+to|some|~|≈",
    percent_between=r"between|from",
    percent_and=r"and|to",
)


def extract_en(text: str, options: Options = DEFAULT_OPTIONS) -> Extraction:
    """Density outcome of an English report (findings first)."""
    return extract(text, ENGLISH, options)
