"""How well normalisation undoes known text errors: the figures the text audit reports.

Word positions are whitespace tokens. The noisy text has the same tokens as the clean one (the cohort's noise
never splits or merges words); the normalised text is aligned to the clean text with difflib, so tokens that
de-identification replaced (a three-word name -> [NOMBRE]) fall out of the counts instead of shifting them,
and so does any clean word whose normalised counterpart is a placeholder ('unaligned' counts both).
"""

from __future__ import annotations

import difflib
import re

import pandas as pd

from breast_density.text.lexicon import Lexicon, default_lexicon, strip_accents

_CORE = re.compile(r"[^\W\d_]+")
_PLACEHOLDER = re.compile(r"\[[A-ZÁÉÍÓÚÑ_]+\]")


def _aligned(clean: list[str], other: list[str]) -> dict[int, str]:
    """clean position -> token of `other` at the same place (equal runs and same-length replacements)."""
    if len(clean) == len(other):
        return dict(enumerate(other))
    out: dict[int, str] = {}
    matcher = difflib.SequenceMatcher(a=clean, b=other, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace") and i2 - i1 == j2 - j1:
            out.update({i1 + k: other[j1 + k] for k in range(i2 - i1)})
    return out


def normalize_scores(
    clean: list[str], noisy: list[str], normalized: list[str], lexicon: Lexicon | None = None
) -> dict:
    """Restoration and over-correction rates over parallel lists of report texts.

    A corrupted word is one whose noisy token differs from the clean token; it is restored when the
    normalised token equals the clean one. A corruption that spells another real Spanish word ('graso' typed
    for 'grado') cannot be found by a dictionary check: it is counted apart ('real_word_corrupted',
    'real_word_restored') and left out of the restoration rates. Density-relevant words are those whose
    lower-case letters form a word flagged `density` in the lexicon. Over-correction counts clean tokens
    that were not corrupted but come out of normalisation changed.
    """
    if not len(clean) == len(noisy) == len(normalized):
        raise ValueError(
            f"need parallel lists, got {len(clean)} clean, {len(noisy)} noisy, {len(normalized)} normalised"
        )
    lexicon = lexicon or default_lexicon()
    density = lexicon.density
    counts = dict.fromkeys(
        ["corrupted", "restored", "density_corrupted", "density_restored", "real_word_corrupted",
         "real_word_restored", "uncorrupted", "overcorrected", "unaligned"], 0)  # fmt: skip
    for c_text, n_text, z_text in zip(clean, noisy, normalized, strict=True):
        c_tok, n_tok, z_tok = c_text.split(), n_text.split(), z_text.split()
        if len(n_tok) != len(c_tok):
            raise ValueError(
                "a noisy text does not have the clean text's word count; positions are undefined"
            )
        # Words that de-identification replaced are not normalisation's doing: they drop out of the counts.
        z_map = {i: t for i, t in _aligned(c_tok, z_tok).items() if not _PLACEHOLDER.search(t)}
        counts["unaligned"] += len(c_tok) - len(z_map)
        for i, word in enumerate(c_tok):
            if i not in z_map:
                continue
            ok = z_map[i] == word
            if n_tok[i] != word and _real_word_error(word, n_tok[i], lexicon):
                counts["real_word_corrupted"] += 1
                counts["real_word_restored"] += ok
            elif n_tok[i] != word:
                relevant = any(m.lower() in density for m in _CORE.findall(word))
                counts["corrupted"] += 1
                counts["restored"] += ok
                counts["density_corrupted"] += relevant
                counts["density_restored"] += ok and relevant
            else:
                counts["uncorrupted"] += 1
                counts["overcorrected"] += not ok
    return {
        **counts,
        "restored_rate": _rate(counts["restored"], counts["corrupted"]),
        "density_restored_rate": _rate(counts["density_restored"], counts["density_corrupted"]),
        "overcorrected_rate": _rate(counts["overcorrected"], counts["uncorrupted"]),
    }


def _real_word_error(clean: str, noisy: str, lexicon: Lexicon) -> bool:
    """The corruption turned a word into another real Spanish word (case and accents aside)."""
    pairs = zip(_CORE.findall(clean.lower()), _CORE.findall(noisy.lower()), strict=False)
    return any(
        strip_accents(c) != strip_accents(n) and lexicon.is_spanish(n) and not lexicon.accent_of(n)
        for c, n in pairs
    )


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def correction_summary(reports: pd.DataFrame, corrections: pd.DataFrame) -> dict:
    """Corrections per report, overall and per rule (a combined rule 'case+spelling' counts for both)."""
    with_text = int((reports["text"].str.strip() != "").sum())
    per_exam = corrections.groupby("exam_id").size()
    rules: dict[str, int] = {}
    for rule, n in corrections["rule"].value_counts().items():
        for part in str(rule).split("+"):
            rules[part] = rules.get(part, 0) + int(n)
    return {
        "reports": len(reports),
        "reports_with_text": with_text,
        "reports_changed": int(per_exam.size),
        "corrections": len(corrections),
        "corrections_per_report": round(len(corrections) / with_text, 4) if with_text else 0.0,
        "max_corrections_in_a_report": int(per_exam.max()) if per_exam.size else 0,
        "corrections_per_rule": dict(sorted(rules.items())),
        "corrections_per_report_per_rule": {
            rule: round(n / with_text, 4) if with_text else 0.0 for rule, n in sorted(rules.items())
        },
    }
