"""Tiny harmonised-PNG cohort + split.csv for the embed / zeroshot / probe tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

CLASSES = ["A", "B", "C", "D"]


def make_split(root: Path, per_class: int = 6, size: int = 48, seed: int = 0) -> Path:
    """PNG images whose brightness grows with the class, split train/val/test; returns split.csv."""
    rng = np.random.default_rng(seed)
    images = root / "png"
    images.mkdir(parents=True, exist_ok=True)
    partitions = ["train"] * (per_class - 2) + ["val", "test"]
    rows = []
    for c, name in enumerate(CLASSES):
        for i in range(per_class):
            level = 40 + 50 * c
            pixels = np.clip(rng.normal(level, 12, (size, size + 8)), 0, 255).astype(np.uint8)
            path = images / f"{name}{i}.png"
            cv2.imwrite(str(path), pixels)
            rows.append(
                {
                    "image_id": f"img-{name}{i}",
                    "exam_id": f"ex-{name}{i // 2}",
                    "patient_id": f"pt-{name}{i // 2}",
                    "laterality": "LR"[i % 2],
                    "view": "CC",
                    "vendor": "demo",
                    "path": str(path),
                    "label": name,
                    "partition": partitions[i],
                }
            )
    split = root / "split.csv"
    pd.DataFrame(rows).to_csv(split, index=False)
    return split


DESCRIPTIONS = {"A": "almost entirely fatty", "B": "scattered fibroglandular", "C": "heterogeneously dense",
                "D": "extremely dense"}  # fmt: skip


def make_reports(split_csv: Path, out: Path) -> Path:
    """The translate stage's reports.csv for the exams of `split_csv`: English findings naming the class."""
    split = pd.read_csv(split_csv, dtype=str).drop_duplicates("exam_id")
    text = [
        f"Patient: [NOMBRE].\nINDICATION: screening.\nFINDINGS: {DESCRIPTIONS[label]} breasts. No nodules.\n"
        "CONCLUSION: BI-RADS 1."
        for label in split["label"]
    ]
    reports = pd.DataFrame(
        {"exam_id": split["exam_id"], "patient_id": split["patient_id"], "text_es": "", "text_en": text}
    )
    reports.assign(given_label="").to_csv(out, index=False)
    return out
