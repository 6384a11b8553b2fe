"""Input layouts the ingest stage understands, each turned into one in-memory shape (`SourceData`).

``synthetic`` / ``reports`` (a hospital export, the shape of the embedded cohort)::

    <root>/reports.csv   exam_id, patient_id, report       one Spanish report per exam
    <root>/**/*.dcm      DICOMs at any depth; an image belongs to the exam whose id equals its folder name,
                         AccessionNumber, StudyID or StudyInstanceUID (first match): nested per patient and
                         exam, or flat like the embedded cohort (dicom/<exam>_<side>_<view>.dcm, linked by
                         its AccessionNumber)
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

import codecs
import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("exam_id", "patient_id", "report")
NAME_COLUMNS = ("patient_name", "name", "nombre")  # optional: names to scrub from the report text
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
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (file, raw exam id, reason)


@dataclass
class Table:
    """A CSV read as strings, with the rows that could not be read (line number, first field, reason)."""

    frame: pd.DataFrame
    encoding: str
    delimiter: str
    skipped: list[tuple[int, str, str]] = field(default_factory=list)


def read_table(path: str | Path, sep: str | None = None) -> Table:
    """Read a CSV as strings, whatever the exporter: UTF-8 (BOM or not), UTF-16 (BOM), cp1252/Latin-1 (per
    line, so one Latin-1 row in a UTF-8 file is fine), CRLF, ',' ';' tab or '|' delimiters (detected from the
    header unless `sep` is given). A row with broken quoting or the wrong number of fields is skipped and
    reported in `Table.skipped`; only a file without a header row is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the file: {err.strerror}") from None
    text, encoding = decode_table_bytes(raw)
    lines = text.splitlines(keepends=True)
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise ValueError(f"{path}: empty file (no header row)")
    delimiter = sep or _detect_delimiter(lines[0])
    header = [c.strip() for c in next(csv.reader([lines[0]], delimiter=delimiter))]
    rows, skipped = _parse_rows(lines, delimiter, len(header))
    log.info("%s: read as %s, delimiter %r, %d rows", path.name, encoding, delimiter, len(rows))
    if encoding not in ("utf-8", "utf-8-sig", "utf-16"):
        log.warning("%s is not UTF-8; read it as %s (save it as UTF-8 to silence this)", path.name, encoding)
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    return Table(frame, encoding.replace("-sig", ""), delimiter, skipped)


def decode_table_bytes(raw: bytes) -> tuple[str, str]:
    """Text and the encoding it was read with (BOMs first, then UTF-8, then cp1252/Latin-1 line by line)."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
        bom = "-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", errors="replace"), "utf-16"
    else:
        bom = ""
        if b"\x00" in raw[:400]:  # UTF-16 without a BOM: every other byte of ASCII text is NUL
            return raw.decode("utf-16-le" if raw[1:2] == b"\x00" else "utf-16-be", errors="replace"), "utf-16"
    try:
        return raw.decode("utf-8"), f"utf-8{bom}"
    except UnicodeDecodeError:
        pass
    used, parts = set(), []
    for line in raw.splitlines(keepends=True):
        for enc in ("utf-8", "cp1252", "latin-1"):
            try:
                parts.append(line.decode(enc))
                if not line.isascii():
                    used.add(enc)
                break
            except UnicodeDecodeError:
                continue
    non_utf8 = "cp1252" if "cp1252" in used else "latin-1"
    return "".join(parts), (f"utf-8+{non_utf8}" if "utf-8" in used and len(used) > 1 else non_utf8)


def _detect_delimiter(header: str) -> str:
    counts = {d: len(next(csv.reader([header], delimiter=d))) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: (counts[d], d == ","))


_ID_LIKE = re.compile(r"[\w.\-/:]{1,64}")


def _parse_rows(lines: list[str], delimiter: str, n_cols: int) -> tuple[list[list[str]], list]:
    """Records of the data lines; a bad record is skipped and parsing restarts on the line after its first.

    A record is bad when csv (strict) rejects it, when it has the wrong number of fields, or when an opened
    quote swallowed what looks like following rows (a continuation line that parses alone as a full row
    starting with an id-like field).
    """
    rows: list[list[str]] = []
    skipped: list[tuple[int, str, str]] = []
    start = 1
    while start < len(lines):
        reader = csv.reader(iter(lines[start:]), delimiter=delimiter, strict=True)
        first = start
        try:
            for record in reader:
                end = start + reader.line_num
                if not any(f.strip() for f in record):
                    first = end
                    continue
                reason = _record_problem(record, lines[first + 1 : end], delimiter, n_cols)
                if reason:
                    skipped.append((first + 1, _first_field(lines[first], delimiter), reason))
                    start = first + 1
                    break
                rows.append(record)
                first = end
            else:
                start = len(lines)
        except csv.Error as err:
            skipped.append((first + 1, _first_field(lines[first], delimiter), f"broken quoting ({err})"))
            start = first + 1
    return rows, skipped


def _record_problem(record: list[str], continuation: list[str], delimiter: str, n_cols: int) -> str | None:
    if len(record) != n_cols:
        return f"broken quoting or wrong number of fields ({len(record)} instead of {n_cols})"
    for line in continuation:
        try:
            alone = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        if len(alone) == n_cols and _ID_LIKE.fullmatch(alone[0].strip()):
            return "broken quoting (an unclosed quote runs into the next rows)"
    return None


def _first_field(line: str, delimiter: str) -> str:
    value = line.split(delimiter, 1)[0].strip().strip('"').strip()
    return value if _ID_LIKE.fullmatch(value) else ""


def require_columns(df: pd.DataFrame, columns: tuple[str, ...] | list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")


def read_reports(path: str | Path) -> tuple[pd.DataFrame, Table]:
    """reports.csv of a hospital export (+ an optional patient_name / name column used for scrubbing)."""
    path = Path(path)
    table = read_table(path)
    df = table.frame
    if "report" not in df.columns and "text" in df.columns:
        df = df.rename(columns={"text": "report"})
    require_columns(df, REPORT_COLUMNS, path)
    name_col = next((c for c in NAME_COLUMNS if c in df.columns), None)
    out = df[list(REPORT_COLUMNS)].copy()
    for col in ("exam_id", "patient_id"):
        out[col] = out[col].str.strip()
    out["names"] = df[name_col] if name_col else ""
    out["line"] = _line_numbers(table)
    return out, table


def _line_numbers(table: Table) -> list[int]:
    """Approximate source line of each row (for messages; multi-line reports make it a lower bound)."""
    skipped = {line for line, _, _ in table.skipped}
    lines, line = [], 2
    for _ in range(len(table.frame)):
        while line in skipped:
            line += 1
        lines.append(line)
        line += 1
    return lines


def table_problems(path: Path, table: Table) -> list[tuple[str, str, str]]:
    """Quarantine rows (file, raw exam id, reason) for the rows a table could not read."""
    return [(str(path), first, f"{why}: row at line {line} skipped") for line, first, why in table.skipped]


def split_duplicates(df: pd.DataFrame, column: str, path: Path) -> tuple[pd.DataFrame, list]:
    """Keep the first row of each `column` value; later ones and blank values become quarantine rows."""
    blank = df[column].str.strip() == ""
    dupes = df[column].duplicated(keep="first") & ~blank
    problems = [(str(path), "", f"missing {column}: row skipped") for _ in range(int(blank.sum()))]
    problems += [
        (str(path), v, f"duplicate {column} in {path.name}: the first row is kept")
        for v in df.loc[dupes, column]
    ]
    return df[~blank & ~dupes].reset_index(drop=True), problems


def read_images_table(path: str | Path, root: Path) -> tuple[pd.DataFrame, Table]:
    """images.csv: one row per image file; paths relative to the data root (absolute paths are kept)."""
    path = Path(path)
    table = read_table(path)
    df = table.frame
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
    return out, table


def resolve_path(value: str, root: Path) -> str:
    p = Path(value)
    return (p if p.is_absolute() else root / p).as_posix()


def read_labels(path: str | Path, column: str) -> tuple[pd.DataFrame, Table]:
    path = Path(path)
    table = read_table(path)
    df = table.frame
    require_columns(df, ("exam_id", column), path)
    return (
        pd.DataFrame(
            {
                "exam_id": df["exam_id"].str.strip(),
                "patient_id": df["patient_id"].str.strip() if "patient_id" in df.columns else "",
                "label": df[column].str.strip(),
            }
        ),
        table,
    )


def load_reports_layout(root: Path, name: str = "reports") -> SourceData:
    reports_file = root / "reports.csv"
    if not reports_file.is_file():
        hint = " (run `dvc repro cohort` to generate the demo cohort)" if name == "synthetic" else ""
        raise FileNotFoundError(f"{reports_file}: reports file not found{hint}")
    reports, table = read_reports(reports_file)
    reports, dupes = split_duplicates(reports, "exam_id", reports_file)
    source = SourceData(
        name,
        root,
        reports=reports,
        table_file=reports_file,
        encoding=table.encoding,
        problems=table_problems(reports_file, table) + dupes,
    )
    _add_images_table(source)
    return source


def load_labels_layout(root: Path, label_column: str) -> SourceData:
    """labels.csv (one or more rows per exam), or a label column in images.csv (one label per image)."""
    labels_file, images_file = root / "labels.csv", root / "images.csv"
    if labels_file.is_file():
        labels, table = read_labels(labels_file, label_column)
        source = SourceData(
            "labels",
            root,
            labels=labels,
            table_file=labels_file,
            encoding=table.encoding,
            problems=table_problems(labels_file, table),
        )
        _add_images_table(source)
        return source
    if images_file.is_file():
        images, table = read_images_table(images_file, root)
        if label_column in table.frame.columns:
            labels = images[["exam_id", "patient_id"]].assign(label=table.frame[label_column].str.strip())
            return SourceData(
                "labels",
                root,
                labels=labels,
                images=images,
                table_file=images_file,
                encoding=table.encoding,
                problems=table_problems(images_file, table),
            )
    raise FileNotFoundError(
        f"{labels_file}: labels file not found (the labels layout needs labels.csv, or an images.csv "
        f"with a '{label_column}' column)"
    )


def _add_images_table(source: SourceData) -> None:
    images_file = source.root / "images.csv"
    if images_file.is_file():
        source.images, table = read_images_table(images_file, source.root)
        source.problems += table_problems(images_file, table)


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
