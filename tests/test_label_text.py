"""`breast-density label-text`: one text, stdin, a CSV batch, JSON lines, and bad input with named reasons."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from breast_density.cli import main
from breast_density.text.screen import EMPTY, NOT_SPANISH, NOT_TEXT, TOO_LONG

KEYS = {"id", "label", "rule", "span", "reason", "text_es", "text_en"}


@pytest.fixture()
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"  # the text settings default when a section is absent
    path.write_text("label:\n  sides: densest\n", encoding="utf-8")
    return path


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_one_text_as_json_and_as_table(params_file: Path, capsys: pytest.CaptureFixture) -> None:
    text = "HALLAZGOS: Mamas con patron tres de densidad. IMPRESIÓN: BI-RADS 2."
    assert main(["label-text", text, "--json", "--params", str(params_file)]) == 0
    (record,) = _json_lines(capsys.readouterr().out)
    assert set(record) == KEYS
    assert record["label"] == "C" and record["reason"] is None and record["rule"] == "code_number"
    assert "patrón tres" in record["text_es"] and "pattern three" in record["text_en"].lower()
    assert main(["label-text", "Mamas grasas.", "--params", str(params_file)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["id", "label", "rule", "span", "reason", "text_es", "text_en"]
    assert table[1].split()[:2] == ["text", "A"]


def test_csv_batch_keeps_ids_and_order(params_file: Path, tmp_path: Path, capsys) -> None:
    batch = tmp_path / "reports.csv"
    pd.DataFrame(
        {"nhc": ["r1", "r2", "r3"], "informe": ["Densidad tipo B o C.", "ACR-d.", "Sin lesiones."]}
    ).to_csv(batch, index=False)
    argv = ["label-text", "--csv", str(batch), "--id-column", "nhc", "--text-column", "informe", "--json"]
    assert main([*argv, "--params", str(params_file)]) == 0
    records = _json_lines(capsys.readouterr().out)
    assert [(r["id"], r["label"], r["reason"]) for r in records] == [
        ("r1", None, "unclear_range"),
        ("r2", "D", None),
        ("r3", None, "no_statement"),
    ]
    assert (
        main(["label-text", "--csv", str(batch), "--text-column", "nope", "--params", str(params_file)]) == 2
    )
    assert "missing column" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", EMPTY),
        (b"   \n ", EMPTY),
        (bytes(range(256)) * 4, NOT_TEXT),
        (("Mamas heterogéneamente densas. " * 40_000).encode(), TOO_LONG),  # about 1 MB
        (
            b"The breasts are heterogeneously dense, which may obscure small masses; no calcifications.",
            NOT_SPANISH,
        ),
    ],
)
def test_bad_input_gets_a_named_reason(
    params_file: Path, capsys, monkeypatch, data: bytes, reason: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["label-text", "-", "--json", "--params", str(params_file)]) == 0
    (record,) = _json_lines(capsys.readouterr().out)
    assert record["id"] == "stdin" and record["label"] is None and record["reason"] == reason
