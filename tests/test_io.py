import stat

import pandas as pd
import pytest

from breast_density import io


def test_atomic_write_leaves_no_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), io.atomic_open(target) as fh:
        fh.write("half a row")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_and_is_readable_by_others(tmp_path):
    target = tmp_path / "sub" / "out.csv"
    io.write_csv(target, pd.DataFrame({"exam_id": ["007"], "n": [1]}))
    io.write_csv(target, pd.DataFrame({"exam_id": ["008"], "n": [2]}))
    assert io.read_csv(target)["exam_id"].tolist() == ["008"]  # ids stay strings
    assert target.stat().st_mode & stat.S_IRGRP
    assert [p.name for p in target.parent.iterdir()] == ["out.csv"]


def test_read_csv_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        io.read_csv(tmp_path / "missing.csv")
