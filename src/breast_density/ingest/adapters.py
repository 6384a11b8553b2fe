"""Adapters for public mammography datasets: their published metadata -> the labels layout.

Point ``data.root`` at the unpacked download and set ``data.source``; nothing needs converting. Density
values map onto BI-RADS A-D by default; set ``data.label_map`` for another class scheme (e.g. binary
``{"A": non_dense, "B": non_dense, "C": dense, "D": dense}`` with matching ``classes``).

``vindr`` — VinDr-Mammo (PhysioNet)::

    <root>/breast-level_annotations.csv   study_id, series_id, image_id, laterality, view_position,
                                          height, width, breast_birads, breast_density ('DENSITY A'..), split
    <root>/images/<study_id>/<image_id>.dicom

  Exam = study_id (one study per woman; the study id doubles as patient id).

``cbis_ddsm`` — CBIS-DDSM (TCIA)::

    <root>/mass_case_description_{train,test}_set.csv, calc_case_description_{train,test}_set.csv
          patient_id, breast_density (mass) / 'breast density' (calc) 1-4, left or right breast,
          image view, abnormality id, ..., image file path
    <root>/CBIS-DDSM/<Mass-Training_P_00001_LEFT_CC>/**/*.dcm   (the TCIA download tree)

  The CSV's 'image file path' is tried first, then the full-mammogram DICOM found under the folder named by
  its first component (TCIA renames the inner folders). Exam = patient_id; rows repeated per abnormality are
  collapsed to one image per breast and view.

``rsna`` — RSNA Screening Mammography Breast Cancer Detection (Kaggle)::

    <root>/train.csv   site_id, patient_id, image_id, laterality, view, age, cancer, ..., density (A-D or
                       empty), machine_id
    <root>/train_images/<patient_id>/<image_id>.dcm

  Exam = patient_id. Images without density, and views other than CC/MLO, end up in quarantine.

``inbreast`` — INbreast::

    <root>/INbreast.csv   Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads
                          (semicolon separated; INbreast.xls must be saved as CSV first)
    <root>/AllDICOMs/<File Name>_<case hash>_MG_<L|R>_<CC|ML>_ANON.dcm

  Exam = case hash + acquisition date, patient = case hash (both from the DICOM file name).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from breast_density.ingest.sources import (
    SourceData,
    read_table,
    require_columns,
    resolve_path,
    table_problems,
)

log = logging.getLogger(__name__)

BIRADS_LETTERS = ("A", "B", "C", "D")
_NUMERIC_DENSITY = {str(i + 1): letter for i, letter in enumerate(BIRADS_LETTERS)}


def _source(
    name: str, root: Path, table: pd.DataFrame, label_map: dict[str, str], file: Path, problems: list
) -> SourceData:
    """Split a per-image table (exam_id, patient_id, laterality, view, path, label) into labels + images."""
    table = table.fillna("")
    images = table[["exam_id", "patient_id", "laterality", "view", "path"]].copy()
    images["vendor"] = table["vendor"] if "vendor" in table.columns else ""
    labels = table[["exam_id", "patient_id", "label"]].copy()
    log.info("%s: %d images in %d exams listed in %s", name, len(images), images["exam_id"].nunique(), file)
    return SourceData(
        name,
        root,
        labels=labels,
        images=images,
        default_label_map=label_map,
        table_file=file,
        problems=problems,
    )


def load_vindr(root: Path) -> SourceData:
    file = root / "breast-level_annotations.csv"
    read = read_table(file)
    df = read.frame
    require_columns(df, ["study_id", "image_id", "laterality", "view_position", "breast_density"], file)
    table = pd.DataFrame(
        {
            "exam_id": df["study_id"],
            "patient_id": df["study_id"],
            "laterality": df["laterality"],
            "view": df["view_position"].str.upper(),
            "path": [
                resolve_path(f"images/{s}/{i}.dicom", root)
                for s, i in zip(df["study_id"], df["image_id"], strict=True)
            ],
            "label": df["breast_density"],
        }
    )
    label_map = {f"DENSITY {c}": c for c in BIRADS_LETTERS}
    return _source("vindr", root, table, label_map, file, table_problems(file, read))


def load_cbis_ddsm(root: Path) -> SourceData:
    files = sorted(root.glob("*_case_description_*_set.csv"))
    if not files:
        raise FileNotFoundError(f"{root}: no CBIS-DDSM *_case_description_*_set.csv files found")
    frames, problems = [], []
    for file in files:
        read = read_table(file)
        df = read.frame
        problems += table_problems(file, read)
        density = "breast_density" if "breast_density" in df.columns else "breast density"
        require_columns(
            df, ["patient_id", density, "left or right breast", "image view", "image file path"], file
        )
        frames.append(
            pd.DataFrame(
                {
                    "exam_id": df["patient_id"],
                    "patient_id": df["patient_id"],
                    "laterality": df["left or right breast"],
                    "view": df["image view"].str.upper(),
                    "path": [_cbis_image(root, p) for p in df["image file path"]],
                    "label": df[density],
                }
            )
        )
    # one row per abnormality in the CSVs, but one image per breast and view
    table = pd.concat(frames).drop_duplicates(["exam_id", "laterality", "view"], keep="first")
    return _source("cbis_ddsm", root, table, dict(_NUMERIC_DENSITY), files[0], problems)


def _cbis_image(root: Path, listed: str) -> str:
    listed = listed.strip().strip('"')
    for base in (root, root / "CBIS-DDSM"):
        if (base / listed).is_file():
            return (base / listed).as_posix()
    case = listed.split("/")[0]
    for base in (root / "CBIS-DDSM", root):
        found = sorted((base / case).rglob("*.dcm")) if (base / case).is_dir() else []
        if found:
            return found[0].as_posix()
    return (root / listed).as_posix()  # reported as "image file missing"


def load_rsna(root: Path) -> SourceData:
    file = root / "train.csv"
    read = read_table(file)
    df = read.frame
    require_columns(df, ["patient_id", "image_id", "laterality", "view", "density"], file)
    table = pd.DataFrame(
        {
            "exam_id": df["patient_id"],
            "patient_id": df["patient_id"],
            "laterality": df["laterality"],
            "view": df["view"].str.upper(),
            "path": [
                resolve_path(f"train_images/{p}/{i}.dcm", root)
                for p, i in zip(df["patient_id"], df["image_id"], strict=True)
            ],
            "label": df["density"],
            "vendor": ("machine " + df["machine_id"]) if "machine_id" in df.columns else "",
        }
    )
    return _source("rsna", root, table, {c: c for c in BIRADS_LETTERS}, file, table_problems(file, read))


def load_inbreast(root: Path) -> SourceData:
    file = root / "INbreast.csv"
    read = read_table(file, sep=";")
    df = read.frame
    require_columns(df, ["Laterality", "View", "File Name", "ACR"], file)
    dicoms = {p.name.split("_")[0]: p for p in sorted((root / "AllDICOMs").glob("*.dcm"))}
    rows = []
    for _, r in df.iterrows():
        name = str(r["File Name"]).strip()
        if not name:
            continue
        path = dicoms.get(name)
        parts = path.name.split("_") if path is not None else []
        case = parts[1] if len(parts) > 1 else name
        date = str(r.get("Acquisition date", "")).strip()
        rows.append(
            {
                "exam_id": f"{case}-{date}" if date else case,
                "patient_id": case,
                "laterality": str(r["Laterality"]).strip(),
                "view": str(r["View"]).strip().upper(),
                "path": path.as_posix()
                if path is not None
                else (root / "AllDICOMs" / f"{name}.dcm").as_posix(),
                "label": str(r["ACR"]).strip(),
            }
        )
    table = pd.DataFrame(rows, columns=["exam_id", "patient_id", "laterality", "view", "path", "label"])
    return _source("inbreast", root, table, dict(_NUMERIC_DENSITY), file, table_problems(file, read))
