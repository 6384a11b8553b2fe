"""Synthetic Spanish reports: determinism, noise rate and log, protected tokens, statements, PHI."""

from __future__ import annotations

import re

import numpy as np
import pytest

from breast_density.cohort import report_templates as tpl
from breast_density.cohort.reports import format_exam_date, make_phi, make_report, report_vocabulary
from breast_density.cohort.text_noise import PROTECTED_WORDS, is_eligible, split_core

LETTERS = list(tpl.PATTERN)


def _batch(seed: int, n: int, noise: float, statement_rate: float = 0.8) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        phi = make_phi(rng)
        report = make_report(
            rng,
            LETTERS[i % len(LETTERS)],
            phi,
            "20230415",
            text_noise=noise,
            has_statement=bool(rng.random() < statement_rate),
        )
        out.append((phi, report))
    return out


def test_same_seed_same_reports_and_different_seed_differs():
    a, b, c = _batch(3, 20, 0.15), _batch(3, 20, 0.15), _batch(4, 20, 0.15)
    assert [r for _, r in a] == [r for _, r in b]
    assert [p for p, _ in a] == [p for p, _ in b]
    assert [r.text for _, r in a] != [r.text for _, r in c]


def test_report_structure_header_sections_and_paired_reference():
    for phi, r in _batch(0, 40, 0.0):
        assert r.text == r.clean_es and r.errors == []
        es_lines, en_lines = r.clean_es.split("\n"), r.reference_en.split("\n")
        assert len(es_lines) == len(en_lines)
        assert (
            es_lines[0] == f"Paciente: {phi.name}. NHC: {phi.record_number}. Fecha del estudio: 15/04/2023."
        )
        assert phi.name in en_lines[0] and phi.record_number in en_lines[0]
        assert any(line.startswith("INDICACIÓN: ") for line in es_lines)
        assert any(line.startswith("HALLAZGOS: ") for line in es_lines)
        assert re.search(r"^(IMPRESIÓN|CONCLUSIÓN): .*BI-RADS [123]\.", r.clean_es, re.MULTILINE)
        assert re.search(
            r"^(IMPRESSION|CONCLUSION): .*BI-RADS (category )?[123]\.", r.reference_en, re.MULTILINE
        )


def test_noise_rate_matches_the_configured_rate():
    for rate in (0.05, 0.2):
        batch = _batch(1, 300, rate)
        eligible = 0
        for _, r in batch:
            header = len(r.clean_es.split("\n")[0].split())
            eligible += sum(is_eligible(t) for t in r.clean_es.split()[header:])
        errors = sum(len(r.errors) for _, r in batch)
        assert errors / eligible == pytest.approx(rate, abs=0.02)


def test_error_log_matches_the_texts_and_covers_every_kind():
    kinds = set()
    for _, r in _batch(2, 200, 0.3):
        clean, noisy = r.clean_es.split(), r.text.split()
        assert len(clean) == len(noisy)
        logged = {e["word_index"] for e in r.errors}
        for e in r.errors:
            kinds.add(e["kind"])
            assert clean[e["word_index"]] == e["original"]
            assert noisy[e["word_index"]] == e["corrupted"].strip()
            if e["kind"] == "spacing":
                assert e["corrupted"].startswith(" ") and e["corrupted"].strip() == e["original"]
            else:
                assert e["corrupted"] != e["original"]
        # no silent corruption: every differing word is logged
        assert {i for i, (c, n) in enumerate(zip(clean, noisy, strict=True)) if c != n} <= logged
    assert kinds == {"misspelling", "vowel", "drop", "duplicate", "accent", "spacing", "capital"}


def test_protected_tokens_are_never_corrupted():
    for phi, r in _batch(5, 150, 1.0):
        header = r.clean_es.split("\n")[0]
        assert r.text.split("\n")[0] == header  # PHI, date and record number untouched
        assert phi.name in r.text and phi.record_number in r.text
        for e in r.errors:
            word = e["original"]
            core = split_core(word)
            assert core is not None, word  # only alphabetic words are corrupted
            assert core[1].lower() not in PROTECTED_WORDS
            assert not any(ch.isdigit() for ch in word) and "BI-RADS" not in word
        for token in ("derecha", "izquierda", "BI-RADS"):
            assert r.clean_es.count(token) == r.text.count(token)
        assert re.findall(r"\d+", r.clean_es) == re.findall(r"\d+", r.text)
        assert re.findall(r"\b(?:no|sin|ni|No|Sin)\b", r.clean_es) == re.findall(
            r"\b(?:no|sin|ni|No|Sin)\b", r.text
        )


def test_noise_never_makes_a_real_word():
    vocabulary = report_vocabulary()
    for _, r in _batch(6, 200, 0.5):
        for e in r.errors:
            parts = split_core(e["corrupted"].strip())
            if e["kind"] not in ("spacing", "capital") and parts:
                assert parts[1].lower() not in vocabulary, e


def _statements(density: str) -> list[tuple[str, str]]:
    """Every statement sentence the generator can write for `density`, as (Spanish, English)."""
    pat, desc, word = tpl.PATTERN[density], tpl.DESCRIPTION[density], tpl.NUMBER_WORD[density]
    slots = {"L": density, "l": density.lower(), "n": str(tpl.ACR_NUMBER[density])}
    pairs = [p for group in tpl.STATEMENTS.values() for p in group]
    pairs += [*tpl.DESCRIPTIVE[density], *tpl.PHRASING[density]]
    return [
        (
            p.es.format(**slots, pat=pat.es, desc=desc.es, w=word.es),
            p.en.format(**slots, pat=pat.en, Pat=pat.en[0].upper() + pat.en[1:], desc=desc.en, w=word.en),
        )
        for p in pairs
    ]


def test_statement_present_exactly_when_requested():
    every = [es for d in LETTERS for es, _ in _statements(d)]
    forms = set()
    for _, r in _batch(7, 300, 0.0, statement_rate=0.5):
        findings = next(ln for ln in r.clean_es.split("\n") if ln.startswith("HALLAZGOS"))
        if r.has_statement:
            forms.add(r.statement_form)
            assert any(es in findings for es in every), findings
        else:
            assert r.statement_form == "none"
            assert not any(es in r.clean_es for es in every), r.clean_es
    assert forms == set(tpl.FORM_WEIGHTS)


@pytest.mark.parametrize("density", LETTERS)
def test_statement_names_the_requested_class(density):
    rng = np.random.default_rng(11)
    own = [en for _, en in _statements(density)]
    others = [en for d in LETTERS if d != density for _, en in _statements(d)]
    for _ in range(30):
        r = make_report(rng, density, make_phi(rng), "20230101", text_noise=0.0, has_statement=True)
        assert any(en in r.reference_en for en in own), r.reference_en
        assert not any(en in r.reference_en for en in others if en not in own), r.reference_en


def test_phi_formats_and_dates():
    rng = np.random.default_rng(0)
    for _ in range(50):
        phi = make_phi(rng)
        assert len(phi.name.split()) == 3
        assert re.fullmatch(r"\d{6,8}", phi.record_number)
        assert re.fullmatch(r"(19[4-8]\d)(0[1-9]|1[0-2])(0[1-9]|1\d|2[0-8])", phi.birth_date)
    assert format_exam_date("20230415") == "15/04/2023"
    assert format_exam_date("15/04/2023") == "15/04/2023"
    with pytest.raises(ValueError, match="exam_date"):
        format_exam_date("2023-04-15")
    with pytest.raises(ValueError, match="density"):
        make_report(rng, "E", make_phi(rng), "20230101", text_noise=0.1, has_statement=True)
