"""From a data source and its image headers to the de-identified ingest tables.

Exams come from the reports or labels file; images from the header scan. Every rule that drops an input
adds a quarantine row with the reason, so nothing disappears silently: unusable files, non-mammograms,
'FOR PROCESSING' images (unless kept), unknown laterality or non-standard views, duplicates, images whose
exam has no report or label, reports or labels without images, empty reports, unmapped labels.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path

import pandas as pd

from breast_density.imaging.dicom_header import (
    ImageHeader,
    find_dicom_files,
    normalise_laterality,
    scan_headers,
)
from breast_density.imaging.parallel import imap_files, worker_pool
from breast_density.ingest.deid import name_tokens, names_in_text, pseudonymize, scrub_report
from breast_density.ingest.dicom_deid import CopyTask, copy_target, write_copy
from breast_density.ingest.quarantine import Quarantine
from breast_density.ingest.sources import LabelMapper, SourceData
from breast_density.ingest.special_files import kind_of

log = logging.getLogger(__name__)

IMAGE_COLUMNS = [
    "image_id",
    "exam_id",
    "patient_id",
    "laterality",
    "view",
    "vendor",
    "photometric",
    "transfer_syntax",
    "rows",
    "cols",
    "path",
]
REPORT_COLUMNS = ["exam_id", "patient_id", "text", "given_label"]
LATERALITIES = ("L", "R")
VIEWS = ("CC", "MLO")
_EXAM_KEYS = ("folder", "AccessionNumber", "StudyID", "StudyInstanceUID")


@dataclass(frozen=True)
class IngestOptions:
    key: str
    class_names: list[str]
    label_map: dict[str, str] = field(default_factory=dict)
    keep_for_processing: bool = False
    workers: int = 1
    copies_dir: Path | None = None  # where copies are written; None: images.csv points at the raw files
    copies_published: Path | None = None  # where images.csv says they are (the folder after a rename)
    retain_device_identity: bool = False  # PS3.15 options of the DICOM copies
    clean_descriptors: bool = False


class IngestStopError(ValueError):
    """No usable exam or image remains; carries the quarantine rows so the caller can still write them."""

    def __init__(self, message: str, quarantine: pd.DataFrame) -> None:
        super().__init__(message)
        self.quarantine = quarantine


@dataclass
class IngestOutcome:
    images: pd.DataFrame
    reports: pd.DataFrame
    quarantine: pd.DataFrame
    metrics: dict


@dataclass
class _Exam:
    patient_id: str
    text: str = ""
    label: str = ""


@dataclass
class _Image:
    head: ImageHeader
    exam: str  # raw exam id
    patient: str  # raw patient id
    laterality: str
    view: str
    vendor: str


class _Assembler:
    def __init__(self, source: SourceData, opts: IngestOptions) -> None:
        self.source, self.opts = source, opts
        self.q = Quarantine(source.root, opts.key)
        self.pseudo = functools.lru_cache(maxsize=None)(functools.partial(pseudonymize, key=opts.key))
        self.exams: dict[str, _Exam] = {}
        self.rejected_exams: dict[str, str] = {}  # raw exam id -> why its images cannot be used
        self.names: dict[str, set[str]] = defaultdict(set)  # raw patient or exam id -> PatientName values
        self.label_disagreements = 0
        self.unmapped: Counter[str] = Counter()  # raw label value -> rows that carry it
        self.missing = "report" if source.reports is not None else "label"
        for file, raw_exam, reason in source.problems:
            if raw_exam:
                self.q.identifiers.add(raw_exam)
            self.q.add(file, self.pseudo(raw_exam) if raw_exam else "", reason)

    # ---- exams ------------------------------------------------------------------------------------------

    def read_exams(self) -> None:
        table_file = self.source.table_file or self.source.root
        if self.source.reports is not None:
            for r in self.source.reports.itertuples(index=False):
                self.q.identifiers.update(v for v in (r.exam_id, r.patient_id) if v)
                given = [n for n in (str(r.names).strip(),) if n] + names_in_text(str(r.report))
                self.q.name_tokens.update(name_tokens(given))
                self.names[r.exam_id].update(given)
                if not str(r.report).strip():
                    self.q.add(table_file, self.pseudo(r.exam_id), "empty report")
                    self.rejected_exams[r.exam_id] = "exam without report: the report is empty"
                    continue
                self.exams[r.exam_id] = _Exam(r.patient_id, text=str(r.report))
        if self.source.labels is not None:
            mapper = LabelMapper(self.opts.label_map, self.source.default_label_map, self.opts.class_names)
            for exam_id, rows in self.source.labels.groupby("exam_id", sort=False):
                self._read_label(str(exam_id), rows, mapper, table_file)

    def _read_label(self, exam_id: str, rows: pd.DataFrame, mapper: LabelMapper, table_file: Path) -> None:
        patients = [p for p in rows["patient_id"] if p]
        self.q.identifiers.update({exam_id, *patients})
        values = [v for v in rows["label"] if str(v).strip()]
        if not values:
            self.q.add(table_file, self.pseudo(exam_id), "no density label")
            self.rejected_exams[exam_id] = "exam without label: its density is empty"
            return
        unknown = sorted({v for v in values if mapper(v) is None})
        self.unmapped.update(v for v in values if mapper(v) is None)
        if unknown:
            self.q.add(table_file, self.pseudo(exam_id), f"unmapped label: {unknown} not in data.label_map")
            self.rejected_exams[exam_id] = f"exam without label: {unknown} not in data.label_map"
            return
        mapped = [mapper(v) for v in values]
        self.label_disagreements += len(set(mapped)) > 1
        self.exams[exam_id] = _Exam(patients[0] if patients else "", label=mapper.densest(mapped))

    def unmapped_message(self) -> str:
        """One line naming the raw label values no class takes, with counts and the params line to add."""
        if not self.unmapped:
            return ""
        values = sorted(self.unmapped, key=lambda v: (-self.unmapped[v], v))
        shown = ", ".join(f"{v!r} ({self.unmapped[v]})" for v in values[:12])
        more = f" and {len(values) - 12} more" if len(values) > 12 else ""
        classes = self.opts.class_names
        pairs = zip(sorted(values)[:8], classes + [classes[-1]] * 8, strict=False)
        example = ", ".join(f'"{v}": {c}' for v, c in pairs)
        return (
            f"label values not in data.label_map (rows): {shown}{more}; classes are {classes}; "
            f"map them in params.yaml, e.g. data: label_map: {{{example}}}"
        )

    # ---- images -----------------------------------------------------------------------------------------

    def list_images(self) -> tuple[list[str], list[dict | None]]:
        table = self.source.images
        if table is not None:
            rows = table.to_dict("records")
            paths = [r["path"] for r in rows]
        else:
            paths = [p.as_posix() for p in find_dicom_files(self.source.root)]
            rows = [None] * len(paths)
        if not paths:
            table_file = self.source.table_file or self.source.root
            for exam in self.exams:
                self.q.add(table_file, self.pseudo(exam), f"{self.missing} without images")
            raise IngestStopError(
                f"{self.source.root}: no image files found (DICOM files or an images.csv)", self.q.frame()
            )
        return paths, rows

    def scan_images(self, paths: list[str], rows: list[dict | None], pool: Pool | None) -> list[_Image]:
        how = f"{self.opts.workers} worker processes" if pool is not None else "one process"
        log.info("ingest: scanning %d image files in %s", len(paths), how)
        accepted: list[_Image] = []
        seen_sop: dict[str, str] = {}
        seen_slot: dict[tuple[str, str, str], str] = {}
        seen_file: set[str] = set()
        usable = []
        for path, row in zip(paths, rows, strict=True):
            reason = self._file_problem(path, seen_file)
            if reason is None:
                usable.append((path, row))
                continue
            exam = (row or {}).get("exam_id", "")
            self.q.identifiers.update(v for v in (exam, (row or {}).get("patient_id", "")) if v)
            self.q.add(path, self.pseudo(exam) if exam else "", reason)
        scanned = scan_headers([p for p, _ in usable], pool)
        for (_, row), head in zip(usable, scanned, strict=True):
            image = self._link(row, head)
            reason = self._problem(image) or self._duplicate(image, seen_sop, seen_slot)
            if reason:
                self.q.add(head.path, self.pseudo(image.exam) if image.exam else "", reason)
                continue
            accepted.append(image)
        return accepted

    def _file_problem(self, path: str, seen: set[str]) -> str | None:
        """Checks on the path itself, before any byte is read: outside the root, special files, duplicates."""
        norm = os.path.normpath(os.path.abspath(path))
        root = os.path.normpath(os.path.abspath(self.source.root))
        if os.path.commonpath([norm, root]) != root:
            return "image path outside data.root: not a DVC dependency of ingest (move it under data.root)"
        if norm in seen:
            return "duplicate file: the same file is already listed for another image or patient (first kept)"
        seen.add(norm)
        kind = kind_of(path)
        if kind:
            return f"not a regular file: {kind}"
        if not os.path.exists(path):
            return "image file missing"
        if os.path.isdir(path):
            return "not a regular file: a folder"
        if not os.access(path, os.R_OK):
            return "unreadable file: permission denied"
        return None

    def _link(self, row: dict | None, head: ImageHeader) -> _Image:
        # the folder name is an identifier only where it names the exam (checked below), not e.g. "img"
        keys = (v for k, v in head.exam_keys.items() if k != "folder")
        self.q.identifiers.update(v for v in (*keys, head.patient_id, head.sop_uid) if v)
        self.q.name_tokens.update(name_tokens(head.patient_names))
        if row is not None:
            exam = row["exam_id"]
        else:
            known = self.exams.keys() | self.rejected_exams.keys()
            exam = next((head.exam_keys[k] for k in _EXAM_KEYS if head.exam_keys.get(k) in known), "")
            # no match: the first key in the same order, so the quarantine row names a plausible exam
            exam = exam or next((head.exam_keys[k] for k in _EXAM_KEYS if head.exam_keys.get(k)), "")
        if exam:
            self.q.identifiers.add(exam)
        info = self.exams.get(exam)
        patient = (row or {}).get("patient_id") or (info.patient_id if info else "") or head.patient_id
        for owner in (exam, patient, head.patient_id):
            if owner:
                self.names[owner].update(head.patient_names)
        return _Image(
            head=head,
            exam=exam,
            patient=patient,
            laterality=normalise_laterality(row["laterality"] if row else head.laterality),
            view=(row["view"] if row else head.view).upper(),
            vendor=((row or {}).get("vendor") or head.vendor or "unknown"),
        )

    def _problem(self, image: _Image) -> str | None:
        head = image.head
        if head.problem:
            return head.problem
        if head.kind == "dicom" and head.modality != "MG":
            return f"not a mammogram: Modality {head.modality or 'missing'}"
        if head.kind == "dicom" and head.intent == "FOR PROCESSING" and not self.opts.keep_for_processing:
            return "FOR PROCESSING image: raw detector data (set ingest.keep_for_processing to keep it)"
        if not image.patient:
            return "missing patient id: no patient_id in the table and no PatientID in the header"
        if image.laterality not in LATERALITIES:
            return f"laterality unknown: {image.laterality or 'missing'}"
        if image.view not in VIEWS:
            return f"unsupported view: {image.view or 'missing'} (only {'/'.join(VIEWS)})"
        if image.exam in self.rejected_exams:
            return self.rejected_exams[image.exam]
        if image.exam not in self.exams:
            return f"exam without {self.missing}: no {self.missing} for this image's exam"
        report_patient = self.exams[image.exam].patient_id
        if (
            self.source.reports is not None
            and head.patient_id
            and report_patient
            and head.patient_id != report_patient
        ):
            return "patient mismatch: DICOM PatientID differs from the report's patient_id"
        return None

    def _duplicate(self, image: _Image, seen_sop: dict, seen_slot: dict) -> str | None:
        sop, slot = image.head.sop_uid, (image.exam, image.laterality, image.view)
        if sop and sop in seen_sop:
            return f"duplicate image: same SOPInstanceUID as {self.q.redact_path(seen_sop[sop])}"
        if slot in seen_slot:
            return (
                f"duplicate image: exam already has {image.laterality} {image.view} "
                f"({self.q.redact_path(seen_slot[slot])})"
            )
        if sop:
            seen_sop[sop] = image.head.path
        seen_slot[slot] = image.head.path
        return None

    # ---- outputs ----------------------------------------------------------------------------------------

    def image_id(self, image: _Image) -> str:
        return f"{self.pseudo(image.exam)}_{image.laterality}_{image.view}"

    def copy_images(self, images: list[_Image], pool: Pool | None) -> dict[str, str]:
        """image_id -> path written to images.csv (a de-identified copy, or the raw file)."""
        if self.opts.copies_dir is None:
            return {self.image_id(i): i.head.path for i in images}
        tasks = [
            CopyTask(
                source=i.head.path,
                target=copy_target(self.opts.copies_dir, self.image_id(i), i.head.path).as_posix(),
                image_id=self.image_id(i),
                exam_id=self.pseudo(i.exam),
                patient_id=self.pseudo(i.patient),
                laterality=i.laterality,
                view=i.view,
                retain_device_identity=self.opts.retain_device_identity,
                clean_descriptors=self.opts.clean_descriptors,
                names=tuple(self.names[i.exam] | self.names[i.patient]),
            )
            for i in images
        ]
        done = {}
        for task, problem in zip(tasks, imap_files(write_copy, tasks, pool, "ingest copies"), strict=True):
            if problem:
                self.q.add(task.source, task.exam_id, problem)
            else:
                published = self.opts.copies_published or self.opts.copies_dir
                done[task.image_id] = (published / Path(task.target).name).as_posix()
        return done

    def tables(self, images: list[_Image], paths: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        kept = [i for i in images if self.image_id(i) in paths]
        with_images = {i.exam for i in kept}
        table_file = self.source.table_file or self.source.root
        for exam in self.exams:
            if exam not in with_images:
                self.q.add(table_file, self.pseudo(exam), f"{self.missing} without images")
        image_rows = [
            {
                "image_id": self.image_id(i),
                "exam_id": self.pseudo(i.exam),
                "patient_id": self.pseudo(i.patient),
                "laterality": i.laterality,
                "view": i.view,
                "vendor": i.vendor,
                "photometric": i.head.photometric,
                "transfer_syntax": i.head.transfer_syntax,
                "rows": i.head.rows,
                "cols": i.head.cols,
                "path": paths[self.image_id(i)],
            }
            for i in kept
        ]
        report_rows = []
        image_patient = {i.exam: i.patient for i in kept}
        for exam in sorted(with_images):
            info = self.exams[exam]
            patient = info.patient_id or image_patient[exam]
            names = self.names[exam] | self.names[patient]
            report_rows.append(
                {
                    "exam_id": self.pseudo(exam),
                    "patient_id": self.pseudo(patient),
                    "text": scrub_report(info.text, names),
                    "given_label": info.label,
                }
            )
        images_df = pd.DataFrame(image_rows, columns=IMAGE_COLUMNS).sort_values("image_id", kind="stable")
        reports_df = pd.DataFrame(report_rows, columns=REPORT_COLUMNS).sort_values("exam_id", kind="stable")
        return images_df.reset_index(drop=True), reports_df.reset_index(drop=True)


def ingest_source(source: SourceData, opts: IngestOptions) -> IngestOutcome:
    """Link, check, de-identify; raises ValueError when nothing usable remains."""
    asm = _Assembler(source, opts)
    asm.read_exams()
    table = source.table_file or source.root
    if not asm.exams:
        why = asm.unmapped_message() or _count_line(asm) or f"every {asm.missing} is empty"
        raise IngestStopError(f"{table.name}: no usable exam: {why}", asm.q.frame())
    if asm.unmapped:
        log.warning("%s: %s", table.name, asm.unmapped_message())
    files, rows = asm.list_images()
    with worker_pool(opts.workers, len(files)) as pool:
        accepted = asm.scan_images(files, rows, pool)
        paths = asm.copy_images(accepted, pool)
    images, reports = asm.tables(accepted, paths)
    if images.empty:
        raise IngestStopError(f"nothing usable remains after quarantine ({_count_line(asm)})", asm.q.frame())
    metrics = {
        "source": source.name,
        "exams": len(reports),
        "images": len(images),
        "patients": int(images["patient_id"].nunique()),
        "quarantined": len(asm.q),
        "quarantined_by_reason": asm.q.counts(),
        "images_per_vendor": {
            str(k): int(v) for k, v in images["vendor"].value_counts().sort_index().items()
        },
        "table_encoding": source.encoding,
        "deidentified_copies": opts.copies_dir is not None,
    }
    if source.labels is not None:
        metrics["exams_per_label"] = {c: int((reports["given_label"] == c).sum()) for c in opts.class_names}
        metrics["exams_with_breast_label_disagreement"] = asm.label_disagreements
    return IngestOutcome(images, reports, asm.q.frame(), metrics)


def _count_line(asm: _Assembler) -> str:
    return ", ".join(f"{k}: {v}" for k, v in asm.q.counts().items())
