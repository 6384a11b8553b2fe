"""Assemble the embedded synthetic cohort: patients, exams, reports, DICOM files and the ground truth.

Planning (who, when, which density, which vendor, which report) runs in one process from one seeded stream;
each exam's images come from their own stream seeded by (seed, exam index), so the output is byte-identical
whatever the number of worker processes.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from breast_density.cohort import film, phantom, vendors
from breast_density.cohort.reports import PatientPHI, SyntheticReport, format_exam_date, make_phi, make_report
from breast_density.cohort.text_noise import is_eligible
from breast_density.imaging.truth import ARTEFACT, BREAST, IMPLANT, PECTORAL, mask_relpath
from breast_density.io import write_bytes, write_csv, write_json
from breast_density.params import CohortParams

log = logging.getLogger(__name__)

DENSITIES = ("A", "B", "C", "D")  # BI-RADS density categories the cohort renders (prior order)
DENSITY_LABELS = {
    "A": "almost entirely fatty",
    "B": "scattered fibroglandular",
    "C": "heterogeneously dense",
    "D": "extremely dense",
}
VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))  # hanging-protocol order
_KEEP_DENSITY = 0.7  # a returning patient keeps her density this often (density is fairly stable over time)
_KEEP_VENDOR = 0.8  # ... and is imaged on the same system this often
_FIRST_DAY, _LAST_DAY = dt.date(2016, 1, 4), dt.date(2024, 6, 28)
# Independent random streams, so adding e.g. a report phrasing never changes the images.
_PLAN, _PHI, _REPORT, _IMAGE = 0, 1, 2, 3
# Rare anatomy and views, for every vendor: breasts beyond the usual size range (touching the detector edges,
# or small), implants (per patient) and magnification views (per image).
_LARGE, _SMALL, _IMPLANT, _MAGNIFIED = 0.05, 0.05, 0.03, 0.02
_ZOOM = (1.5, 1.8)


@dataclass(frozen=True)
class Patient:
    index: int
    patient_id: str
    phi: PatientPHI
    anatomy: phantom.Anatomy


@dataclass(frozen=True)
class ExamPlan:
    index: int
    exam_id: str
    patient: Patient
    density: str  # true density: drives the images
    density_reported: str  # what the reader wrote (differs under reader noise)
    vendor: str
    exam_date: str  # YYYYMMDD
    exam_time: str  # HHMMSS
    has_statement: bool
    fraction: float  # exam-level target fibroglandular fraction


@dataclass(frozen=True)
class CohortSummary:
    exams: int
    images: int
    out_dir: Path
    truth_dir: Path
    metrics: dict


def draw_density(rng: np.random.Generator, prior: list[float] | np.ndarray) -> str:
    return DENSITIES[int(rng.choice(len(DENSITIES), p=np.asarray(prior, dtype=float)))]


def reader_relabel(rng: np.random.Generator, density: str, rate: float) -> str:
    """With probability `rate`, the reader calls an adjacent category (only one neighbour at the ends)."""
    if rng.random() >= rate:
        return density
    k = DENSITIES.index(density)
    neighbours = [j for j in (k - 1, k + 1) if 0 <= j < len(DENSITIES)]
    return DENSITIES[neighbours[int(rng.integers(len(neighbours)))]]


def plan_cohort(cfg: CohortParams, seed: int) -> list[ExamPlan]:
    """Patients and exams with every label-level choice made; no images or text yet."""
    rng = np.random.default_rng([seed, _PLAN])
    patients: list[Patient] = []
    last: dict[int, tuple[str, str, dt.date]] = {}  # patient index -> (density, vendor, date) of latest exam
    used_ids: set[str] = set()
    exams: list[ExamPlan] = []
    span = (_LAST_DAY - _FIRST_DAY).days
    for i in range(cfg.exams):
        if patients and rng.random() < cfg.repeat_patient_rate:
            patient = patients[int(rng.integers(len(patients)))]
            prev_density, prev_vendor, prev_date = last[patient.index]
            density = prev_density if rng.random() < _KEEP_DENSITY else draw_density(rng, cfg.class_prior)
            vendor = prev_vendor if rng.random() < _KEEP_VENDOR else _draw_vendor(rng)
            date = prev_date + dt.timedelta(days=int(rng.integers(330, 800)))  # annual/biennial screening
        else:
            density = draw_density(rng, cfg.class_prior)
            vendor = _draw_vendor(rng)
            date = _FIRST_DAY + dt.timedelta(days=int(rng.integers(span)))
            patient = _new_patient(rng, seed, len(patients), density, used_ids)
            patients.append(patient)
        last[patient.index] = (density, vendor, date)
        exams.append(
            ExamPlan(
                index=i,
                exam_id=f"EX{i + 1:05d}",
                patient=patient,
                density=density,
                density_reported=reader_relabel(rng, density, cfg.reader_noise),
                vendor=vendor,
                exam_date=date.strftime("%Y%m%d"),
                exam_time=_clock_time(rng),
                has_statement=bool(rng.random() >= cfg.no_statement_rate),
                fraction=phantom.sample_fraction(rng, density),
            )
        )
    return exams


def _clock_time(rng: np.random.Generator) -> str:
    hour, minute, second = int(rng.integers(8, 20)), int(rng.integers(60)), int(rng.integers(60))
    return f"{hour:02d}{minute:02d}{second:02d}"


def _draw_vendor(rng: np.random.Generator) -> str:
    return vendors.VENDOR_NAMES[int(rng.choice(len(vendors.VENDOR_NAMES), p=vendors.VENDOR_WEIGHTS))]


def _new_patient(
    rng: np.random.Generator, seed: int, index: int, density: str, used_ids: set[str]
) -> Patient:
    while True:
        patient_id = f"P{int(rng.integers(10**6, 10**7))}"
        if patient_id not in used_ids:
            used_ids.add(patient_id)
            break
    # Fatty breasts tend to be larger: a mild negative size-density correlation, as in screening data.
    k = DENSITIES.index(density)
    size = float(np.clip(rng.beta(2.2, 2.2) + 0.08 * (1.5 - k), 0.0, 1.0))
    extreme = rng.random()
    if extreme < _LARGE:
        size = float(rng.uniform(1.05, 1.2))
    elif extreme < _LARGE + _SMALL:
        size = float(rng.uniform(-0.3, -0.1))
    anatomy = phantom.Anatomy(
        size=size, shape_seed=int(rng.integers(2**31)), implant=bool(rng.random() < _IMPLANT)
    )
    phi = make_phi(np.random.default_rng([seed, _PHI, index]))
    return Patient(index=index, patient_id=patient_id, phi=phi, anatomy=anatomy)


def write_reports(exams: list[ExamPlan], cfg: CohortParams, seed: int) -> list[SyntheticReport]:
    return [
        make_report(
            np.random.default_rng([seed, _REPORT, e.index]),
            e.density_reported,
            e.patient.phi,
            e.exam_date,
            text_noise=cfg.text_noise,
            has_statement=e.has_statement,
        )
        for e in exams
    ]


@dataclass(frozen=True)
class _ExamTask:
    exam: ExamPlan
    seed: int
    scale: float
    root: Path  # staging folder the DICOMs are written into
    truth_root: Path  # staging folder of the truth (true masks)


def _dicom_name(patient: PatientPHI) -> str:
    """'María García López' -> 'GARCÍA LÓPEZ^MARÍA' (DICOM PN: family^given)."""
    parts = patient.name.split()
    given, family = " ".join(parts[:-2]) or parts[0], " ".join(parts[-2:])
    return f"{family.upper()}^{given.upper()}"


def _uids(seed: int, exam: ExamPlan) -> tuple[str, str, list[str]]:
    study = vendors.make_uid(seed, "study", exam.exam_id)
    series = vendors.make_uid(seed, "series", exam.exam_id)
    sops = [vendors.make_uid(seed, "image", exam.exam_id, lat, view) for lat, view in VIEWS]
    return study, series, sops


def _accession(exam: ExamPlan) -> str:
    """The RIS links a report to its PACS images through the accession number: here the report's exam id."""
    return exam.exam_id


def _study_id(exam: ExamPlan) -> str:
    return f"{700000 + exam.index * 37 % 100000:06d}"


def dicom_relpath(exam_id: str, laterality: str, view: str) -> str:
    """Where an image lies in the export: one flat folder (DVC hashes a folder per exam far slower than its
    files); the exam is named in the file name and, for ingest, in the AccessionNumber."""
    return f"dicom/{exam_id}_{laterality}_{view}.dcm"


def render_exam(task: _ExamTask) -> list[dict]:
    """Render and write the four views of one exam; returns one truth row per image."""
    exam, vendor = task.exam, vendors.vendor_by_name(task.exam.vendor)
    rng = np.random.default_rng([task.seed, _IMAGE, exam.index])
    study_uid, series_uid, sop_uids = _uids(task.seed, exam)
    rows = []
    for n, (lat, view) in enumerate(VIEWS):
        # Left and right, CC and MLO of one exam differ slightly, as paired views do.
        fraction = float(np.clip(exam.fraction + rng.normal(0, 0.02), 0.01, 0.95))
        zoom = float(rng.uniform(*_ZOOM)) if rng.random() < _MAGNIFIED else 1.0
        stored, truth, rendered = _render_stored(rng, vendor, task.scale, view, lat, exam, fraction, zoom)
        # Larger breasts compress thicker; the automatic exposure raises the tube voltage with thickness.
        thickness = float(np.clip(35 + 35 * exam.patient.anatomy.size + rng.normal(0, 4), 20, 90))
        rel = Path(dicom_relpath(exam.exam_id, lat, view))
        header = vendors.DicomHeader(
            patient_id=exam.patient.patient_id,
            patient_name=_dicom_name(exam.patient.phi),
            birth_date=exam.patient.phi.birth_date,
            study_date=exam.exam_date,
            study_time=exam.exam_time,
            accession=_accession(exam),
            study_id=_study_id(exam),
            study_uid=study_uid,
            series_uid=series_uid,
            sop_uid=sop_uids[n],
            laterality=lat,
            view=view,
            instance=n + 1,
            age_years=_age(exam.patient.phi.birth_date, exam.exam_date),
            thickness_mm=thickness,
            force_n=float(rng.uniform(60, 150)),
            kvp=float(np.clip(26 + 0.12 * (thickness - 30) + rng.normal(0, 0.5), 24, 35)),
        )
        window = vendors.vendor_window(rng, vendor)
        vendors.write_dicom(task.root / rel, stored, window, vendor, header, task.scale)
        mask_rel = mask_relpath(exam.exam_id, lat, view)
        ok, png = cv2.imencode(".png", truth, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError(f"could not encode the true mask of {rel}")
        write_bytes(task.truth_root / mask_rel, png.tobytes())
        rows.append(
            {
                "exam_id": exam.exam_id,
                "laterality": lat,
                "view": view,
                "vendor": vendor.name,
                "path": rel.as_posix(),
                "fibroglandular_fraction": round(rendered.fibroglandular_fraction, 4),
                "mask": mask_rel,
                "implant": bool(rendered.implant.any()),
                "magnified": zoom != 1.0,
            }
        )
    return rows


def _render_stored(
    rng: np.random.Generator,
    vendor: vendors.VendorProfile,
    scale: float,
    view: str,
    lat: str,
    exam: ExamPlan,
    fraction: float,
    zoom: float,
) -> tuple[np.ndarray, np.ndarray, phantom.View]:
    """(stored pixels, true label mask, the rendered view) of one image on `vendor`."""
    shape, spacing = vendor.shape(scale), vendor.spacing(scale)
    anatomy = exam.patient.anatomy
    if vendor.transfer != "film":
        rendered = phantom.render_view(rng, shape, view, lat, exam.density, fraction, anatomy, spacing, zoom)
        stored = vendors.to_stored(rng, rendered.image, vendor, scale, rendered.marker)
        labels = _truth_labels(rendered.outline, rendered.implant, rendered.marker, rendered.pectoral)
        return stored, labels, rendered
    pad = film.layout(rng, shape)
    inner = pad.film_shape(shape)
    rendered = phantom.render_view(rng, inner, view, lat, exam.density, fraction, anatomy, spacing, zoom)
    scanned = film.digitise(
        rng, rendered.image, rendered.outline, rendered.implant, rendered.marker, shape, pad, lat == "L"
    )
    top = 2**vendor.bits_stored - 1
    stored = np.rint(scanned.values * np.float32(top)).astype(np.uint16)
    pectoral = np.zeros(shape, dtype=bool)  # the film's frame: the muscle sits inside the padding
    pectoral[pad.top : pad.top + inner[0], pad.left : pad.left + inner[1]] = rendered.pectoral
    return stored, _truth_labels(scanned.outline, scanned.implant, scanned.artefact, pectoral), rendered


def _truth_labels(
    outline: np.ndarray, implant: np.ndarray, artefact: np.ndarray, pectoral: np.ndarray
) -> np.ndarray:
    labels = np.zeros(outline.shape, dtype=np.uint8)
    labels[artefact & ~outline] = ARTEFACT
    labels[outline] = BREAST
    labels[pectoral & outline] = PECTORAL
    labels[implant] = IMPLANT
    return labels


def _age(birth_date: str, exam_date: str) -> int:
    born, seen = dt.datetime.strptime(birth_date, "%Y%m%d"), dt.datetime.strptime(exam_date, "%Y%m%d")
    return seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day))


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would only contend


def render_images(
    exams: list[ExamPlan], seed: int, scale: float, root: Path, workers: int, truth_root: Path | None = None
) -> list[dict]:
    """Render and write every exam's DICOMs under `root` and their true masks under `truth_root`
    (default: `root`)."""
    tasks = [_ExamTask(e, seed, scale, root, truth_root or root) for e in exams]
    bar = dict(total=len(tasks), desc="cohort exams", unit="exam", leave=False)
    if workers <= 1:
        return [row for rows in tqdm(map(render_exam, tasks), **bar) for row in rows]
    # forkserver: a clean child, never a fork of a parent whose OpenCV/BLAS threads hold locks.
    ctx = get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        results = pool.map(render_exam, tasks, chunksize=max(1, len(tasks) // (8 * workers)))
        return [row for rows in tqdm(results, **bar) for row in rows]


def generate_cohort(
    cfg: CohortParams, seed: int, out_dir: Path, truth_dir: Path, workers: int | None = None
) -> CohortSummary:
    """Write the cohort export to `out_dir` and its ground truth to `truth_dir`, replacing both atomically."""
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    if out_dir.resolve() == truth_dir.resolve():
        raise ValueError(f"{out_dir}: the truth folder must differ from the export folder")
    exams = plan_cohort(cfg, seed)
    reports = write_reports(exams, cfg, seed)
    with _staging(out_dir) as stage_out, _staging(truth_dir) as stage_truth:
        images = render_images(exams, seed, cfg.scale, stage_out, workers or cfg.workers, stage_truth)
        write_csv(
            stage_out / "reports.csv",
            pd.DataFrame(
                {
                    "exam_id": [e.exam_id for e in exams],
                    "patient_id": [e.patient.patient_id for e in exams],
                    "report": [r.text for r in reports],
                }
            ),
        )
        for row in images:  # paths as the pipeline sees them (relative to where it runs)
            row["path"] = (out_dir / row["path"]).as_posix()
        metrics = _write_truth(stage_truth, exams, reports, images, seed)
    log.info("cohort: %d exams, %d images -> %s (truth in %s)", len(exams), len(images), out_dir, truth_dir)
    return CohortSummary(len(exams), len(images), out_dir, truth_dir, metrics)


def truth_exams(exams: list[ExamPlan], reports: list[SyntheticReport]) -> pd.DataFrame:
    """The truth folder's exams.csv table: true and reported density, vendor and report text per exam."""
    return pd.DataFrame(
        {
            "exam_id": [e.exam_id for e in exams],
            "patient_id": [e.patient.patient_id for e in exams],
            "density": [e.density for e in exams],
            "density_reported": [e.density_reported for e in exams],
            "vendor": [e.vendor for e in exams],
            "has_statement": [r.has_statement for r in reports],
            "statement_form": [r.statement_form for r in reports],
            "report_clean_es": [r.clean_es for r in reports],
            "report_en": [r.reference_en for r in reports],
        }
    )


def _write_truth(
    root: Path, exams: list[ExamPlan], reports: list[SyntheticReport], images: list[dict], seed: int
) -> dict:
    exams_df = truth_exams(exams, reports)
    errors = [
        {"exam_id": e.exam_id, **{k: err[k] for k in ("word_index", "original", "corrupted", "kind")}}
        for e, r in zip(exams, reports, strict=True)
        for err in r.errors
    ]
    errors_df = pd.DataFrame(errors, columns=["exam_id", "word_index", "original", "corrupted", "kind"])
    images_df = pd.DataFrame(images)
    write_csv(root / "exams.csv", exams_df)
    write_csv(root / "text_errors.csv", errors_df)
    write_csv(root / "images.csv", images_df)
    write_json(root / "phi.json", _phi_values(exams, seed))
    return cohort_metrics(exams_df, images_df, errors_df, reports)


def _phi_values(exams: list[ExamPlan], seed: int) -> dict:
    patients = {e.patient.index: e.patient for e in exams}.values()
    uids = [u for e in exams for u in (*_uids(seed, e)[:2], *_uids(seed, e)[2])]
    return {
        "names": sorted({p.phi.name for p in patients}),
        "dicom_names": sorted({_dicom_name(p.phi) for p in patients}),
        "record_numbers": sorted({p.phi.record_number for p in patients}),
        "birth_dates": sorted({p.phi.birth_date for p in patients}),
        "exam_dates": sorted({e.exam_date for e in exams}),
        "dates": sorted({format_exam_date(e.exam_date) for e in exams}),
        "patient_ids": sorted({p.patient_id for p in patients}),
        "accession_numbers": sorted({_accession(e) for e in exams}),
        "uids": sorted(set(uids)),
    }


def cohort_metrics(
    exams: pd.DataFrame, images: pd.DataFrame, errors: pd.DataFrame, reports: list[SyntheticReport]
) -> dict:
    words = sum(eligible_words(r.clean_es) for r in reports)
    fgf = images.groupby(images["exam_id"].map(exams.set_index("exam_id")["density"]))[
        "fibroglandular_fraction"
    ]
    return {
        "exams": len(exams),
        "images": len(images),
        "patients": int(exams["patient_id"].nunique()),
        "patients_with_repeat_exams": int((exams["patient_id"].value_counts() > 1).sum()),
        "exams_per_density": {d: int((exams["density"] == d).sum()) for d in DENSITIES},
        "exams_per_reported_density": {d: int((exams["density_reported"] == d).sum()) for d in DENSITIES},
        "reader_relabelled": int((exams["density"] != exams["density_reported"]).sum()),
        "exams_per_vendor": {v: int((exams["vendor"] == v).sum()) for v in vendors.VENDOR_NAMES},
        "statement_rate": round(float(exams["has_statement"].mean()), 4),
        "statement_forms": {
            k: int(v) for k, v in exams["statement_form"].value_counts().sort_index().items()
        },
        "text_error_rate": round(len(errors) / max(words, 1), 4),
        "mean_fibroglandular_fraction": {d: round(float(v), 4) for d, v in fgf.mean().items()},
    }


def eligible_words(clean_es: str) -> int:
    """Words the noise model may corrupt: eligible tokens outside the machine-written PHI header line."""
    body = clean_es.split("\n", 1)[1] if "\n" in clean_es else ""
    return sum(is_eligible(token) for token in body.split())


@contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A sibling folder that replaces `target` only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    old = target.with_name(f".{target.name}.old")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
