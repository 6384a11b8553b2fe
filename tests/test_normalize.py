"""Spanish normalisation: hand-made corruptions, protected tokens, change log, stage I/O, measured targets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from breast_density.cohort.reports import make_phi, make_report, report_vocabulary
from breast_density.params import Params
from breast_density.stages import normalize as stage
from breast_density.text.lexicon import default_lexicon, read_lexicon
from breast_density.text.normalize import normalize_reports, normalize_text
from breast_density.text.normalize_metrics import normalize_scores

LEX = default_lexicon()


@pytest.mark.parametrize(
    ("noisy", "expected"),
    [
        ("Mamas heterogeneamente densas.", "Mamas heterogéneamente densas."),
        ("Patron mamario de predomnio graso.", "Patrón mamario de predominio graso."),
        ("Densidad mamaria tipo C (ACR) .", "Densidad mamaria tipo C (ACR)."),
        ("Tejido fibroglandulr disperso en  ambas mamas.", "Tejido fibroglandular disperso en ambas mamas."),
        ("mAmas extremadamente densas", "mamas extremadamente densas"),
        ("Mamas extremadamenet densas,lo que disminuye la sensibilidad.",
         "Mamas extremadamente densas, lo que disminuye la sensibilidad."),
        ("HALLAZGOS:Nodulo isodenso en la mama derecha.", "HALLAZGOS: Nódulo isodenso en la mama derecha."),
        ("MAMAS HETEROGENEAMENTE DENSAS.", "MAMAS HETEROGÉNEAMENTE DENSAS."),
        ("Calcificaciones gorseras de aspecto beningo.", "Calcificaciones groseras de aspecto benigno."),
        ("Parénquima mamario con patrón heterogéneamente dneso.",
         "Parénquima mamario con patrón heterogéneamente denso."),
        ("Mamas con áreas dispresas de densidad fibroglandular.",
         "Mamas con áreas dispersas de densidad fibroglandular."),
        ("tejido grasi", "tejido graso"),  # gender agreement breaks the graso/grasa tie
        ("densidad grasi", "densidad grasa"),
        ("Mamografía\u00a0bilateral", "Mamografía bilateral"),
        ("Dens. mamaria tipo B. Nódulo en mama dcha. Sin cambios.",
         "Densidad mamaria tipo B. Nódulo en mama derecha. Sin cambios."),
        ("Nódulo en la mama izq. de 5 mm.", "Nódulo en la mama izquierda de 5 mm."),
    ],
)  # fmt: skip
def test_fixes_hand_made_corruptions(noisy, expected):
    fixed, changes = normalize_text(noisy, LEX)
    assert fixed == expected
    assert changes  # something was done, and logged


@pytest.mark.parametrize(
    "text",
    [
        "Paciente: [NOMBRE]. NHC: [NHC]. Fecha del estudio: [FECHA]. Ref: [ID].",
        "Nódulo de 1,5 cm a las 10:30 en la mama izquierda. BI-RADS 4a. BIRADS 3. Bi-Rads 2.",
        "No se observan nódulos ni microcalcificaciones. Sin alteraciones. Mama derecha y mama izquierda.",
        "Densidad ACR-d. Categoría b de densidad. ACR C. MLO y CC.",
        "Dr. Zubizarreta Goikoetxea, radiólogo.",  # unknown proper names stay as written
    ],
)
def test_clean_text_and_protected_tokens_are_left_alone(text):
    fixed, changes = normalize_text(text, LEX)
    assert fixed == text
    assert changes == []


def test_protected_tokens_survive_next_to_errors():
    text = "[NOMBRE]  nodulo isodneso de 12 mm en la mama izquirda,sin cambios. BI-RADS 2. [FECHA]."
    fixed, _ = normalize_text(text, LEX)
    assert fixed == "[NOMBRE] nódulo isodenso de 12 mm en la mama izquierda, sin cambios. BI-RADS 2. [FECHA]."
    # a protected word is never rewritten even when it looks like a typo of another word
    for word in ("derecho", "izquierdo", "ni", "no", "sin", "ambos"):
        assert normalize_text(f"mamas {word} densas", LEX)[0] == f"mamas {word} densas"


def _generated(n: int, seed: int, noise: float = 0.15) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        phi = make_phi(rng)
        r = make_report(
            rng, "ABCD"[i % 4], phi, "20230415", text_noise=noise, has_statement=rng.random() > 0.17
        )
        # as after ingest: the name becomes placeholders (one per word keeps positions comparable)
        deid = " ".join(["[NOMBRE]"] * len(phi.name.split()))
        out.append((r.clean_es.replace(phi.name, deid), r.text.replace(phi.name, deid)))
    return out


def test_every_change_is_logged_and_normalisation_is_idempotent():
    for clean, noisy in _generated(60, 1, noise=0.3):
        fixed, changes = normalize_text(noisy, LEX)
        logged_words = [(c.original, c.corrected) for c in changes if c.rule != "spacing"]
        changed_words = [(a, b) for a, b in zip(noisy.split(), fixed.split(), strict=True) if a != b]
        assert changed_words == logged_words
        assert ("  " in noisy) == any(c.rule == "spacing" for c in changes)
        again, more = normalize_text(fixed, LEX)
        assert again == fixed and more == []
        assert normalize_text(clean, LEX) == (clean, [])


def test_measured_targets_on_generated_reports():
    pairs = _generated(200, 2)
    normalized = [normalize_text(noisy, LEX)[0] for _, noisy in pairs]
    scores = normalize_scores([c for c, _ in pairs], [n for _, n in pairs], normalized)
    assert scores["density_corrupted"] > 50
    assert scores["density_restored_rate"] >= 0.95
    assert scores["restored_rate"] >= 0.95
    assert scores["overcorrected_rate"] < 0.005


def test_normalize_scores_counts_and_alignment():
    clean = ["Mamas heterogéneamente densas sin cambios", "Paciente: Ana Ruiz Gil. Patrón graso."]
    noisy = ["Mamas heterogeneamente densas sin cambioss", "Paciente: Ana Ruiz Gil. Patrn graso."]
    normalized = ["Mamas heterogéneamente densas sin cambioss", "Paciente: [NOMBRE]. Patrón grasa."]
    s = normalize_scores(clean, noisy, normalized)
    assert (s["corrupted"], s["restored"]) == (3, 2)
    assert (s["density_corrupted"], s["density_restored"]) == (2, 2)  # heterogéneamente, patrón
    assert s["unaligned"] == 3  # the name, replaced by one placeholder, drops out
    assert s["uncorrupted"] == 5 and s["overcorrected"] == 1  # graso -> grasa
    same_length = normalize_scores(["NHC: 1234. Mamas"], ["NHC: 1234. Mamas"], ["NHC: [NHC]. Mamas"])
    assert (same_length["unaligned"], same_length["overcorrected"], same_length["uncorrupted"]) == (1, 0, 2)
    with pytest.raises(ValueError, match="parallel"):
        normalize_scores(clean, noisy, normalized[:1])


def test_lexicon_covers_the_report_vocabulary_and_flags_density_words():
    missing = sorted(w for w in report_vocabulary() if w not in LEX)
    assert missing == []
    assert {"densidad", "heterogéneamente", "graso", "fibroglandular", "patrón"} <= LEX.density
    assert "nódulo" not in LEX.density


def test_bad_lexicon_file_is_named(tmp_path):
    bad = tmp_path / "lex.tsv"
    bad.write_text("palabra\tfrecuencia\nmama\t3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lex\.tsv"):
        read_lexicon(bad)
    with pytest.raises(FileNotFoundError, match=r"missing\.tsv"):
        read_lexicon(tmp_path / "missing.tsv")


def test_stage_writes_reports_corrections_and_metrics(tmp_path):
    rows = [
        {"exam_id": "e1", "patient_id": "p1", "text": "Mamas heterogeneamente densas.", "given_label": ""},
        {"exam_id": "e2", "patient_id": "p2", "text": "", "given_label": "C"},
        {"exam_id": "e3", "patient_id": "p1", "text": "Patron  graso. BI-RADS 1.", "given_label": ""},
    ]
    src = tmp_path / "reports.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    metrics = stage.run(Params(), src, tmp_path / "out", tmp_path / "normalize.json")
    out = pd.read_csv(tmp_path / "out" / "reports.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["exam_id", "patient_id", "text", "given_label"]
    assert out["text"].tolist() == ["Mamas heterogéneamente densas.", "", "Patrón graso. BI-RADS 1."]
    assert out["given_label"].tolist() == ["", "C", ""]
    corrections = pd.read_csv(tmp_path / "out" / "corrections.csv", dtype=str, keep_default_na=False)
    assert list(corrections.columns) == ["exam_id", "original", "corrected", "rule"]
    assert sorted(corrections["rule"]) == ["accent", "accent", "spacing"]
    assert json.loads((tmp_path / "normalize.json").read_text()) == metrics
    assert metrics["reports_with_text"] == 2 and metrics["corrections"] == 3
    assert metrics["corrections_per_rule"] == {"accent": 2, "spacing": 1}


def test_stage_names_the_file_when_a_column_is_missing(tmp_path):
    src = tmp_path / "reports.csv"
    pd.DataFrame([{"exam_id": "e1", "report": "x"}]).to_csv(src, index=False)
    with pytest.raises(ValueError, match=r"reports\.csv.*missing column"):
        stage.run(Params(), src, tmp_path / "out", tmp_path / "m.json")
    assert not (tmp_path / "out").exists()


def _pyspellchecker_top_spanish(n: int) -> list[str]:
    """The n most frequent words of pyspellchecker's Spanish list: a different source than the corrector's
    own dictionary (wordfreq), so a word the corrector does not know would be rewritten and fail the test."""
    from spellchecker import SpellChecker

    freq = SpellChecker(language="es", distance=1).word_frequency.dictionary
    return [w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def test_no_correction_on_the_20000_most_frequent_spanish_words():
    words = _pyspellchecker_top_spanish(20_000)
    assert len(words) == 20_000
    changed = []
    for word in words:
        for form in (word, word.capitalize()):
            fixed, changes = normalize_text(form, LEX)
            if fixed != form or changes:
                changed.append((form, fixed))
    assert changed == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Densidad mamaria grado 2.", "Densidad mamaria grado 2."),  # 'grado' is Spanish: never 'graso'
        ("Predomina el tejido glandular.", "Predomina el tejido glandular."),  # not 'predominio'
        ("Patron graso.", "Patrón graso."),  # the accent of a lexicon word, far more frequent with it
        ("Mamas de predomnio graso.", "Mamas de predominio graso."),  # not a word: corrected
    ],
)
def test_real_spanish_words_are_left_alone(text, expected):
    assert normalize_text(text, LEX)[0] == expected


def test_errors_that_form_real_words_are_counted_apart():
    clean = ["Densidad mamaria grado 2 y mamas densas."]
    noisy = ["Densidad mamaria graso 2 y mamas dnesas."]
    normalized = [normalize_text(noisy[0], LEX)[0]]
    scores = normalize_scores(clean, noisy, normalized)
    assert scores["real_word_corrupted"] == 1 and scores["real_word_restored"] == 0
    assert scores["corrupted"] == 1 and scores["restored"] == 1 and scores["restored_rate"] == 1.0


def test_texts_that_are_not_spanish_reports_pass_unchanged():
    reports = pd.DataFrame(
        {
            "exam_id": ["e1", "e2", "e3"],
            "patient_id": ["p1", "p2", "p3"],
            "text": [
                "The breasts are heterogeneously dense, which may obscure small masses; no calcifications.",
                "\x00\x01\x02 binary",
                "Mamas heterogeneamente densas.",
            ],
            "given_label": ["", "", ""],
        }
    )
    out, log = normalize_reports(reports, LEX)
    assert out["text"].tolist()[:2] == reports["text"].tolist()[:2]
    assert out["text"].tolist()[2] == "Mamas heterogéneamente densas." and set(log["exam_id"]) == {"e3"}
