"""Density extraction (English + Spanish), the disagreement policy, class mapping and the label stage."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from breast_density.cohort import report_templates as tpl
from breast_density.io import read_csv, write_csv
from breast_density.params import parse_params
from breast_density.stages.label import run
from breast_density.text.density_extraction import (
    CONFLICT,
    ENUMERATION,
    GENERIC,
    LABELLED,
    NEGATED,
    NO_STATEMENT,
    PRIOR,
    RANGE,
    SIDES_DIFFER,
    UNCERTAIN,
    Options,
)
from breast_density.text.label_en import extract_en
from breast_density.text.label_es import extract_es
from breast_density.text.labeling import (
    DISAGREE,
    REPORT_COLUMNS,
    UNKNOWN_GIVEN,
    UNMAPPED,
    class_mapper,
    combine,
)

# Hand-written phrasings that the cohort templates do not contain: other word orders, abbreviations, typos,
# all-capital reports, numbers and roman numerals, BI-RADS 5th-edition wording.
ENGLISH = [
    ("The breasts are almost entirely fatty.", "A"),
    ("Breasts are predominantly fatty; no suspicious mass.", "A"),
    ("FATTY REPLACED BREASTS BILATERALLY.", "A"),
    ("Fatty predominance in both breasts.", "A"),
    ("Breast composition: a.", "A"),
    ("ACR I breasts.", "A"),
    ("There are scattered areas of fibroglandular density.", "B"),
    ("Scattered fibroglandular densities are present bilaterally.", "B"),
    ("Fibroglandular tissue is scattered throughout both breasts.", "B"),
    ("category b density", "B"),
    ("Density: ACR 2.", "B"),
    ("BI-RADS density B. No masses.", "B"),
    ("The breast tissue is heterogeneously dense, which may obscure small masses.", "C"),
    ("heterogenously dense breasts", "C"),
    ("HETEROGENEOUSLY DENSE BREAST TISSUE.", "C"),
    ("Dense heterogeneous parenchyma.", "C"),
    ("Type C breasts.", "C"),
    ("Breast pattern: C-type.", "C"),
    ("Breast density type 3 (ACR).", "C"),
    ("Mammographic density: BI-RADS category C.", "C"),
    ("Dens. C", "C"),
    ("Breast density: category 'c'.", "C"),
    ("Fibroglandular density: scattered.", "B"),
    ("ACR-d", "D"),
    ("The breasts are extremely dense, which lowers the sensitivity of mammography.", "D"),
    ("Extremly dense breasts.", "D"),
    ("Very dense breast parenchyma.", "D"),
    ("ACR IV", "D"),
]
SPANISH = [
    ("Mamas de predominio adiposo.", "A"),
    ("Mamas casi totalmente grasas.", "A"),
    ("MAMAS CON INVOLUCIÓN ADIPOSA.", "A"),
    ("Patrón graso bilateral.", "A"),
    ("Densidad mamaria tipo a.", "A"),
    ("Categoría b de densidad.", "B"),
    ("Densidades fibroglandulares dispersas en ambas mamas.", "B"),
    ("Dispersas densidades fibroglandulares.", "B"),
    ("Densidad ACR 2.", "B"),
    ("Parénquima denso heterogéneo.", "C"),
    ("parenquima denso heterogeneo", "C"),
    ("Mamas heterogeneamente densas.", "C"),
    ("MAMAS HETEROGÉNEAMENTE DENSAS, LO QUE PUEDE OCULTAR NÓDULOS.", "C"),
    ("Densidad heterogénea.", "C"),
    ("Mamas tipo C.", "C"),
    ("Dens. mamaria tipo c", "C"),
    ("ACR-d", "D"),
    ("Mamas extremadamente densas.", "D"),
    ("Mamas muy densas.", "D"),
    ("Densidad mamaria: patrón D.", "D"),
    ("densidad mamaria grado 4", "D"),
    ("Densidad mamaria: tipo «C».", "C"),
    ("Densidad mamaria (clasificación ACR): B.", "B"),
    ("El parénquima muestra una densidad tipo D que disminuye la sensibilidad.", "D"),
]
# Density words in other senses: never a label.
ENGLISH_DISTRACTORS = [
    "Focal asymmetric density in the upper outer quadrant of the left breast.",
    "Isodense nodule of 6 mm in the right breast.",
    "Hyperdense nodular image, probably benign.",
    "A very dense mass in the left breast.",
    "No change in density compared with the previous study.",
    "Intramammary lymph node with a fatty hilum.",
    "Oil cyst of fat density.",
    "BI-RADS 2. BI-RADS category 3. BI-RADS 4b.",
    "Category 2: benign findings.",
    "There is a density a few millimetres behind the nipple.",
    "Type 2 diabetes. Density 1 cm from the skin.",
    "Patient type A.",  # 'type', 'category', 'pattern' count only in a sentence about the breast
    "Category B.",
    "Pattern of calcifications: B.",
]
SPANISH_DISTRACTORS = [
    "Densidad asimétrica en el cuadrante superoexterno de la mama derecha.",
    "Nódulo isodenso de 8 mm en la mama izquierda.",
    "Nódulo muy denso de márgenes circunscritos.",
    "Imagen nodular hiperdensa de 7 mm.",
    "Sin cambios de densidad respecto al estudio previo.",
    "Quiste oleoso de densidad grasa.",
    "Ganglio intramamario con hilio graso.",
    "Hallazgos benignos. BI-RADS 2. Categoría BI-RADS 4a.",
    "Densidad a nivel del cuadrante superoexterno.",
    "Paciente con mamoplastia tipo B.",
    "Diabetes tipo 2.",
]


@pytest.mark.parametrize(("text", "letter"), ENGLISH)
def test_english_phrasings(text: str, letter: str) -> None:
    result = extract_en(text)
    assert (result.status, result.letter) == (LABELLED, letter), result
    assert result.span and result.span in text and result.rule


@pytest.mark.parametrize(("text", "letter"), SPANISH)
def test_spanish_phrasings(text: str, letter: str) -> None:
    result = extract_es(text)
    assert (result.status, result.letter) == (LABELLED, letter), result
    assert result.span and result.span in text and result.rule


@pytest.mark.parametrize("text", ENGLISH_DISTRACTORS)
def test_english_distractors_give_no_label(text: str) -> None:
    assert extract_en(text).status == NO_STATEMENT


@pytest.mark.parametrize("text", SPANISH_DISTRACTORS)
def test_spanish_distractors_give_no_label(text: str) -> None:
    assert extract_es(text).status == NO_STATEMENT


@pytest.mark.parametrize(
    ("extract", "text", "status"),
    [
        (extract_en, "The breasts are not extremely dense.", NEGATED),
        (extract_en, "No dense tissue is seen.", NEGATED),
        (extract_en, "Breasts are not dense.", NEGATED),
        (extract_es, "Mamas no densas.", NEGATED),
        (extract_es, "Las mamas no son extremadamente densas.", NEGATED),
        (extract_es, "Sin tejido denso.", NEGATED),
        (extract_en, "Breast density C. Breast density D.", CONFLICT),
        (extract_es, "Densidad B. Densidad C.", CONFLICT),
        (extract_en, "Breast density type C/D.", RANGE),
        (extract_en, "ACR 3-4.", RANGE),
        (extract_es, "Densidad mamaria tipo b o c.", RANGE),
        (extract_es, "Densidad entre B y C.", RANGE),
        (extract_es, "Tejido fibroglandular entre el 40 y el 60 %.", RANGE),
        (extract_es, "La escala de densidad va de la A a la D.", ENUMERATION),
        (extract_es, "Las categorías de densidad de la ACR son A, B, C y D.", ENUMERATION),
        (
            extract_en,
            "ACR density categories: A fatty, B scattered, C heterogeneous, D extremely dense.",
            ENUMERATION,
        ),
        (extract_es, "En el estudio previo las mamas eran extremadamente densas.", PRIOR),
        (extract_es, "¿Mamas tipo D?", UNCERTAIN),
        (extract_en, "Dense breasts.", GENERIC),
        (extract_es, "Densidad mamaria no valorable por prótesis.", GENERIC),
        (extract_en, "No suspicious masses or calcifications.", NO_STATEMENT),
        (extract_en, "", NO_STATEMENT),
    ],
)
def test_negations_conflicts_and_vague_statements(extract, text: str, status: str) -> None:
    result = extract(text)
    assert result.status == status and result.letter is None


def test_sides_prior_exams_and_weak_quantities() -> None:
    both = "Mama derecha heterogéneamente densa; mama izquierda extremadamente densa."
    densest = extract_es(both)
    assert (densest.status, densest.letter, densest.right, densest.left) == (LABELLED, "D", "C", "D")
    assert extract_en("Right breast type C, left breast type D.").letter == "D"
    excluded = extract_es(both, Options(sides="exclude"))
    assert (excluded.status, excluded.letter, excluded.right, excluded.left) == (SIDES_DIFFER, None, "C", "D")
    one_side = extract_es("Mama izquierda con densidades fibroglandulares dispersas.")
    assert (one_side.letter, one_side.right, one_side.left) == ("B", None, "B")
    # the letter of a prior exam yields to the current one; "sin cambios" keeps a clause current
    assert extract_es("Densidad tipo C en el estudio previo, actualmente tipo B.").letter == "B"
    assert extract_en("Previously scattered fibroglandular density, now heterogeneously dense.").letter == "C"
    assert extract_es("Densidad C, sin cambios respecto al estudio previo.").letter == "C"
    # a quantity yields to a descriptor of the same text: fat predominates *with* scattered density is B
    assert extract_es("Predominio graso con áreas dispersas de densidad fibroglandular.").letter == "B"
    assert extract_es("Mamas grasas, sin tejido denso relevante.").letter == "A"
    assert extract_es("Mamas sin apenas tejido fibroglandular.").letter == "A"  # a quantity, not a negation
    assert extract_es("Sin tejido denso relevante salvo en los cuadrantes superiores.").letter is None


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("Tejido fibroglandular inferior al 25 %.", "A"),
        ("Menos del 25% de tejido glandular.", "A"),
        ("Tejido glandular entre el 25 y el 50 %.", "B"),  # 25 and 50 are B in the 4th edition
        ("En torno al 60 % de tejido glandular.", "C"),
        ("Más del 50 % de tejido fibroglandular, sin superar el 75 %.", "C"),
        ("Tejido fibroglandular del 75 %.", "C"),
        ("Más del 75 % de tejido fibroglandular.", "D"),
        ("Alrededor del 50 % de tejido glandular.", None),  # about 50: B or C
        ("Reducción del 30 % del tamaño del nódulo.", None),  # not the tissue
        ("Tejido graso del 80 %.", None),  # fat, not fibroglandular tissue
    ],
)
def test_percentages_map_to_fourth_edition_quartiles(text: str, letter: str | None) -> None:
    assert extract_es(text).letter == letter
    assert extract_es(text, Options(percent_edition=5)).letter is None


def test_scale_words_with_numbers_need_a_density_context() -> None:
    assert extract_es("Patrón tres.").letter == "C"
    assert extract_es("Categoría c de la ACR.").letter == "C"
    assert extract_es("Densidad mamaria grado cuatro.").letter == "D"
    assert extract_es("Tipo 1 de la clasificación ACR.").letter == "A"
    for text in (
        "Categoría 2 de BI-RADS.",
        "BI-RADS 1.",
        "Valoración final: categoría 1.",
        "Cirugía conservadora tipo 1 en la mama izquierda.",
        "Grado 2 de la clasificación de Tabár.",
    ):
        assert extract_es(text).letter is None, text  # fmt: skip


def test_negation_of_another_finding_does_not_negate_the_density() -> None:
    assert extract_en("No suspicious findings in the heterogeneously dense breasts.").letter == "C"
    assert extract_en("No masses; extremely dense breasts.").letter == "D"
    assert extract_es("Sin lesiones, mamas extremadamente densas.").letter == "D"


def test_findings_first_indication_ignored_impression_as_fallback() -> None:
    report = (
        "INDICATION: extremely dense breasts on the prior study.\n"
        "FINDINGS: Scattered fibroglandular densities. No masses.\n"
        "IMPRESSION: BI-RADS 2."
    )
    assert extract_en(report).letter == "B"
    fallback = "FINDINGS: No masses.\nIMPRESSION: Heterogeneously dense breasts. BI-RADS 1."
    assert extract_en(fallback).letter == "C"
    assert extract_en("INDICATION: dense breasts.\nFINDINGS: No masses.").status == NO_STATEMENT
    flat = "Indicación: cribado. Hallazgos: mamas de predominio graso. Conclusión: BI-RADS 1."
    assert extract_es(flat).letter == "A"
    qualified = (
        "ANTECEDENTES PERSONALES: mamas extremadamente densas.\n"
        "HALLAZGOS MAMOGRÁFICOS: Mamas de predominio graso.\nIMPRESIÓN DIAGNÓSTICA: BI-RADS 1."
    )
    assert extract_es(qualified).letter == "A"
    assert (
        extract_en("CLINICAL HISTORY: extremely dense breasts.\nMAMMOGRAPHIC FINDINGS: ACR B.").letter == "B"
    )


def _statements(letter: str) -> list[tuple[str, str]]:
    pat, desc = tpl.PATTERN[letter], tpl.DESCRIPTION[letter]
    slots = {"L": letter, "l": letter.lower(), "n": str(tpl.ACR_NUMBER[letter])}
    word = tpl.NUMBER_WORD[letter]
    pairs = [p for group in tpl.STATEMENTS.values() for p in group] + list(tpl.DESCRIPTIVE[letter])
    pairs += list(tpl.PHRASING[letter])
    return [
        (
            p.es.format(**slots, pat=pat.es, desc=desc.es, w=word.es),
            p.en.format(**slots, pat=pat.en, Pat=pat.en[0].upper() + pat.en[1:], desc=desc.en, w=word.en),
        )
        for p in pairs
    ]


@pytest.mark.parametrize("letter", list(tpl.PATTERN))
def test_every_cohort_statement_form_in_both_languages(letter: str) -> None:
    for es, en in _statements(letter):
        for variant in (str, str.upper, str.lower):
            assert extract_en(f"FINDINGS: {variant(en)}").letter == letter, en
            assert extract_es(f"HALLAZGOS: {variant(es)}").letter == letter, es


def test_no_cohort_distractor_or_assessment_gives_a_label() -> None:
    pairs = [f for f in tpl.FINDINGS] + list(tpl.NO_STATEMENT)
    pairs += [p for group in tpl.ASSESSMENTS.values() for p in group]
    for pair in pairs:
        for side_es, side_en in (("derecha", "right"), ("izquierda", "left")):
            assert extract_en(pair.en.format(side=side_en, mm="9")).letter is None, pair.en
            assert extract_es(pair.es.format(side=side_es, mm="9")).letter is None, pair.es


def test_disagreement_policy() -> None:
    c_en, d_es = extract_en("Breast type C."), extract_es("Mamas tipo D.")
    none_es = extract_es("Sin lesiones.")
    assert combine(c_en, d_es, "exclude") == DISAGREE
    assert combine(c_en, d_es, "english") == (c_en, "english")
    assert combine(c_en, d_es, "spanish") == (d_es, "spanish")
    assert combine(c_en, none_es, "exclude") == DISAGREE
    assert combine(c_en, none_es, "spanish") == NO_STATEMENT
    assert combine(c_en, extract_es("Mamas tipo C."), "exclude") == (c_en, "english")
    assert combine(extract_en("Dense breasts."), none_es, "exclude") == GENERIC
    # either: one side's letter stands when the other found nothing, never against a range or a negation
    assert combine(c_en, none_es, "either") == (c_en, "english")
    assert combine(c_en, d_es, "either") == DISAGREE
    assert combine(c_en, extract_es("Densidad tipo B o C."), "either") == RANGE


def test_class_mapping_from_params() -> None:
    to_class = class_mapper(["A", "B", "C", "D"], {})
    assert [to_class(x) for x in "ABCD"] == list("ABCD")
    binary = class_mapper(
        ["non-dense", "dense"], {"A": "non-dense", "B": "non-dense", "3": "dense", "density d": "dense"}
    )
    assert [binary(x) for x in "ABCD"] == ["non-dense", "non-dense", "dense", "dense"]
    assert binary("dense") == "dense"
    assert class_mapper(["fatty", "dense"], {"A": "fatty"})("C") is None


def _write_inputs(tmp_path, rows: list[dict], corrections: list[dict]):
    reports = tmp_path / "translate" / "reports.csv"
    write_csv(reports, pd.DataFrame(rows, columns=list(REPORT_COLUMNS)))
    corr = tmp_path / "normalize" / "corrections.csv"
    write_csv(corr, pd.DataFrame(corrections, columns=["exam_id", "original", "corrected", "rule"]))
    return reports, corr


def _row(exam: str, es: str, en: str, given: str = "") -> dict:
    return {"exam_id": exam, "patient_id": f"p{exam}", "text_es": es, "text_en": en, "given_label": given}


def test_label_stage_outputs_and_metrics(tmp_path) -> None:
    rows = [
        _row("e1", "HALLAZGOS: Mamas heterogéneamente densas.", "FINDINGS: Heterogeneously dense breasts."),
        _row("e2", "HALLAZGOS: Densidad mamaria tipo A.", "FINDINGS: Breast density type A."),
        _row("e3", "HALLAZGOS: Nódulo isodenso.", "FINDINGS: Isodense nodule."),
        _row("e4", "Mamas tipo C.", "Type D breasts."),
        _row("e5", "Mamas no densas.", "Breasts not dense."),
        _row("e6", "", "", given="B"),
        _row("e7", "", "", given="X"),
    ]
    corrections = [{"exam_id": "e1", "original": "densa", "corrected": "densas", "rule": "lexicon"}] * 3
    corrections.append({"exam_id": "e2", "original": "tipó", "corrected": "tipo", "rule": "accent"})
    reports, corr = _write_inputs(tmp_path, rows, corrections)
    out, metrics_path = tmp_path / "label", tmp_path / "metrics" / "label.json"
    metrics = run(parse_params({}), reports, corr, out, metrics_path)

    labels = read_csv(out / "labels.csv")
    assert list(labels.columns) == [
        "exam_id", "patient_id", "label", "source", "rule", "span", "label_right", "label_left"
    ]  # fmt: skip
    assert labels.set_index("exam_id")["label"].to_dict() == {"e1": "C", "e2": "A", "e6": "B"}
    assert labels.set_index("exam_id").loc["e6", "source"] == "given"
    assert labels.set_index("exam_id").loc["e1", "span"] == "Heterogeneously dense"
    excluded = read_csv(out / "excluded.csv").set_index("exam_id")["reason"].to_dict()
    assert excluded == {"e3": NO_STATEMENT, "e4": DISAGREE, "e5": NEGATED, "e7": UNKNOWN_GIVEN}

    assert json.loads(metrics_path.read_text()) == metrics
    assert metrics["labelled_per_class"] == {"A": 1, "B": 1, "C": 1, "D": 0}
    assert metrics["excluded_per_reason"] == {
        DISAGREE: 1,
        NEGATED: 1,
        NO_STATEMENT: 1,
        UNKNOWN_GIVEN: 1,
    }
    agreement = metrics["language_agreement"]
    assert agreement["reports_compared"] == 5 and agreement["agreement"] == 0.8
    assert agreement["both_labelled"] == 3
    assert agreement["agreement_when_both_labelled"] == pytest.approx(2 / 3, abs=1e-3)
    assert metrics["corrections_per_report"] == {"mean": 0.8, "max": 3}


def test_label_stage_binary_scheme_and_spanish_policy(tmp_path) -> None:
    rows = [_row("e1", "Mamas tipo C.", "Type D breasts."), _row("e2", "Mamas de predominio graso.", "")]
    reports, corr = _write_inputs(tmp_path, rows, [])
    params = parse_params(
        {
            "classes": [
                {"name": "nondense", "description": "not dense", "prompt": "a non-dense breast"},
                {"name": "dense", "description": "dense", "prompt": "a dense breast"},
            ],
            "data": {"label_map": {"A": "nondense", "B": "nondense", "C": "dense", "D": "dense"}},
            "label": {"on_disagreement": "spanish"},
        }
    )
    metrics = run(params, reports, corr, tmp_path / "label", tmp_path / "label.json")
    labels = read_csv(tmp_path / "label" / "labels.csv").set_index("exam_id")
    assert labels["label"].to_dict() == {"e1": "dense", "e2": "nondense"}
    assert set(labels["source"]) == {"spanish"}
    assert metrics["labelled_per_class"] == {"nondense": 1, "dense": 1}


def test_label_stage_unmapped_letter_is_excluded(tmp_path) -> None:
    rows = [_row("e1", "Mamas tipo C.", "Type C breasts.")]
    reports, corr = _write_inputs(tmp_path, rows, [])
    params = parse_params(
        {
            "classes": [
                {"name": "fatty", "description": "fatty", "prompt": "a fatty breast"},
                {"name": "other", "description": "other", "prompt": "another breast"},
            ],
            "data": {"label_map": {"A": "fatty"}},
        }
    )
    run(params, reports, corr, tmp_path / "label", tmp_path / "label.json")
    assert read_csv(tmp_path / "label" / "excluded.csv")["reason"].tolist() == [UNMAPPED]


def test_label_stage_rejects_bad_input_with_the_file_named(tmp_path) -> None:
    bad = tmp_path / "reports.csv"
    write_csv(bad, pd.DataFrame({"exam_id": ["e1"], "text_en": ["x"]}))
    corr = tmp_path / "corrections.csv"
    write_csv(corr, pd.DataFrame(columns=["exam_id", "original", "corrected", "rule"]))
    with pytest.raises(ValueError, match=r"reports\.csv: missing column"):
        run(parse_params({}), bad, corr, tmp_path / "label", tmp_path / "label.json")
    assert not (tmp_path / "label").exists()
    dup = [_row("e1", "", "Type C."), _row("e1", "", "Type D.")]
    reports, corr = _write_inputs(tmp_path, dup, [])
    with pytest.raises(ValueError, match="duplicate exam_id"):
        run(parse_params({}), reports, corr, tmp_path / "label", tmp_path / "label.json")
