"""De-identification: keyed pseudonyms, report-text PHI placeholders, and no cohort PHI in ingest outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breast_density.ingest.deid import HASH_KEY_ENV, pseudonymize, resolve_hash_key, scrub_report
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
