"""De-identification: keyed pseudonyms, report-text PHI placeholders, and no cohort PHI in ingest outputs."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from breast_density.ingest.deid import (
    HASH_KEY_ENV,
    check_hash_key,
    key_fingerprint,
    pseudonymize,
    resolve_hash_key,
    scrub_report,
)
from breast_density.ingest.quarantine import Quarantine
from breast_density.params import CohortParams, parse_params
from breast_density.stages import ingest


def test_pseudonyms_are_keyed_stable_and_short():
    a = pseudonymize("EX00001", "key-1")
    assert a == pseudonymize(" EX00001 ", "key-1") and len(a) == 16
    assert a != pseudonymize("EX00001", "key-2") and a != pseudonymize("EX00002", "key-1")


def test_environment_key_wins(monkeypatch):
    monkeypatch.delenv(HASH_KEY_ENV, raising=False)
    assert resolve_hash_key("from-params") == "from-params"
    monkeypatch.setenv(HASH_KEY_ENV, "from-env")
    assert resolve_hash_key("from-params") == "from-env"
    monkeypatch.delenv(HASH_KEY_ENV)
    with pytest.raises(ValueError, match=HASH_KEY_ENV):
        resolve_hash_key("")


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        ("Paciente: María José García López. NHC: 92012215.", [], "Paciente: [NOMBRE]. NHC: [NHC]."),
        ("Fecha del estudio: 24/09/2019.", [], "Fecha del estudio: [FECHA]."),
        ("Estudio del 3 de marzo de 2020 y 2021-03-15.", [], "Estudio del [FECHA] y [FECHA]."),
        ("F. nac: 12-IV-1965", [], "F. nac: [FECHA]"),
        (
            "La paciente maria jose refiere dolor.",
            ["GARCÍA LÓPEZ^MARÍA JOSÉ"],
            "La paciente [NOMBRE] refiere dolor.",
        ),
        ("Sra. GARCIA LOPEZ acude.", ["García López^María"], "Sra. [NOMBRE] acude."),
        ("Informado por: Dr. Juan Pérez Ruiz.", [], "Informado por: Dr. [NOMBRE]."),
        (
            "DNI 12345678Z, tel: 96 123 45 67, episodio: 55512345",
            [],
            "DNI [ID], tel: [TELEFONO], episodio: [ID]",
        ),
        ("Ref 1234567890 en archivo.", [], "Ref [ID] en archivo."),
    ],
)
def test_scrub_report_placeholders(text, names, expected):
    assert scrub_report(text, names) == expected


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        (  # decomposed accents (NFD exporters), later mentions and the first name alone
            unicodedata.normalize(
                "NFD", "Paciente: María Pérez. La paciente María acude. Sra. PEREZ refiere."
            ),
            [],
            "Paciente: [NOMBRE]. La paciente [NOMBRE] acude. Sra. [NOMBRE] refiere.",
        ),
        (  # relatives and staff, then their names again later
            "Acude con su hija Lucía y su esposo: Juan Ruiz. Técnica: Rosa Gil. Lucía y Gil firman.",
            [],
            "Acude con su hija [NOMBRE] y su esposo: [NOMBRE]. Técnica: [NOMBRE]. [NOMBRE] firman.",
        ),
        (
            "Domicilio: C/ Mayor 12, 3º B, 28013 Madrid. Teléfono: 612 345 678. NIE X1234567L. a.b@c.es",
            [],
            "Domicilio: [DIRECCION] Teléfono: [TELEFONO]. NIE [ID]. [EMAIL]",
        ),
        (
            "DNI 12.345.678-Z; móvil 600123456; fijo +34 91 123 45 67.",
            [],
            "DNI [ID]; móvil [TELEFONO]; fijo [TELEFONO].",
        ),
        (
            "Patient: Jane Smith. DOB: April 12, 1965. Technologist: John Doe. Jane tolerated it. "
            "Read by Dr. Alan Grant on 15th of March 2021. Phone: (555) 123-4567. MRN: 889977.",
            [],
            "Patient: [NOMBRE]. DOB: [FECHA]. Technologist: [NOMBRE]. [NOMBRE] tolerated it. "
            "Read by Dr. [NOMBRE] on [FECHA]. Phone: [TELEFONO]. MRN: [NHC].",
        ),
        ("Names column: Teresa Vidal acude.", ["Teresa Vidal"], "Names column: [NOMBRE] acude."),
        # a header charset that disagrees with the bytes: the repaired name still matches
        ("La paciente Núñez acude.", ["NÃ\x9aÃ\x91EZ^ANA"], "La paciente [NOMBRE] acude."),
    ],
)
def test_scrub_generalises(text, names, expected):
    assert scrub_report(text, names) == expected


def test_first_name_that_is_a_word_is_over_redacted_and_known():
    # The price of removing a first name at every mention: 'dolores' (pains) goes when the patient is Dolores.
    assert scrub_report("Refiere dolores mamarios.", ["GARCÍA^DOLORES"]) == "Refiere [NOMBRE] mamarios."
    assert scrub_report("Refiere dolores mamarios.", ["GARCÍA^ANA"]) == "Refiere dolores mamarios."


def test_key_sources_and_safety_rules(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(HASH_KEY_ENV, raising=False)
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n", encoding="utf-8")
    assert resolve_hash_key("from-params", str(key_file)) == "from-file"
    monkeypatch.setenv(HASH_KEY_ENV, "from-env")
    assert resolve_hash_key("from-params", str(key_file)) == "from-env"
    monkeypatch.delenv(HASH_KEY_ENV)
    fingerprint = key_fingerprint("from-file")
    assert len(fingerprint) == 12 and fingerprint != key_fingerprint("from-file2")
    assert check_hash_key("demo-key-change-me", str(key_file), fingerprint, synthetic=False) == "from-file"
    with pytest.raises(ValueError, match=rf"has fingerprint {fingerprint}"):
        check_hash_key("demo-key-change-me", str(key_file), "0123456789ab", synthetic=False)
    with pytest.raises(ValueError, match="public demo key"):
        check_hash_key("demo-key-change-me", None, "", synthetic=False)
    assert check_hash_key("demo-key-change-me", None, "", synthetic=True) == "demo-key-change-me"
    with caplog.at_level("WARNING"):
        assert check_hash_key("literal", None, "", synthetic=False) == "literal"
    assert "lands in dvc.lock" in caplog.text
    with pytest.raises(ValueError, match="cannot read the key file"):
        resolve_hash_key("x", str(tmp_path / "missing"))


def test_scrub_keeps_clinical_content():
    text = (
        "TÉCNICA: Se realizan proyecciones CC y OML.\n"
        "HALLAZGOS: Mamas heterogéneamente densas (ACR C), tipo 3. Nódulo de 12 mm a 3,5 cm del pezón.\n"
        "Categoría BI-RADS 2. Control en 12 meses. Paciente asintomática de 54 años."
    )
    assert scrub_report(text, ["DE LA FUENTE^ANA"]) == text


def test_quarantine_paths_hide_identifier_folders(tmp_path):
    q = Quarantine(tmp_path / "raw", "k")
    q.identifiers.update({"P4897137", "EX00001"})
    q.name_tokens.add("ROMERO")
    path = tmp_path / "raw/dicom/P4897137/EX00001/L_CC.dcm"
    q.add(path, "e", f"not a DICOM file: {path}")
    q.add(tmp_path / "raw/ROMERO_ana/12345678.dcm", "e", "no pixel data")
    rows = q.frame()
    text = rows.to_csv()
    assert (
        "P4897137" not in text and "EX00001" not in text and "ROMERO" not in text and "12345678" not in text
    )
    assert rows["file"][1].endswith(
        f"dicom/{pseudonymize('P4897137', 'k')}/{pseudonymize('EX00001', 'k')}/L_CC.dcm"
    )
    assert q.counts() == {"no pixel data": 1, "not a DICOM file": 1}


def test_no_cohort_phi_in_ingest_outputs(tmp_path, monkeypatch):
    """Tiny synthetic cohort -> ingest; every output file is scanned for the truth PHI values."""
    from breast_density.cohort.generate import generate_cohort

    monkeypatch.delenv(HASH_KEY_ENV, raising=False)
    raw, truth = tmp_path / "raw/cohort", tmp_path / "raw/cohort-truth"
    generate_cohort(CohortParams(exams=6, scale=0.05, repeat_patient_rate=0.3), 7, raw, truth, workers=1)
    params = parse_params({"ingest": {"workers": 1}})
    out, metrics_path = tmp_path / "interim/ingest", tmp_path / "metrics/ingest.json"
    metrics = ingest.run(params, raw, out, metrics_path)
    assert metrics["exams"] == 6 and metrics["images"] == 24 and metrics["quarantined"] == 0

    phi = json.loads((truth / "phi.json").read_text())
    values = {str(v) for group in phi.values() for v in (group if isinstance(group, list) else [group])}
    values |= {tok for name in phi["names"] for tok in name.split() if len(tok) >= 4}  # single name words too
    values = {v for v in values if len(v) >= 4}
    files = [p for p in out.rglob("*") if p.is_file()] + [metrics_path]
    assert len(files) == 3 + 24 + 1
    leaks = [f"{p.name}: {v}" for p in files for v in values if v.encode() in p.read_bytes()]
    assert not leaks, leaks[:10]
    assert Path(out / "reports.csv").read_text().count("[NOMBRE]") >= 6


def test_copy_verifier_and_profile_options(tmp_path):
    import numpy as np
    import pydicom

    from breast_density.ingest.dicom_deid import CopyTask, verify_dicom, verify_png, write_copy
    from ingest_fixtures import make_dicom, phantom, raster_with_metadata

    src = make_dicom(tmp_path / "src.dcm")
    ds = pydicom.dcmread(src)
    ds.DeviceSerialNumber, ds.SeriesDescription = "SN-42", "L CC GARCIA"
    ds.save_as(src)
    task = CopyTask(str(src), str(tmp_path / "copy.dcm"), "img", "e", "p", "L", "CC")
    assert write_copy(task) is None
    copy = pydicom.dcmread(tmp_path / "copy.dcm")
    assert "DeviceSerialNumber" not in copy and "SeriesDescription" not in copy
    # anything textual outside the allow-list, or private, fails verification
    copy.ImageComments = "free text"
    copy.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", "x")
    copy.save_as(tmp_path / "tampered.dcm")
    problems = verify_dicom(tmp_path / "tampered.dcm", task)
    assert "ImageComments" in problems and any(p.startswith("private tag") for p in problems)
    # a writer that let such an element through would have its copy rejected, and nothing published
    import breast_density.ingest.dicom_deid as dicom_deid

    leaky = CopyTask(str(src), str(tmp_path / "leaky.dcm"), "img", "e", "p", "L", "CC")
    original = dicom_deid.deidentified_dataset

    def leaky_writer(ds, t):
        out = original(ds, t)
        out.ImageComments = "free text"
        return out

    dicom_deid.deidentified_dataset = leaky_writer
    try:
        assert write_copy(leaky) == "de-identified copy failed verification: ImageComments"
    finally:
        dicom_deid.deidentified_dataset = original
    assert not (tmp_path / "leaky.dcm").exists()
    options = CopyTask(
        str(src),
        str(tmp_path / "options.dcm"),
        "img",
        "e",
        "p",
        "L",
        "CC",
        retain_device_identity=True,
        clean_descriptors=True,
        names=("GARCÍA^MARÍA",),
    )
    assert write_copy(options) is None
    kept = pydicom.dcmread(tmp_path / "options.dcm")
    assert kept.DeviceSerialNumber == "SN-42" and kept.SeriesDescription == "L CC [NOMBRE]"
    assert [c.CodeValue for c in kept.DeidentificationMethodCodeSequence] == ["113100", "113109", "113105"]
    # raster copies are re-encoded from pixels: text chunks gone, pixels equal
    png = raster_with_metadata(tmp_path / "r.png", phantom(bits=8).astype(np.uint8))
    assert "PNG chunk tEXt" in verify_png(png)
    raster = CopyTask(str(png), str(tmp_path / "r_copy.png"), "img", "e", "p", "L", "CC")
    assert write_copy(raster) is None and verify_png(tmp_path / "r_copy.png") == []
    from breast_density.imaging.decode import read_pixels

    np.testing.assert_array_equal(read_pixels(tmp_path / "r_copy.png"), read_pixels(png))
