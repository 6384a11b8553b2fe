"""Stage translate: normalised Spanish reports -> English with the backend named in translate.backend."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from breast_density import paths
from breast_density.io import read_csv, reset_dir, write_csv
from breast_density.params import Params
from breast_density.stages import stage_setup
from breast_density.text.translate import translate_texts

log = logging.getLogger(__name__)

INPUT_COLUMNS = ["exam_id", "patient_id", "text", "given_label"]


def run(params: Params, reports_csv: Path, out_dir: Path) -> None:
    reports = read_csv(reports_csv)
    missing = [c for c in INPUT_COLUMNS if c not in reports.columns]
    if missing:
        raise ValueError(f"{reports_csv}: missing column(s) {missing}; expected {INPUT_COLUMNS}")
    start = time.perf_counter()
    english = translate_texts(reports["text"].tolist(), params.translate)
    out = reports[["exam_id", "patient_id"]].assign(
        text_es=reports["text"], text_en=english, given_label=reports["given_label"]
    )
    reset_dir(out_dir)
    write_csv(out_dir / "reports.csv", out)
    log.info(
        "translated %d reports with the %s backend in %.1f s",
        int((reports["text"].str.strip() != "").sum()),
        params.translate.backend,
        time.perf_counter() - start,
    )


def main() -> None:
    params = stage_setup("translate")
    run(
        params, reports_csv=paths.stage_dir("normalize") / "reports.csv", out_dir=paths.stage_dir("translate")
    )


if __name__ == "__main__":
    main()
