"""Language-independent engine for finding the breast-density statement in a report.

A language module (label_en, label_es) supplies the vocabulary as a `Language`: class rules (an ACR/BI-RADS
code or a descriptive phrase, each naming its rule), generic composition mentions without a class, distractor
patterns that are blanked out before matching (asymmetric density, isodense nodule, the BI-RADS assessment
category, ...), negation cues and section headers. The engine decides one outcome per report:

* ``labelled``         one BI-RADS density letter stated, not negated (per side: the two sides' letters,
                       combined by the ``sides`` option: ``densest`` as the BI-RADS atlas does, or
                       ``exclude``);
* ``unclear_conflict`` two different letters stated without sides telling them apart;
* ``unclear_range``    a range across categories ("C/D", "tipo 2-3", "between B and C", a percentage range);
* ``unclear_prior``    different letters in a comparison with a prior exam ("previously C, now B");
* ``sides_differ``     the sides differ and the ``sides`` option is ``exclude``;
* ``scale_enumeration`` the scale itself listed ("A, B, C y D", "de la A a la D") and no other statement;
* ``uncertain``        the only statement is a question ("¿densidad C?");
* ``negated``          a composition mention under a negation ("not extremely dense", "no dense tissue");
* ``unclear_generic``  density talked about without a class ("dense breasts" could be C or D);
* ``no_statement``     nothing about breast composition.

Quantity statements ("escasa cantidad de tejido fibroglandular", a percentage of glandular tissue) are weak
rules: they label alone, and yield to a descriptor or a code of the same sentence set. Conservative by
design: a wrong label costs more than an excluded report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import regex

FLAGS = regex.IGNORECASE | regex.MULTILINE

LABELLED = "labelled"
NO_STATEMENT = "no_statement"
CONFLICT = "unclear_conflict"
NEGATED = "negated"
GENERIC = "unclear_generic"
RANGE = "unclear_range"
PRIOR = "unclear_prior"
SIDES_DIFFER = "sides_differ"
ENUMERATION = "scale_enumeration"
UNCERTAIN = "uncertain"

# BI-RADS density codes as written in reports: letters (5th edition) and numbers / roman numerals (ACR 1-4).
_CODE_TO_LETTER = {"1": "A", "2": "B", "3": "C", "4": "D", "i": "A", "ii": "B", "iii": "C", "iv": "D",
                   "uno": "A", "dos": "B", "tres": "C", "cuatro": "D",
                   "one": "A", "two": "B", "three": "C", "four": "D"}  # fmt: skip
# A scale value written as a digit, a roman numeral or a number word (Spanish and English).
CODE_NUMBER = r"(?:[1-4](?![.,]\d)|iv|iii|ii|i|uno|dos|tres|cuatro|one|two|three|four)"

# Words of a statement may be joined by spaces, line breaks or hyphens ("fat-replaced", "ACR-d").
WORD_JOIN = r"[\s\-]+"


def code_end(words: str) -> str:
    """Lookahead that a density code ends its phrase: end of text, punctuation, or one of `words` (the
    language's own connectives and nouns), so "density a few mm" or "type 2 diabetes" is no code."""
    return r"(?=[ \t]*(?:\Z|[\n\r.,;:?!)\]/(\-–'\"‘’“”«»]" + "|(?:" + words + r")\b))"


_LETTERS = "ABCD"

# Words allowed between a negation cue and the mention it negates ("not considered extremely dense").
NEGATION_WINDOW = 5
# Percentage of fibroglandular tissue -> BI-RADS 4th edition quartiles, the only published percentage mapping:
# A < 25 %, B 25-50 %, C 51-75 %, D > 75 %. A single value is read as a real number, so 25 and 50 are B, 75 is
# C and anything above 75 is D. A range is open at both ends, because reports name the quartiles by their
# bounds ("50-75 %" is C, "25-50 %" is B); "about N %" widens N by APPROXIMATE_PERCENT on both sides.
APPROXIMATE_PERCENT = 5.0
_EPS = 1e-6


def quartile_letters(low: float, high: float) -> set[str]:
    """BI-RADS 4th-edition letters an interval [low, high] of fibroglandular percentage overlaps."""
    letters = set()
    if low < 25:
        letters.add("A")
    if low <= 50 and high >= 25:
        letters.add("B")
    if low <= 75 and high > 50:
        letters.add("C")
    if high > 75:
        letters.add("D")
    return letters


@dataclass(frozen=True)
class Options:
    """How statements are combined: per-side letters and percentages (label.sides, label.percent_edition)."""

    sides: str = "densest"  # densest | exclude
    percent_edition: int = 4  # 4: quartiles; 5: descriptive edition, a percentage names no class


DEFAULT_OPTIONS = Options()


def code_to_letter(code: str) -> str:
    """'c', 'C', '3', 'III' -> 'C' (BI-RADS density letter)."""
    code = code.strip().lower()
    if code.upper() in _LETTERS:
        return code.upper()
    if code in _CODE_TO_LETTER:
        return _CODE_TO_LETTER[code]
    raise ValueError(f"not a BI-RADS density code: {code!r}")


def fuzzy(word: str) -> str:
    """Regex for a word that tolerates typos in proportion to its length (letters only, not spaces).

    Short words stay exact: one edit turns 'dense' into 'tense' or 'sense'. The first two letters must be
    right (typos rarely hit them), which lets the matcher skip almost every position of a report at once.
    """
    n = len(word)
    errors = 0 if n < 7 else 1 if n < 11 else 2
    if not errors:
        return f"(?:{word})"
    return f"(?={word[:2]})(?:{word}){{e<={errors}:[[:alpha:]]}}"


@dataclass(frozen=True)
class Rule:
    """One way of stating the density. `letter` is fixed for descriptive wording; None means the pattern
    has a named group ``code`` holding an ACR/BI-RADS letter, number or roman numeral."""

    name: str
    pattern: str
    letter: str | None = None
    # Weak keys ("type C", "category b") count only in a sentence that is about the breast or its density;
    # 'strict' asks for a density word proper (a number after 'tipo' also names surgery or diabetes types).
    anchored: bool | str = False
    # Quantity statements: they yield to a descriptor or a code found elsewhere in the same text.
    weak: bool = False
    compiled: regex.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", regex.compile(self.pattern, FLAGS))


@dataclass(frozen=True)
class Language:
    name: str
    rules: tuple[Rule, ...]
    generic: tuple[str, ...]  # composition mentions that carry no class
    distractors: tuple[str, ...]  # other meanings of density words, blanked before matching
    negation_cues: frozenset[str]  # lower-case words
    scope_stoppers: frozenset[str]  # words after a cue that show it negates something else ("no change in")
    findings_headers: str  # regex alternation of section names whose text is searched first
    fallback_headers: str  # sections searched when the findings say nothing (impression, conclusion)
    other_headers: str  # sections never searched (indication, history, technique, ...)
    anchor: str  # words that put a sentence about the breast composition (breast, density, ACR, ...)
    strict_anchor: str = r"$^"  # density words proper, for the 'strict' rules
    right: str = r"$^"  # laterality words
    left: str = r"$^"
    both: str = r"$^"  # words naming both breasts, which end a side's scope
    prior: str = r"$^"  # words of a comparison with a prior exam
    current: str = (
        r"$^"  # words saying a clause is about this exam, or unchanged ("actualmente", "sin cambios")
    )
    other_scales: str = r"$^"  # sentences naming another density scale (Tabár, Wolfe) are ignored
    percent_tissue: str = r"$^"  # the tissue a percentage must be about
    percent_fat: str = r"$^"  # a percentage of fat is not a percentage of fibroglandular tissue
    percent_below: str = r"$^"
    percent_upto: str = r"$^"
    percent_above: str = r"$^"
    percent_approx: str = r"$^"
    percent_between: str = r"$^"  # 'entre', 'del', 'between', 'from'
    percent_and: str = r"$^"  # 'y', 'al', 'and', 'to'
    _generic: tuple[regex.Pattern, ...] = field(init=False, repr=False, compare=False)
    _anchor: regex.Pattern = field(init=False, repr=False, compare=False)
    _distractors: tuple[regex.Pattern, ...] = field(init=False, repr=False, compare=False)
    _header: regex.Pattern = field(init=False, repr=False, compare=False)
    _strict: regex.Pattern = field(init=False, repr=False, compare=False)
    _sides: regex.Pattern = field(init=False, repr=False, compare=False)
    _prior: regex.Pattern = field(init=False, repr=False, compare=False)
    _current: regex.Pattern = field(init=False, repr=False, compare=False)
    _other_scales: regex.Pattern = field(init=False, repr=False, compare=False)
    _percent: regex.Pattern = field(init=False, repr=False, compare=False)
    _percent_about: regex.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_generic", tuple(regex.compile(p, FLAGS) for p in self.generic))
        object.__setattr__(self, "_strict", regex.compile(rf"\b(?:{self.strict_anchor})(?!\w)", FLAGS))
        object.__setattr__(
            self,
            "_sides",
            regex.compile(
                rf"\b(?:(?P<right>{self.right})|(?P<left>{self.left})|(?P<both>{self.both}))(?!\w)", FLAGS
            ),
        )
        object.__setattr__(self, "_prior", regex.compile(rf"\b(?:{self.prior})\b", FLAGS))
        object.__setattr__(self, "_current", regex.compile(rf"\b(?:{self.current})\b", FLAGS))
        object.__setattr__(self, "_other_scales", regex.compile(rf"\b(?:{self.other_scales})\b", FLAGS))
        num = r"(?:\d{1,3}(?:[.,]\d+)?)"
        pct = r"[ \t]*(?:%|por[ \t]*ciento|per[ \t]*cent|percent)"
        art = r"(?:[ \t]+(?:el|la|un|una|the|an?))?"
        value = (
            rf"(?:(?P<between>{self.percent_between}){art}[ \t]*(?P<lo>{num})(?:{pct})?[ \t]*"
            rf"(?:{self.percent_and}|[-–])(?:{art}[ \t]+|[ \t]*)(?P<hi>{num}){pct}"
            rf"|(?P<lo2>{num})(?:{pct})?[ \t]*[-–][ \t]*(?P<hi2>{num}){pct}"
            rf"|(?:(?P<below>{self.percent_below})|(?P<upto>{self.percent_upto})|(?P<above>{self.percent_above})"
            rf"|(?P<approx>{self.percent_approx}))?{art}[ \t]*(?P<value>{num}){pct})"
        )
        object.__setattr__(self, "_percent", regex.compile(rf"(?<![\w.,])(?:{value})", FLAGS))
        object.__setattr__(
            self,
            "_percent_about",
            regex.compile(rf"\b(?:{self.percent_tissue})\b(?![ \t]+(?:{self.percent_fat})\b)", FLAGS),
        )
        object.__setattr__(self, "_distractors", tuple(regex.compile(p, FLAGS) for p in self.distractors))
        object.__setattr__(self, "_anchor", regex.compile(rf"\b(?:{self.anchor})(?!\w)", FLAGS))
        names = (
            f"(?P<findings>{self.findings_headers})|(?P<fallback>{self.fallback_headers})"
            f"|(?P<other>{self.other_headers})"
        )
        # A header opens a line (optionally alone on it) or follows a sentence end, and ends with a colon
        # unless it stands alone on its line: "HALLAZGOS:", "Findings -", "IMPRESSION". One qualifying word
        # may stand on either side ("MAMMOGRAPHIC FINDINGS:", "HALLAZGOS MAMOGRÁFICOS:").
        word = r"[[:alpha:]]+[ \t]+"
        header = (
            rf"(?:^|(?<=[.\n]))[ \t]*(?:{word})??(?:{names})(?:[ \t]+[[:alpha:]]+)??"
            r"[ \t]*(?::|-(?=[ \t])|(?=[ \t]*$))"
        )
        object.__setattr__(self, "_header", regex.compile(header, FLAGS))


@dataclass(frozen=True)
class Mention:
    letter: str | None  # None for a generic composition mention
    rule: str
    span: str
    start: int
    end: int
    negated: bool
    side: str = ""  # 'right', 'left' or '' (both or not said)
    weak: bool = False
    question: bool = False
    prior: bool = False  # its clause is about a prior exam ("tipo C en el estudio previo")


@dataclass(frozen=True)
class Extraction:
    status: str
    letter: str | None = None
    rule: str = ""
    span: str = ""
    mentions: tuple[Mention, ...] = ()
    right: str | None = None  # per-side letters when the text states them
    left: str | None = None

    @property
    def labelled(self) -> bool:
        return self.status == LABELLED


def _blank(text: str, patterns: tuple[regex.Pattern, ...]) -> str:
    """Replace every distractor match by spaces (newlines kept) so offsets stay valid for the spans."""
    chars = list(text)
    for pattern in patterns:
        for m in pattern.finditer(text):
            for i in range(m.start(), m.end()):
                if chars[i] != "\n":
                    chars[i] = " "
    return "".join(chars)


_WORD = regex.compile(r"[[:alpha:]]+")
_SENTENCE_END = regex.compile(r"[.!?;\n]\s|\n")


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """Bounds of the sentence around text[start:end]."""
    left = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        left = m.end()
    right = _SENTENCE_END.search(text, end)
    return left, right.start() if right else len(text)


_CLAUSE_END = regex.compile(r"[.;:!?,\n()]|\b(?:but|pero|aunque|although|however)\b", FLAGS)


_NOT_NEGATING = frozenset({"apenas"})


def _is_negated(text: str, start: int, end: int, language: Language) -> bool:
    # A cue inside the mention negates it too: Spanish puts it between noun and adjective ("mamas no densas").
    # "sin apenas" / "hardly any" is a quantity, not a negation.
    inside = [w.lower() for w in _WORD.findall(text[start:end])]
    if any(
        w in language.negation_cues and nxt not in _NOT_NEGATING
        for w, nxt in zip(inside, [*inside[1:], ""], strict=True)
    ):
        return True
    clause_start = 0
    for m in _CLAUSE_END.finditer(text, 0, start):
        clause_start = m.end()
    words = [w.lower() for w in _WORD.findall(text[clause_start:start])]
    window = words[-(NEGATION_WINDOW + 1) :]
    for i in range(len(window) - 1, -1, -1):
        if window[i] in language.scope_stoppers:
            return False
        if window[i] in language.negation_cues:
            return True
    return False


def _blank_sentences(text: str, pattern: regex.Pattern) -> str:
    """Blank every sentence holding a match of `pattern` (another density scale, a listed scale)."""
    spans = [_sentence(text, m.start(), m.end()) for m in pattern.finditer(text)]
    chars = list(text)
    for a, b in spans:
        for i in range(a, b):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


# A listed scale: "A, B, C y D", "a, b, c, d", "de la A a la D" (three or more letters, or a span of three).
_ENUM_LETTER = r"(?:(?-i:A)|[b-dB-D])"
_ENUM_SEP = r"(?:[ \t:=]+[[:alpha:]]+){0,3}?[ \t]*(?:,|;|/|\by\b|\bo\b|\band\b|\bor\b|-)[ \t]*"
_ENUMERATION = regex.compile(
    rf"(?<![\w\-'])(?:{_ENUM_LETTER}(?:{_ENUM_SEP}{_ENUM_LETTER}(?![\w\-'])){{2,}}"
    r"|(?:de|desde|from)[ \t]+(?:la[ \t]+)?(?-i:A)[ \t]+(?:a|hasta|to)[ \t]+(?:la[ \t]+)?(?-i:[CD])"
    r"|(?:de|desde|from)[ \t]+(?:la[ \t]+)?(?-i:B)[ \t]+(?:a|hasta|to)[ \t]+(?:la[ \t]+)?(?-i:D))(?![\w\-'])",
    FLAGS,
)
_CLAUSE = regex.compile(r"[.;,!?\n(]")


def _side(text: str, start: int, end: int, language: Language) -> str:
    """'right'/'left' for the side a mention is about: the nearest laterality word before it in its sentence
    (it carries over clause breaks: "mama derecha: densidad B"; a plural "mamas" or "ambas" in between ends
    it), else one after it within its clause; '' when it names both breasts or none."""
    a, b = _sentence(text, start, end)
    before = list(language._sides.finditer(text, a, start))
    if before:
        last = before[-1]
        return "" if last.group("both") else ("right" if last.group("right") else "left")
    clause_end = _CLAUSE.search(text, end, b)
    after = language._sides.search(text, end, clause_end.start() if clause_end else b)
    if after is not None and not after.group("both"):
        return "right" if after.group("right") else "left"
    return ""


def _about_prior(text: str, start: int, end: int, language: Language) -> bool:
    """The clause of a mention names a prior exam and does not say the finding is current or unchanged."""
    a, b = _sentence(text, start, end)
    clause_start = a
    for m in _CLAUSE.finditer(text, a, start):
        clause_start = m.end()
    clause_end = _CLAUSE.search(text, end, b)
    clause = (clause_start, clause_end.start() if clause_end else b)
    return bool(language._prior.search(text, *clause)) and not language._current.search(text, *clause)


def _percent_mentions(text: str, work: str, language: Language, options: Options) -> list[Mention]:
    """One mention per sentence that gives a percentage of fibroglandular tissue: every bound of the sentence
    is intersected ("más del 50 %, sin superar el 75 %") and the interval mapped to the 4th-edition quartiles;
    under the 5th edition (descriptive only) the statement names no class."""
    out: list[Mention] = []
    seen: set[tuple[int, int]] = set()
    for m in language._percent.finditer(work):
        bounds = _sentence(work, m.start(), m.end())
        if bounds in seen:
            continue
        seen.add(bounds)
        a, b = bounds
        if not language._percent_about.search(work, a, b):
            continue
        low, high, first, last = 0.0, 100.0, None, None
        for p in language._percent.finditer(work, a, b):
            lo, hi = _percent_interval(p)
            low, high = max(low, lo), min(high, hi)
            first = p.start() if first is None else first
            last = p.end()
        if low > high or first is None:
            continue
        letters = quartile_letters(low, high)
        if options.percent_edition != 4:
            rule, letter = "percent", None
        elif len(letters) == 1:
            rule, letter = "percent_quartile", letters.pop()
        else:
            rule, letter = "percent_range", None
        out.append(Mention(letter, rule, text[first:last], first, last, False, weak=True))
    return out


def _percent_interval(m: regex.Match) -> tuple[float, float]:
    def num(name: str) -> float:
        return float(m.group(name).replace(",", "."))

    for lo, hi in (("lo", "hi"), ("lo2", "hi2")):
        if m.group(lo) is not None:
            return num(lo) + _EPS, num(hi) - _EPS
    v = num("value")
    if m.group("below"):
        return 0.0, v - _EPS
    if m.group("upto"):
        return 0.0, v
    if m.group("above"):
        return v + _EPS, 100.0
    if m.group("approx"):
        return v - APPROXIMATE_PERCENT, v + APPROXIMATE_PERCENT
    return v, v


def find_mentions(text: str, language: Language, options: Options = DEFAULT_OPTIONS) -> list[Mention]:
    """Every class and generic composition mention in `text`, distractors excluded, in text order.

    Listed scales come back as one mention with rule 'enumeration' (and their sentence is otherwise ignored).
    """
    work = _blank_sentences(_blank(text, language._distractors), language._other_scales)
    enumerations = [
        Mention(None, "enumeration", text[m.start() : m.end()], m.start(), m.end(), False)
        for m in _ENUMERATION.finditer(work)
    ]
    work = _blank_sentences(work, _ENUMERATION)
    mentions: list[Mention] = []
    for rule in language.rules:
        for m in rule.compiled.finditer(work):
            if rule.anchored:
                anchor = language._strict if rule.anchored == "strict" else language._anchor
                if not anchor.search(work, *_sentence(work, m.start(), m.end())):
                    continue
            letter = rule.letter or code_to_letter(m.group("code"))
            mentions.append(
                Mention(
                    letter, rule.name, text[m.start() : m.end()], m.start(), m.end(), False, weak=rule.weak
                )
            )
    mentions += _percent_mentions(text, work, language, options)
    for pattern in language._generic:
        for m in pattern.finditer(work):
            if any(c.start < m.end() and m.start() < c.end for c in mentions if c.letter):
                continue  # 'dense breasts' inside 'heterogeneously dense breasts'
            mentions.append(Mention(None, "generic", text[m.start() : m.end()], m.start(), m.end(), False))
    out = []
    for c in mentions:
        a, b = _sentence(work, c.start, c.end)
        question = "?" in work[a : min(b + 1, len(work))] or "¿" in work[a:b]
        negated = c.rule not in ("percent_quartile", "percent_range", "percent") and _is_negated(
            work, c.start, c.end, language
        )
        side = _side(work, c.start, c.end, language) if c.letter else ""
        prior = bool(c.letter) and _about_prior(work, c.start, c.end, language)
        out.append(Mention(c.letter, c.rule, c.span, c.start, c.end, negated, side, c.weak, question, prior))
    return sorted(out + enumerations, key=lambda c: (c.start, c.end))


_DENSER = {"A": 0, "B": 1, "C": 2, "D": 3}


def decide(mentions: list[Mention], options: Options = DEFAULT_OPTIONS, prior: bool = False) -> Extraction:
    """One outcome from a set of mentions (see the module docstring for the policy). `prior`: the text
    compares with a prior exam, which names the reason when letters differ."""
    found = tuple(mentions)
    classed = [c for c in found if c.letter]
    # "sin tejido denso" beside a fatty or scattered statement agrees with it; any other negation excludes.
    low_only = bool(classed) and all(c.letter in "AB" for c in classed if not c.negated)
    negated = [c for c in found if c.negated and (c.letter or not low_only)]
    if negated:
        return Extraction(NEGATED, None, negated[0].rule, negated[0].span, found)
    if any(c.rule in ("code_range", "percent_range") for c in found):
        first = next(c for c in found if c.rule in ("code_range", "percent_range"))
        return Extraction(RANGE, None, first.rule, first.span, found)
    strong = [c for c in classed if not c.weak]
    classed = strong or classed
    # a letter said of a prior exam yields to the current one; alone it says nothing about this exam
    current = [c for c in classed if not c.prior]
    if classed and not current:
        return Extraction(PRIOR, None, classed[0].rule, classed[0].span, found)
    classed = current
    if classed and all(c.question for c in classed):
        return Extraction(UNCERTAIN, None, classed[0].rule, classed[0].span, found)
    classed = [c for c in classed if not c.question]
    if len({c.letter for c in classed}) > 1:
        return _by_side(classed, found, options, prior)
    if classed:
        first = classed[0]
        right = first.letter if any(c.side == "right" for c in classed) else None
        left = first.letter if any(c.side == "left" for c in classed) else None
        return Extraction(LABELLED, first.letter, first.rule, first.span, found, right, left)
    if any(c.rule == "enumeration" for c in found):
        first = next(c for c in found if c.rule == "enumeration")
        return Extraction(ENUMERATION, None, "enumeration", first.span, found)
    generic = [c for c in found if c.rule != "enumeration"]
    if generic:
        return Extraction(GENERIC, None, generic[0].rule, generic[0].span, found)
    return Extraction(NO_STATEMENT)


def _by_side(classed: list[Mention], found: tuple, options: Options, prior: bool) -> Extraction:
    """Different letters: a label only when each side states one letter and nothing unsided disagrees."""
    rule = "+".join(sorted({c.rule for c in classed}))
    per_side = {s: {c.letter for c in classed if c.side == s} for s in ("right", "left", "")}
    one_each = len(per_side["right"]) == 1 and len(per_side["left"]) == 1
    if not one_each or per_side[""]:
        return Extraction(PRIOR if prior else CONFLICT, None, rule, "", found)
    right, left = next(iter(per_side["right"])), next(iter(per_side["left"]))
    if options.sides == "exclude":
        return Extraction(SIDES_DIFFER, None, rule, "", found, right, left)
    densest = max((right, left), key=_DENSER.get)
    first = next(c for c in classed if c.letter == densest)
    return Extraction(LABELLED, densest, first.rule, first.span, found, right, left)


def sections(text: str, language: Language) -> dict[str, list[tuple[int, int]]]:
    """Character ranges of the report's sections by kind: findings, fallback, other, and the untitled
    preamble before the first header. Empty dict when the report has no recognised header."""
    headers = list(language._header.finditer(text))
    if not headers:
        return {}
    out: dict[str, list[tuple[int, int]]] = {"preamble": [(0, headers[0].start())]}
    for i, h in enumerate(headers):
        kind = next(k for k in ("findings", "fallback", "other") if h.group(k))
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        out.setdefault(kind, []).append((h.end(), end))
    return out


def extract(text: str, language: Language, options: Options = DEFAULT_OPTIONS) -> Extraction:
    """The density outcome of one report: findings section first, then impression/conclusion (and untitled
    text) when the findings state no class; the whole text when the report has no section headers.
    Indication and history sections are never read (they quote prior reports and reasons for the exam)."""
    text = text or ""
    parts = sections(text, language)
    mentions = find_mentions(text, language, options)
    if not parts:
        return decide(mentions, options, bool(language._prior.search(text)))

    # Mentions are found on the whole text (so clause boundaries and spans are right), then kept by section.
    def within(kinds: tuple[str, ...]) -> tuple[list[Mention], bool]:
        ranges = [r for k in kinds for r in parts.get(k, [])]
        prior = any(language._prior.search(text, a, b) for a, b in ranges)
        return [c for c in mentions if any(a <= c.start < b for a, b in ranges)], prior

    findings, prior = within(("findings",))
    if "findings" in parts and any(c.letter for c in findings):
        return decide(findings, options, prior)
    rest, prior = within(("findings", "fallback", "preamble"))
    return decide(rest, options, prior)
