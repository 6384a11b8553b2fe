"""Input layouts the ingest stage understands, each turned into one in-memory shape (`SourceData`).

``synthetic`` / ``reports`` (a hospital export, the shape of the embedded cohort)::

    <root>/reports.csv   exam_id, patient_id, report       one Spanish report per exam
    <root>/**/*.dcm      DICOMs at any depth; an image belongs to the exam whose id equals its folder name,
                         AccessionNumber, StudyID or StudyInstanceUID (first match)
    <root>/images.csv    optional instead of scanning: image_id, exam_id, laterality, view, path
                         (+ patient_id, vendor); path relative to <root>; DICOM, PNG, JPEG, TIFF or PGM

``labels`` (images with a density label and no report)::

    <root>/labels.csv    exam_id, patient_id, <data.label_column>   (several rows per exam allowed, e.g.
                         one per breast: the densest class in params.classes order is the exam's label)
    <root>/images.csv    as above (or DICOMs found by scanning <root>)

``data.label_map`` turns the file's values into class names (``{"1": "A", ...}``, a 3-class or a binary
scheme); empty means the values already are class names. Public datasets: see `adapters`; the
registry of every layout is `registry.load_source`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("exam_id", "patient_id", "report")
IMAGE_COLUMNS = ("exam_id", "laterality", "view", "path")


@dataclass
class SourceData:
    """A data source in one shape: raw (identifying) ids, resolved image paths, reports or labels."""

    name: str
    root: Path
    reports: pd.DataFrame | None = None  # exam_id, patient_id, report
    labels: pd.DataFrame | None = None  # exam_id, patient_id, label (raw value)
    images: pd.DataFrame | None = None  # exam_id, patient_id, laterality, view, path, vendor; None = scan
    default_label_map: dict[str, str] = field(default_factory=dict)  # used when data.label_map is empty
    table_file: Path | None = None  # reports.csv / labels file: the 'file' of report-level quarantine rows
    encoding: str = "utf-8"


def read_table(path: str | Path, sep: str | None = ",") -> tuple[pd.DataFrame, str]:
    """Read a CSV as strings; UTF-8 first, then the Windows / Latin-1 encodings hospital exports often use."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            df = pd.read_csv(
                path, dtype=str, keep_default_na=False, sep=sep, encoding=encoding, engine="python"
            )
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"{path}: not a readable CSV table: {err}") from None
        if encoding != "utf-8-sig":
            log.warning("%s is not UTF-8; read it as %s (save it as UTF-8 to silence this)", path, encoding)
        df.columns = [str(c).strip() for c in df.columns]
        return df, encoding.replace("-sig", "")
    raise ValueError(f"{path}: cannot decode the file as UTF-8, cp1252 or latin-1")


def require_columns(df: pd.DataFrame, columns: tuple[str, ...] | list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")


def read_reports(path: str | Path) -> tuple[pd.DataFrame, str]:
    """reports.csv of a hospital export; duplicate exam ids are an error that names them."""
    path = Path(path)
    df, encoding = read_table(path)
    if "report" not in df.columns and "text" in df.columns:
        df = df.rename(columns={"text": "report"})
    require_columns(df, REPORT_COLUMNS, path)
    df = df[list(REPORT_COLUMNS)].copy()
    for col in ("exam_id", "patient_id"):
        df[col] = df[col].str.strip()
    check_unique(df, "exam_id", path)
    return df, encoding


def check_unique(df: pd.DataFrame, column: str, path: Path) -> None:
    dupes = df.loc[df[column].duplicated(keep=False), column]
    if len(dupes):
        shown = sorted(set(dupes))
        more = f" (+{len(shown) - 10} more)" if len(shown) > 10 else ""
        raise ValueError(f"{path}: duplicate {column} values {shown[:10]}{more}; each exam must appear once")


def read_images_table(path: str | Path, root: Path) -> pd.DataFrame:
    """images.csv: one row per image file; paths relative to the data root (absolute paths are kept)."""
    path = Path(path)
    df, _ = read_table(path)
    require_columns(df, IMAGE_COLUMNS, path)
    out = pd.DataFrame(
        {
            "exam_id": df["exam_id"].str.strip(),
            "patient_id": df["patient_id"].str.strip() if "patient_id" in df.columns else "",
            "laterality": df["laterality"].str.strip(),
            "view": df["view"].str.strip().str.upper(),
            "path": [resolve_path(p.strip(), root) for p in df["path"]],
            "vendor": df["vendor"].str.strip() if "vendor" in df.columns else "",
        }
    )
    return out


def resolve_path(value: str, root: Path) -> str:
    p = Path(value)
    return (p if p.is_absolute() else root / p).as_posix()


def read_labels(path: str | Path, column: str) -> tuple[pd.DataFrame, str]:
    path = Path(path)
    df, encoding = read_table(path)
    require_columns(df, ("exam_id", column), path)
    return (
        pd.DataFrame(
            {
                "exam_id": df["exam_id"].str.strip(),
                "patient_id": df["patient_id"].str.strip() if "patient_id" in df.columns else "",
                "label": df[column].str.strip(),
            }
        ),
        encoding,
    )


def load_reports_layout(root: Path, name: str = "reports") -> SourceData:
    reports_file = root / "reports.csv"
    if not reports_file.is_file():
        hint = " (run `dvc repro cohort` to generate the demo cohort)" if name == "synthetic" else ""
        raise FileNotFoundError(f"{reports_file}: reports file not found{hint}")
    reports, encoding = read_reports(reports_file)
    images_file = root / "images.csv"
    images = read_images_table(images_file, root) if images_file.is_file() else None
    return SourceData(name, root, reports=reports, images=images, table_file=reports_file, encoding=encoding)


def load_labels_layout(root: Path, label_column: str) -> SourceData:
    labels_file = root / "labels.csv"
    if not labels_file.is_file():
        raise FileNotFoundError(f"{labels_file}: labels file not found (labels layout needs labels.csv)")
    labels, encoding = read_labels(labels_file, label_column)
    images_file = root / "images.csv"
    images = read_images_table(images_file, root) if images_file.is_file() else None
    return SourceData("labels", root, labels=labels, images=images, table_file=labels_file, encoding=encoding)


# ---- label values -> class names ---------------------------------------------------------------------------


def normalise_label_value(value: str) -> str:
    """'density a ' -> 'DENSITY A', '3.0' -> '3': spreadsheets and CSV exports disagree on such details."""
    text = re.sub(r"\s+", " ", str(value).strip()).upper()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text


class LabelMapper:
    """Maps raw label values onto the configured classes; unknown values give None (quarantined upstream)."""

    def __init__(self, label_map: dict[str, str], default_map: dict[str, str], class_names: list[str]):
        chosen = label_map or default_map or {c: c for c in class_names}
        self.class_names = list(class_names)
        self.mapping = {normalise_label_value(k): v for k, v in chosen.items()}
        unknown = sorted(set(self.mapping.values()) - set(class_names))
        if unknown:
            raise ValueError(
                f"labels map to {unknown}, which are not configured classes {class_names}; "
                "set data.label_map in params.yaml to map the source's values onto your classes"
            )

    def __call__(self, value: str) -> str | None:
        return self.mapping.get(normalise_label_value(value))

    def densest(self, labels: list[str]) -> str:
        """The exam label from per-breast labels: BI-RADS rates an exam by its denser breast."""
        return max(labels, key=self.class_names.index)
