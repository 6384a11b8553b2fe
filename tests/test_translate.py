"""Lexicon translation: placeholders and numbers kept, longest match, case, registry, stage, chrF target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sacrebleu

from breast_density.cohort.reports import make_phi, make_report
from breast_density.params import Params, TranslateParams
from breast_density.stages import translate as stage
from breast_density.text import translate as registry
from breast_density.text.lexicon import default_lexicon
from breast_density.text.lexicon_translate import default_phrase_table, read_phrase_table, translate_text
from breast_density.text.normalize import normalize_text

TABLE = default_phrase_table()


def test_placeholders_numbers_and_punctuation_are_kept():
    es = (
        "Paciente: [NOMBRE]. NHC: [NHC]. Fecha del estudio: [FECHA].\n"
        "Nódulo de 12 mm a las 10:30 (1,5 cm); BI-RADS 3. [ID]"
    )
    en, _ = translate_text(es, TABLE)
    lines = en.split("\n")
    assert lines[0] == "Patient: [NOMBRE]. Record number: [NHC]. Study date: [FECHA]."
    for kept in ("12 mm", "10:30", "(1,5 cm);", "BI-RADS 3.", "[ID]"):
        assert kept in en
    assert len(lines) == 2


def test_longest_match_wins(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text(
        "densidad\tdensity\nmamaria\tmammary\ndensidad mamaria\tbreast density\n"
        "densidad mamaria tipo\tbreast density type\nmama\tbreast\nse\t\n",
        encoding="utf-8",
    )
    table = read_phrase_table(path)
    assert translate_text("densidad mamaria tipo C", table)[0] == "breast density type C"
    assert translate_text("densidad mamaria, densidad", table)[0] == "breast density, density"
    # a phrase never swallows punctuation between its words
    assert translate_text("densidad. mamaria", table)[0] == "density. mammary"
    # a dropped capitalised word hands its capital on, to a phrase or to an unknown word
    assert translate_text("Se mama. Se xyz mama.", table)[0] == "Breast. Xyz breast."


def test_unknown_words_pass_through_and_case_follows_the_source():
    en, unknown = translate_text("HALLAZGOS: Mamas heterogéneamente densas. Zubizarreta ACR-d.", TABLE)
    assert en == "FINDINGS: Heterogeneously dense breasts. Zubizarreta ACR-d."
    assert unknown == 2
    assert translate_text("Densidad ACR-d.", TABLE)[0] == "Density ACR-d."
    assert translate_text("mamas extremadamente densas", TABLE)[0] == "extremely dense breasts"


@pytest.mark.parametrize(
    ("es", "needle"),
    [
        ("Densidad mamaria tipo C (ACR).", "Breast density type C (ACR)."),
        ("Patrón mamario de predominio graso.", "predominantly fatty"),
        (
            "Mamas con áreas dispersas de densidad fibroglandular.",
            "scattered areas of fibroglandular density",
        ),
        ("Densidad asimétrica en el cuadrante superoexterno de la mama derecha.", "Asymmetric density"),
        ("Nódulo isodenso de 8 mm en la mama izquierda.", "Isodense nodule of 8 mm in the left breast"),
        ("Mamas de predominio adiposo.", "predominantly fatty"),
    ],
)
def test_density_vocabulary_translates(es, needle):
    assert needle.lower() in translate_text(es, TABLE)[0].lower()


def test_a_class_letter_is_not_the_preposition_a():
    assert (
        translate_text("Densidad mamaria: categoría A del ACR.", TABLE)[0]
        == "Breast density: category A of the ACR."
    )
    assert translate_text("Densidad ACR A. Tipo a.", TABLE)[0] == "Density ACR A. Type a."
    assert translate_text("DENSIDAD MAMARIA TIPO A.", TABLE)[0] == "BREAST DENSITY TYPE A."
    assert translate_text("A la exploración, nódulo a las 10 horas.", TABLE)[0] == (
        "On examination, nodule at 10 o'clock."
    )


def test_bad_phrase_tables_are_named(tmp_path):
    dup = tmp_path / "dup.tsv"
    dup.write_text("mama\tbreast\nMama\tbreast\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dup\.tsv.*duplicate"):
        read_phrase_table(dup)
    bad = tmp_path / "bad.tsv"
    bad.write_text("mama breast\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv.*entry 1"):
        read_phrase_table(bad)


def test_registry_dispatches_skips_empty_texts_and_checks_lengths(monkeypatch):
    params = TranslateParams()
    assert registry.translate_texts(["", "Mama derecha.", "  "], params) == ["", "Right breast.", ""]
    with pytest.raises(ValueError, match="unknown backend"):
        registry.get_backend("nope")
    monkeypatch.setattr(registry, "get_backend", lambda name: lambda texts, p: texts[:-1])
    with pytest.raises(RuntimeError, match="returned 1 texts for 2 inputs"):
        registry.translate_texts(["uno", "dos"], params)


def test_stage_writes_spanish_and_english_columns(tmp_path):
    src = tmp_path / "reports.csv"
    pd.DataFrame(
        [
            {"exam_id": "e1", "patient_id": "p1", "text": "Mamas extremadamente densas.", "given_label": ""},
            {"exam_id": "e2", "patient_id": "p2", "text": "", "given_label": "B"},
        ]
    ).to_csv(src, index=False)
    stage.run(Params(), src, tmp_path / "out")
    out = pd.read_csv(tmp_path / "out" / "reports.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["exam_id", "patient_id", "text_es", "text_en", "given_label"]
    assert out["text_en"].tolist() == ["Extremely dense breasts.", ""]
    assert out["given_label"].tolist() == ["", "B"]
    pd.DataFrame([{"exam_id": "e1"}]).to_csv(src, index=False)
    with pytest.raises(ValueError, match=r"reports\.csv.*missing column"):
        stage.run(Params(), src, tmp_path / "out2")


def test_chrf_target_on_generated_reports_after_normalisation():
    rng = np.random.default_rng(5)
    lexicon = default_lexicon()
    hyp, ref = [], []
    for i in range(200):
        phi = make_phi(rng)
        r = make_report(
            rng, "ABCD"[i % 4], phi, "20230415", text_noise=0.15, has_statement=rng.random() > 0.17
        )

        def deid(text: str, phi=phi) -> str:  # what ingest does before these stages
            return text.replace(phi.name, "[NOMBRE]").replace(phi.record_number, "[NHC]")

        spanish, _ = normalize_text(deid(r.text), lexicon)
        hyp.append(translate_text(spanish, TABLE)[0])
        ref.append(deid(r.reference_en))
    assert sacrebleu.corpus_chrf(hyp, [ref]).score >= 70


# Hand-written sentences in the style of real reports, none of them a cohort template.
FREE_TEXT = [
    ('Mamas de predominio adiposo, sin lesiones sospechosas.',
     'Predominantly fatty breasts, without suspicious lesions.'),
    ('Parénquima mamario denso y heterogéneo, lo que disminuye la sensibilidad de la mamografía.',
     'Dense and heterogeneous breast parenchyma, which lowers the sensitivity of mammography.'),
    ('No se observan cambios significativos respecto al estudio previo.',
     'No significant changes are seen compared with the previous study.'),
    ('Ganglios axilares de morfología normal.',
     'Axillary lymph nodes of normal morphology.'),
    ('Quiste simple en el cuadrante superointerno de la mama izquierda.',
     'Simple cyst in the upper inner quadrant of the left breast.'),
    ('Microcalcificaciones agrupadas en la mama derecha, se recomienda biopsia.',
     'Grouped microcalcifications in the right breast, biopsy is recommended.'),
    ('Cambios postquirúrgicos en la mama derecha, estables.',
     'Postsurgical changes in the right breast, stable.'),
    ('Nódulo de márgenes bien definidos de 9 mm en la mama izquierda.',
     'Nodule with well-defined margins of 9 mm in the left breast.'),
    ('Densidad mamaria tipo B según el sistema BI-RADS.',
     'Breast density type B according to the BI-RADS system.'),
    ('Sin signos de malignidad. BI-RADS 2.',
     'No signs of malignancy. BI-RADS 2.'),
    ('Asimetría focal en la mama derecha, sin cambios respecto a estudios previos.',
     'Focal asymmetry in the right breast, unchanged compared with previous studies.'),
    ('Se recomienda ecografía complementaria.',
     'Complementary ultrasound is recommended.'),
    ('Engrosamiento cutáneo y retracción del pezón en la mama izquierda.',
     'Skin thickening and nipple retraction in the left breast.'),
    ('Composición mamaria: mamas heterogéneamente densas (ACR C).',
     'Breast composition: heterogeneously dense breasts (ACR C).'),
]  # fmt: skip


def test_chrf_on_hand_written_sentences_beyond_the_templates():
    hyp = [translate_text(es, TABLE)[0] for es, _ in FREE_TEXT]
    assert sacrebleu.corpus_chrf(hyp, [[en for _, en in FREE_TEXT]]).score >= 70


def test_inflected_forms_the_table_lacks_are_derived(tmp_path):
    table_file = tmp_path / "phrases.tsv"
    table_file.write_text(
        "nódulo\tnodule\ndenso\tdense\nclaro\tclear\nquiste\tcyst\nmama\tbreast\nlipomatoso\tlipomatous\n",
        encoding="utf-8",
    )
    table = read_phrase_table(table_file)
    english, unknown = translate_text(
        "Mamas lipomatosas con nódulos densos y quistes claramente visibles.", table
    )
    # plural nouns take an English plural, adjectives do not; -mente adverbs come from their adjective
    assert english == "Breasts lipomatous con nodules dense y cysts clearly visibles."
    assert unknown == 3  # 'con', 'y' and 'visibles' are not in this small table


@pytest.mark.parametrize(
    ("es", "needle"),
    [
        ("Tejido fibroglandular inferior al 25 %.", "below 25 %"),
        ("Más del 75 % de tejido fibroglandular.", "more than 75 %"),
        ("En torno al 60 % de tejido glandular.", "around 60 %"),
        ("Escasa cantidad de tejido fibroglandular.", "small amount of fibroglandular tissue"),
        ("Predomina el tejido glandular sobre el adiposo.", "predominates"),
        ("Patrón tres.", "pattern three"),
    ],
)
def test_grammar_phrases_translate(es, needle):
    assert needle in translate_text(es, default_phrase_table())[0].lower()
