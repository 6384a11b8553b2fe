"""Spanish screening mammography reports of the synthetic cohort, with their exact English reference.

A report has a PHI header line (never corrupted: it is machine-written in a real export), a title,
INDICACIÓN, optional TÉCNICA, HALLAZGOS (density statement, ordinary findings and distractors that use
density words in other senses) and IMPRESIÓN/CONCLUSIÓN with a BI-RADS assessment 1-3. Every random choice
comes from the generator passed in, so a report is a pure function of (rng state, arguments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from breast_density.cohort import report_templates as tpl
from breast_density.cohort.text_noise import inject_noise, split_core


@dataclass(frozen=True)
class PatientPHI:
    name: str  # fake Spanish full name
    record_number: str  # fake clinical history number (NHC)
    birth_date: str  # YYYYMMDD


@dataclass(frozen=True)
class SyntheticReport:
    text: str  # the exported Spanish report: noisy, contains PHI (name, NHC, exam date)
    clean_es: str  # the same report before noise injection (PHI included)
    reference_en: str  # reference English translation of clean_es
    has_statement: bool  # whether the report contains a usable density statement
    statement_form: str  # a key of FORM_WEIGHTS ('letter', 'tipo', ..., 'phrasing', 'per_side') or 'none'
    # injected errors: {word_index (in clean_es.split()), original, corrupted, kind}
    errors: list[dict] = field(default_factory=list)


DENSITY_LETTERS = tuple(tpl.PATTERN)


def make_phi(rng: np.random.Generator) -> PatientPHI:
    """A fake patient: given name + two surnames, a 6-8 digit NHC, a birth date of a screening-age woman."""
    given = tpl.GIVEN_NAMES[int(rng.integers(len(tpl.GIVEN_NAMES)))]
    first, second = rng.choice(len(tpl.SURNAMES), size=2, replace=False)
    nhc = str(int(rng.integers(10**5, 10**8)))
    year = int(rng.integers(1945, 1986))
    month = int(rng.integers(1, 13))
    day = int(rng.integers(1, 29))
    return PatientPHI(
        f"{given} {tpl.SURNAMES[first]} {tpl.SURNAMES[second]}", nhc, f"{year:04d}{month:02d}{day:02d}"
    )


def format_exam_date(exam_date: str) -> str:
    """YYYYMMDD (DICOM StudyDate) or an already formatted dd/mm/yyyy -> dd/mm/yyyy as written in reports."""
    if re.fullmatch(r"\d{8}", exam_date):
        return f"{exam_date[6:8]}/{exam_date[4:6]}/{exam_date[0:4]}"
    if re.fullmatch(r"\d{2}/\d{2}/\d{4}", exam_date):
        return exam_date
    raise ValueError(f"exam_date must be YYYYMMDD or dd/mm/yyyy, got {exam_date!r}")


def _pick(rng: np.random.Generator, options: tuple[tpl.Pair, ...]) -> tpl.Pair:
    weights = np.array([o.weight for o in options], dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))]


def _fill(pair: tpl.Pair, slots_es: dict[str, str], slots_en: dict[str, str]) -> tuple[str, str]:
    return pair.es.format(**slots_es), pair.en.format(**slots_en)


def _statement(rng: np.random.Generator, density: str) -> tuple[str, str, str]:
    forms = list(tpl.FORM_WEIGHTS)
    weights = np.array([tpl.FORM_WEIGHTS[f] for f in forms])
    form = forms[int(rng.choice(len(forms), p=weights / weights.sum()))]
    by_class = {"descriptive": tpl.DESCRIPTIVE, "phrasing": tpl.PHRASING}
    pool = by_class[form][density] if form in by_class else tpl.STATEMENTS[form]
    pair = _pick(rng, pool)
    pat, desc, word = tpl.PATTERN[density], tpl.DESCRIPTION[density], tpl.NUMBER_WORD[density]
    common = {"L": density, "l": density.lower(), "n": str(tpl.ACR_NUMBER[density])}
    es, en = _fill(
        pair,
        {**common, "pat": pat.es, "desc": desc.es, "w": word.es},
        {**common, "pat": pat.en, "Pat": pat.en[0].upper() + pat.en[1:], "desc": desc.en, "w": word.en},
    )
    return es, en, form


def _findings(rng: np.random.Generator) -> tuple[list[tuple[str, str]], int]:
    """1-3 ordinary findings or distractors (no repeats) and the BI-RADS assessment they imply."""
    count = int(rng.integers(1, 4))
    weights = np.array([f.weight for f in tpl.FINDINGS])
    chosen = rng.choice(len(tpl.FINDINGS), size=count, replace=False, p=weights / weights.sum())
    sentences, birads = [], 1
    for i in sorted(int(c) for c in chosen):
        finding = tpl.FINDINGS[i]
        side = tpl.SIDES[int(rng.integers(2))]
        mm = str(int(rng.integers(4, 15)))
        sentences.append(_fill(finding, {"side": side.es, "mm": mm}, {"side": side.en, "mm": mm}))
        birads = max(birads, finding.birads)
    return sentences, birads


def make_report(
    rng: np.random.Generator,
    density: str,
    phi: PatientPHI,
    exam_date: str,
    *,
    text_noise: float,
    has_statement: bool,
) -> SyntheticReport:
    """One exported report of BI-RADS density `density` ('A'..'D') with typing noise at rate `text_noise`.

    `exam_date` is YYYYMMDD (or dd/mm/yyyy); it is written dd/mm/yyyy in the header. `text_noise` is the
    probability that an eligible word (see text_noise.py) is corrupted.
    """
    if density not in tpl.PATTERN:
        raise ValueError(f"density must be one of {DENSITY_LETTERS}, got {density!r}")
    date = format_exam_date(exam_date)
    header = _fill(
        tpl.HEADER,
        {"name": phi.name, "nhc": phi.record_number, "date": date},
        {"name": phi.name, "nhc": phi.record_number, "date": date},
    )
    lines = [header, _fill(_pick(rng, tpl.TITLES), {}, {})]
    lines.append(_section("INDICACIÓN", "INDICATION", [_fill(_pick(rng, tpl.INDICATIONS), {}, {})]))
    if rng.random() < 0.5:
        lines.append(_section("TÉCNICA", "TECHNIQUE", [_fill(tpl.TECHNIQUE, {}, {})]))

    findings, birads = _findings(rng)
    if has_statement:
        es, en, form = _statement(rng, density)
        statement = [(es, en)]
    else:
        form = "none"
        absent = rng.random() < tpl.NO_STATEMENT_ABSENT_WEIGHT
        statement = [] if absent else [_fill(_pick(rng, tpl.NO_STATEMENT), {}, {})]
    # The density usually opens the findings; sometimes it comes after them, as some radiologists write it.
    body = statement + findings if rng.random() < 0.75 else findings + statement
    lines.append(_section("HALLAZGOS", "FINDINGS", body))

    title = _pick(rng, tpl.IMPRESSION_TITLES)
    conclusion = [
        _fill(_pick(rng, tpl.ASSESSMENTS[birads]), {}, {}),
        _fill(_pick(rng, tpl.RECOMMENDATIONS[birads]), {}, {}),
    ]
    lines.append(_section(title.es, title.en, conclusion))

    clean_es = "\n".join(es for es, _ in lines)
    reference_en = "\n".join(en for _, en in lines)
    header_words = set(range(len(header[0].split())))
    text, errors = inject_noise(
        clean_es, text_noise, rng, report_vocabulary(), protected_indices=header_words
    )
    return SyntheticReport(text, clean_es, reference_en, has_statement, form, errors)


def _section(title_es: str, title_en: str, sentences: list[tuple[str, str]]) -> tuple[str, str]:
    return (
        f"{title_es}: " + " ".join(es for es, _ in sentences),
        f"{title_en}: " + " ".join(en for _, en in sentences),
    )


@lru_cache(maxsize=1)
def report_vocabulary() -> frozenset[str]:
    """Every lower-case word the Spanish templates can produce (noise never turns one word into another)."""
    texts: list[str] = []
    groups = [tpl.STATEMENTS[f] for f in tpl.STATEMENTS] + list(tpl.DESCRIPTIVE.values())
    groups += [
        tpl.NO_STATEMENT,
        tpl.TITLES,
        tpl.INDICATIONS,
        (tpl.TECHNIQUE,),
        tpl.FINDINGS,
        tpl.IMPRESSION_TITLES,
    ]
    groups += list(tpl.ASSESSMENTS.values()) + list(tpl.RECOMMENDATIONS.values())
    groups += [tpl.SIDES, tuple(tpl.PATTERN.values()), tuple(tpl.DESCRIPTION.values()), (tpl.HEADER,)]
    for group in groups:
        texts.extend(p.es for p in group)
    texts += ["INDICACIÓN", "TÉCNICA", "HALLAZGOS"]
    words = set()
    for text in texts:
        for token in re.sub(r"\{\w+\}", " ", text).split():
            parts = split_core(token)
            if parts:
                words.add(parts[1].lower())
    return frozenset(words)
