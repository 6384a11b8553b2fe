"""Language-independent engine for finding the breast-density statement in a report.

A language module (label_en, label_es) supplies the vocabulary as a `Language`: class rules (an ACR/BI-RADS
code or a descriptive phrase, each naming its rule), generic composition mentions without a class, distractor
patterns that are blanked out before matching (asymmetric density, isodense nodule, the BI-RADS assessment
category, ...), negation cues and section headers. The engine decides one outcome per report:

* ``labelled``         exactly one BI-RADS density letter stated, not negated;
* ``unclear_conflict`` two different letters stated (sides differ, comparison with a prior, pasted legend);
* ``negated``          a composition mention under a negation ("not extremely dense", "no dense tissue");
* ``unclear_generic``  density talked about without a class ("dense breasts" could be C or D);
* ``no_statement``     nothing about breast composition.

Conservative by design: a wrong label costs more than an excluded report.
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

# BI-RADS density codes as written in reports: letters (5th edition) and numbers / roman numerals (ACR 1-4).
_CODE_TO_LETTER = {"1": "A", "2": "B", "3": "C", "4": "D", "i": "A", "ii": "B", "iii": "C", "iv": "D"}
_LETTERS = "ABCD"

# Words allowed between a negation cue and the mention it negates ("not considered extremely dense").
NEGATION_WINDOW = 3


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
    # Weak keys ("type C", "category b") count only in a sentence that is about the breast or its density.
    anchored: bool = False
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
    _generic: tuple[regex.Pattern, ...] = field(init=False, repr=False, compare=False)
    _anchor: regex.Pattern = field(init=False, repr=False, compare=False)
    _distractors: tuple[regex.Pattern, ...] = field(init=False, repr=False, compare=False)
    _header: regex.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_generic", tuple(regex.compile(p, FLAGS) for p in self.generic))
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


@dataclass(frozen=True)
class Extraction:
    status: str
    letter: str | None = None
    rule: str = ""
    span: str = ""
    mentions: tuple[Mention, ...] = ()

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


def _is_negated(text: str, start: int, end: int, language: Language) -> bool:
    # A cue inside the mention negates it too: Spanish puts it between noun and adjective ("mamas no densas").
    if any(w.lower() in language.negation_cues for w in _WORD.findall(text[start:end])):
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


def find_mentions(text: str, language: Language) -> list[Mention]:
    """Every class and generic composition mention in `text`, distractors excluded, in text order."""
    work = _blank(text, language._distractors)
    mentions: list[Mention] = []
    for rule in language.rules:
        for m in rule.compiled.finditer(work):
            if rule.anchored and not language._anchor.search(work, *_sentence(work, m.start(), m.end())):
                continue
            letter = rule.letter or code_to_letter(m.group("code"))
            mentions.append(Mention(letter, rule.name, text[m.start() : m.end()], m.start(), m.end(), False))
    for pattern in language._generic:
        for m in pattern.finditer(work):
            if any(c.start < m.end() and m.start() < c.end for c in mentions if c.letter):
                continue  # 'dense breasts' inside 'heterogeneously dense breasts'
            mentions.append(Mention(None, "generic", text[m.start() : m.end()], m.start(), m.end(), False))
    mentions = [
        Mention(c.letter, c.rule, c.span, c.start, c.end, _is_negated(work, c.start, c.end, language))
        for c in mentions
    ]
    return sorted(mentions, key=lambda c: (c.start, c.end))


def decide(mentions: list[Mention]) -> Extraction:
    """One outcome from a set of mentions (see the module docstring for the policy)."""
    found = tuple(mentions)
    if any(c.negated for c in found):
        first = next(c for c in found if c.negated)
        return Extraction(NEGATED, None, first.rule, first.span, found)
    classed = [c for c in found if c.letter]
    letters = {c.letter for c in classed}
    if len(letters) > 1:
        return Extraction(CONFLICT, None, "+".join(sorted({c.rule for c in classed})), "", found)
    if classed:
        first = classed[0]
        return Extraction(LABELLED, first.letter, first.rule, first.span, found)
    if found:
        return Extraction(GENERIC, None, found[0].rule, found[0].span, found)
    return Extraction(NO_STATEMENT)


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


def extract(text: str, language: Language) -> Extraction:
    """The density outcome of one report: findings section first, then impression/conclusion (and untitled
    text) when the findings state no class; the whole text when the report has no section headers.
    Indication and history sections are never read (they quote prior reports and reasons for the exam)."""
    text = text or ""
    parts = sections(text, language)
    if not parts:
        return decide(find_mentions(text, language))
    # Mentions are found on the whole text (so clause boundaries and spans are right), then kept by section.
    mentions = find_mentions(text, language)

    def within(kinds: tuple[str, ...]) -> list[Mention]:
        ranges = [r for k in kinds for r in parts.get(k, [])]
        return [c for c in mentions if any(a <= c.start < b for a, b in ranges)]

    findings = within(("findings",))
    if "findings" in parts and any(c.letter for c in findings):
        return decide(findings)
    return decide(within(("findings", "fallback", "preamble")))
