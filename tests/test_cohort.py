"""Embedded synthetic cohort: determinism, DICOM realism, vendors, class prior, density signal, noise, PHI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.pixels import apply_voi_lut
from pydicom.uid import JPEG2000Lossless, RLELossless
from scipy.stats import spearmanr

from breast_density import cli
from breast_density.cohort import generate, phantom
from breast_density.cohort.generate import (
    DENSITIES,
    eligible_words,
    generate_cohort,
    plan_cohort,
    write_reports,
)
from breast_density.cohort.phantom import sample_fraction
from breast_density.cohort.vendors import (
    MAMMO_FOR_PRESENTATION,
    SECONDARY_CAPTURE,
    VENDOR_NAMES,
    VENDOR_WEIGHTS,
    VENDORS,
)
from breast_density.imaging.truth import ARTEFACT, BREAST, BREAST_VALUES, IMPLANT, PECTORAL, read_truth
from breast_density.io import read_csv
from breast_density.params import CohortParams, ParamsError, parse_params

SEED = 11
FILM = next(v.name for v in VENDORS if v.transfer == "film")
# Uniform prior so every class shows up in a tiny cohort; the study prior is tested on a large text-only plan.
TINY = CohortParams(
    exams=20, scale=0.06, class_prior=[0.25, 0.25, 0.25, 0.25], reader_noise=0.2, repeat_patient_rate=0.3
)
TAGS = (
    "Modality",
    "SOPClassUID",
    "SOPInstanceUID",
    "PresentationIntentType",
    "ViewPosition",
    "ImageLaterality",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "StudyDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Manufacturer",
    "PixelSpacing",
    "WindowCenter",
    "WindowWidth",
    "BitsStored",
    "PhotometricInterpretation",
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    generate_cohort(TINY, SEED, root / "cohort", root / "cohort-truth", workers=2)
    return root


@pytest.fixture(scope="module")
def images(cohort: Path) -> pd.DataFrame:
    return read_csv(cohort / "cohort-truth/images.csv")


@pytest.fixture(scope="module")
def exams(cohort: Path) -> pd.DataFrame:
    return read_csv(cohort / "cohort-truth/exams.csv")


def _display(ds: pydicom.Dataset) -> np.ndarray:
    """Standard display: VOI transform, then MONOCHROME1 inverted, so dense tissue is bright."""
    shown = apply_voi_lut(ds.pixel_array, ds).astype(np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        shown = shown.max() + shown.min() - shown
    return (shown - shown.min()) / max(np.ptp(shown), 1e-9)


def test_same_seed_gives_identical_files_whatever_the_worker_count(cohort: Path, tmp_path: Path) -> None:
    generate_cohort(TINY, SEED, tmp_path / "cohort", tmp_path / "cohort-truth", workers=1)
    assert (tmp_path / "cohort/reports.csv").read_bytes() == (cohort / "cohort/reports.csv").read_bytes()
    first = sorted(p.relative_to(cohort / "cohort") for p in (cohort / "cohort").rglob("*.dcm"))
    second = sorted(p.relative_to(tmp_path / "cohort") for p in (tmp_path / "cohort").rglob("*.dcm"))
    assert first == second and len(first) == 4 * TINY.exams
    for rel in first:
        assert (cohort / "cohort" / rel).read_bytes() == (tmp_path / "cohort" / rel).read_bytes(), rel
    for name in ("exams.csv", "text_errors.csv", "phi.json"):
        assert (cohort / "cohort-truth" / name).read_bytes() == (
            tmp_path / "cohort-truth" / name
        ).read_bytes()


def test_another_seed_gives_another_cohort(cohort: Path, tmp_path: Path) -> None:
    small = TINY.model_copy(update={"exams": 3})
    generate_cohort(small, SEED + 1, tmp_path / "c", tmp_path / "t", workers=1)
    other = read_csv(tmp_path / "c/reports.csv")["report"].tolist()
    assert other != read_csv(cohort / "cohort/reports.csv")["report"].tolist()[:3]


def test_layout_and_truth_columns_follow_the_contract(
    cohort: Path, images: pd.DataFrame, exams: pd.DataFrame
):
    reports = read_csv(cohort / "cohort/reports.csv")
    assert list(reports.columns) == ["exam_id", "patient_id", "report"]
    assert list(exams.columns) == [
        "exam_id",
        "patient_id",
        "density",
        "density_reported",
        "vendor",
        "has_statement",
        "statement_form",
        "report_clean_es",
        "report_en",
    ]
    assert list(images.columns) == [
        "exam_id",
        "laterality",
        "view",
        "vendor",
        "path",
        "fibroglandular_fraction",
        "mask",
        "implant",
        "magnified",
    ]
    errors = read_csv(cohort / "cohort-truth/text_errors.csv")
    assert list(errors.columns) == ["exam_id", "word_index", "original", "corrupted", "kind"]
    assert reports["exam_id"].tolist() == exams["exam_id"].tolist()
    assert (images.groupby("exam_id").size() == 4).all()
    for row in images.itertuples():
        # one flat folder each for images and masks: DVC hashes a folder per exam far slower than their files
        expected = cohort / f"cohort/dicom/{row.exam_id}_{row.laterality}_{row.view}.dcm"
        assert Path(row.path) == expected and expected.is_file()
        assert row.mask == f"masks/{row.exam_id}_{row.laterality}_{row.view}.png"
    # the report's exam id is the images' AccessionNumber, the link ingest follows in a flat folder
    assert {pydicom.dcmread(p, stop_before_pixels=True).AccessionNumber for p in images["path"]} == set(
        reports["exam_id"]
    )
    for part in ("cohort", "cohort-truth"):
        folders = [p.relative_to(cohort / part).as_posix() for p in (cohort / part).rglob("*") if p.is_dir()]
        assert folders == (["dicom"] if part == "cohort" else ["masks"]), part
    assert reports["patient_id"].duplicated().any(), "no patient with a repeat exam"
    assert not list(cohort.glob(".*partial")), "staging folders left behind"


def test_every_dicom_reads_and_carries_the_mammography_tags(
    images: pd.DataFrame, exams: pd.DataFrame
) -> None:
    patient_of = dict(zip(exams["exam_id"], exams["patient_id"], strict=True))
    study_of: dict[str, str] = {}
    sops = set()
    for row in images.itertuples():
        ds = pydicom.dcmread(row.path)
        film = row.vendor == FILM
        tags = [t for t in TAGS if not (film and t.startswith("Window"))]  # scanned film: no VOI
        missing = [t for t in tags if t not in ds or ds[t].value in (None, "")]
        assert not missing, f"{row.path}: missing {missing}"
        assert ds.Modality == "MG" and ds.SOPClassUID == (
            SECONDARY_CAPTURE if film else MAMMO_FOR_PRESENTATION
        )
        assert ds.PresentationIntentType == "FOR PRESENTATION"
        assert (ds.ImageLaterality, ds.ViewPosition) == (row.laterality, row.view)
        assert ds.PatientID == patient_of[row.exam_id] and ds.Manufacturer == row.vendor
        assert study_of.setdefault(row.exam_id, ds.StudyInstanceUID) == ds.StudyInstanceUID
        sops.add(ds.SOPInstanceUID)
        pixels = ds.pixel_array
        assert pixels.shape == (ds.Rows, ds.Columns)
        assert int(pixels.max()) < 2**ds.BitsStored
    assert len(sops) == len(images), "SOPInstanceUIDs are not unique"
    assert len(set(study_of.values())) == len(study_of), "exams share a StudyInstanceUID"


def test_vendor_profiles_differ_and_all_appear(images: pd.DataFrame) -> None:
    assert set(images["vendor"]) == set(VENDOR_NAMES)
    seen: dict[str, tuple] = {}
    for row in images.drop_duplicates("vendor").itertuples():
        ds = pydicom.dcmread(row.path)
        ds.pixel_array  # noqa: B018 - decoding is the check
        seen[row.vendor] = (
            ds.file_meta.TransferSyntaxUID,
            ds.PhotometricInterpretation,
            ds.BitsStored,
            round(ds.Rows / ds.Columns, 3),
            float(ds.PixelSpacing[0]),
        )
    syntaxes = {s[0] for s in seen.values()}
    assert {RLELossless, JPEG2000Lossless} <= syntaxes
    assert "MONOCHROME1" in {s[1] for s in seen.values()}
    assert {s[2] for s in seen.values()} == {12, 14, 16}
    assert len({s[3] for s in seen.values()}) == len(VENDORS), "vendors share an aspect ratio"
    assert len({s[4] for s in seen.values()}) == len(VENDORS), "vendors share a pixel spacing"


def test_dense_tissue_is_bright_after_display_for_every_vendor(images: pd.DataFrame) -> None:
    for vendor, group in images.groupby("vendor"):
        shown = [_display(pydicom.dcmread(p)) for p in group["path"]]
        brightness = [image[image > 0.08].mean() for image in shown]  # tissue only: breast size varies
        rho = spearmanr(group["fibroglandular_fraction"].astype(float), brightness).statistic
        assert rho > 0.6, f"{vendor}: displayed brightness does not follow density (rho={rho:.2f})"


def test_breast_sits_against_the_chest_wall_of_its_side(cohort: Path, images: pd.DataFrame) -> None:
    for row in images.itertuples():
        breast = np.isin(read_truth(cohort / "cohort-truth" / row.mask), BREAST_VALUES)
        cols = np.flatnonzero(breast.any(axis=0))
        shown = _display(pydicom.dcmread(row.path))
        band = max(2, shown.shape[1] // 10)
        if row.vendor == FILM:  # the film's zero padding lies between the breast and the frame
            left, right = int(cols[0]), shown.shape[1] - 1 - int(cols[-1])
            assert (left < right) == (row.laterality == "L"), f"{row.path}: breast on the wrong side"
            assert (shown[breast] > 0).all()
            continue
        assert cols[0 if row.laterality == "L" else -1] in (0, shown.shape[1] - 1)
        left, right = shown[:, :band].mean(), shown[:, -band:].mean()
        assert (left > right) == (row.laterality == "L"), f"{row.path}: breast on the wrong side"


def test_laterality_marker_is_burned_into_the_corner_away_from_the_chest_wall(images: pd.DataFrame) -> None:
    for row in images.itertuples():
        shown = _display(pydicom.dcmread(row.path))
        h, w = shown.shape
        top = shown[: max(3, h // (6 if row.vendor == FILM else 12))]  # film: below the zero padding
        anterior, chest = (
            (top[:, -w // 3 :], top[:, : w // 3])
            if row.laterality == "L"
            else (top[:, : w // 3], top[:, -w // 3 :])
        )
        assert anterior.max() > 0.99, f"{row.path}: no burned-in label"
        if row.view == "CC" and row.vendor != FILM:  # MLO: the pectoral muscle; film: scanner lines
            assert chest.max() < 0.5, f"{row.path}: label on the chest-wall side"


def test_fibroglandular_fraction_rises_strictly_from_a_to_d(
    images: pd.DataFrame, exams: pd.DataFrame
) -> None:
    density = images["exam_id"].map(dict(zip(exams["exam_id"], exams["density"], strict=True)))
    means = images["fibroglandular_fraction"].astype(float).groupby(density).mean()
    assert list(means.index) == list(DENSITIES)
    assert all(np.diff(means.to_numpy()) > 0), means.to_dict()


def test_adjacent_classes_overlap_in_fibroglandular_fraction() -> None:
    rng = np.random.default_rng(0)
    draws = {d: np.array([sample_fraction(rng, d) for _ in range(2000)]) for d in DENSITIES}
    for lower, upper in itertools.pairwise(DENSITIES):
        assert draws[lower].max() > draws[upper].min(), f"{lower} and {upper} do not overlap"
        assert draws[lower].mean() < draws[upper].mean()


def test_class_prior_matches_the_configuration() -> None:
    cfg = CohortParams(exams=4000)
    plan = plan_cohort(cfg, SEED)
    counts = pd.Series([e.density for e in plan]).value_counts(normalize=True)
    for density, expected in zip(DENSITIES, cfg.class_prior, strict=True):
        assert counts[density] == pytest.approx(expected, abs=0.03), density


def test_reader_noise_relabels_to_an_adjacent_class_at_the_configured_rate() -> None:
    plan = plan_cohort(CohortParams(exams=3000, reader_noise=0.1), SEED)
    true = np.array([DENSITIES.index(e.density) for e in plan])
    reported = np.array([DENSITIES.index(e.density_reported) for e in plan])
    changed = true != reported
    assert changed.mean() == pytest.approx(0.1, abs=0.02)
    assert (np.abs(true - reported)[changed] == 1).all()
    assert not any(e.density != e.density_reported for e in plan_cohort(CohortParams(exams=500), SEED))


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.3])
def test_text_noise_appears_at_the_configured_rate(rate: float) -> None:
    cfg = CohortParams(exams=150, text_noise=rate)
    reports = write_reports(plan_cohort(cfg, SEED), cfg, SEED)
    errors = sum(len(r.errors) for r in reports)
    words = sum(eligible_words(r.clean_es) for r in reports)
    assert errors / words == pytest.approx(rate, abs=0.02)
    if rate == 0:
        assert all(r.text == r.clean_es for r in reports)


def test_statement_rate_follows_the_configuration() -> None:
    plan = plan_cohort(CohortParams(exams=2000, no_statement_rate=0.17), SEED)
    assert np.mean([e.has_statement for e in plan]) == pytest.approx(0.83, abs=0.03)


def test_truth_errors_describe_the_exported_text(cohort: Path) -> None:
    reports = read_csv(cohort / "cohort/reports.csv").set_index("exam_id")["report"]
    errors = read_csv(cohort / "cohort-truth/text_errors.csv")
    assert len(errors) > 0
    for row in errors.itertuples():
        assert row.corrupted.strip() == reports[row.exam_id].split()[int(row.word_index)]


def test_phi_is_present_in_reports_and_dicom_headers(cohort: Path, images: pd.DataFrame) -> None:
    phi = json.loads((cohort / "cohort-truth/phi.json").read_text(encoding="utf-8"))
    text = "\n".join(read_csv(cohort / "cohort/reports.csv")["report"])
    for key in ("names", "record_numbers", "dates"):
        assert phi[key], key
        assert all(value in text for value in phi[key]), f"some {key} missing from the report text"
    for path in images["path"][::4]:
        ds = pydicom.dcmread(path)
        assert str(ds.PatientName) in phi["dicom_names"]
        assert ds.PatientBirthDate in phi["birth_dates"] and ds.StudyDate in phi["exam_dates"]
        assert ds.PatientID in phi["patient_ids"] and ds.AccessionNumber in phi["accession_numbers"]
        assert ds.StudyInstanceUID in phi["uids"] and ds.SOPInstanceUID in phi["uids"]


def test_failed_generation_keeps_the_previous_cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = TINY.model_copy(update={"exams": 2})
    out, truth = tmp_path / "cohort", tmp_path / "truth"
    generate_cohort(small, SEED, out, truth, workers=1)
    before = (out / "reports.csv").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generate, "render_images", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_cohort(small, SEED + 5, out, truth, workers=1)
    assert (out / "reports.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort", "truth"]


def test_cohort_params_are_validated() -> None:
    with pytest.raises(ParamsError, match="class_prior"):
        parse_params({"cohort": {"class_prior": [0.5, 0.5]}})
    with pytest.raises(ParamsError, match="reader_noise"):
        parse_params({"cohort": {"reader_noise": 1.5}})


def test_command_writes_a_cohort_and_rejects_bad_options(tmp_path: Path, capsys) -> None:
    out = tmp_path / "export"
    argv = ["cohort", "--exams", "2", "--scale", "0.05", "--workers", "1", "--out", str(out)]
    assert cli.main([*argv, "--sheet", str(tmp_path / "sheet.png")]) == 0
    assert len(list(out.rglob("*.dcm"))) == 8
    assert (tmp_path / "export-truth/exams.csv").is_file()
    assert (tmp_path / "sheet.png").stat().st_size > 10_000
    assert cli.main(["cohort", "--exams", "2", "--scale", "-1", "--out", str(tmp_path / "bad")]) == 2
    assert "scale" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_stage_writes_metrics_and_contact_sheet(tmp_path: Path) -> None:
    from breast_density.stages import cohort as stage

    params = parse_params({"cohort": {"exams": 6, "scale": 0.05, "workers": 1}})
    metrics_path, plot = tmp_path / "metrics/cohort.json", tmp_path / "plots/cohort_examples.png"
    metrics = stage.run(params, tmp_path / "raw/cohort", tmp_path / "raw/cohort-truth", metrics_path, plot)
    assert json.loads(metrics_path.read_text()) == metrics
    assert metrics["exams"] == 6 and metrics["images"] == 24
    assert sum(metrics["exams_per_density"].values()) == 6
    assert set(metrics["exams_per_vendor"]) == set(VENDOR_NAMES)
    assert 0 <= metrics["statement_rate"] <= 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_image_has_a_compact_true_mask_in_its_own_frame(cohort: Path, images: pd.DataFrame) -> None:
    mask_bytes = dicom_bytes = 0
    for row in images.itertuples():
        mask_path = cohort / "cohort-truth" / row.mask
        labels = read_truth(mask_path)
        ds = pydicom.dcmread(row.path)
        assert labels.shape == (ds.Rows, ds.Columns)
        assert set(np.unique(labels).tolist()) <= {0, BREAST, IMPLANT, ARTEFACT, PECTORAL}
        assert (labels == BREAST).any() and (
            (labels == PECTORAL).any() == (row.view == "MLO") or row.magnified == "True"
        )
        assert str((labels == IMPLANT).any()) == row.implant
        mask_bytes += mask_path.stat().st_size
        dicom_bytes += Path(row.path).stat().st_size
    assert mask_bytes < 0.05 * dicom_bytes


def test_scanned_film_is_zero_padded_with_fog_labels_and_strip(cohort: Path, images: pd.DataFrame) -> None:
    films = images[images["vendor"] == FILM]
    assert len(films) > 0
    for row in films.itertuples():
        pixels = pydicom.dcmread(row.path).pixel_array
        inside = pixels > 0
        rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        assert r0 > 0 and c0 > 0 and r1 < pixels.shape[0] and c1 < pixels.shape[1], "no padding"
        assert inside[r0:r1, c0:c1].all(), "the film base must never be exact zero (that is the padding)"
        labels = read_truth(cohort / "cohort-truth" / row.mask)
        background = (labels == 0) & inside
        fog = np.median(pixels[background]) / 4095
        assert 0.02 < fog < 0.15, "film base fog out of range"
        artefact = labels == ARTEFACT
        assert artefact.any() and np.median(pixels[artefact]) / 4095 > 0.8  # labels, marker, strip: bright
        breast_cols = np.flatnonzero(np.isin(labels, BREAST_VALUES).any(axis=0))
        assert breast_cols[0] == c0 if row.laterality == "L" else breast_cols[-1] == c1 - 1  # film edge


def test_rare_anatomy_and_vendors_follow_their_rates() -> None:
    plan = plan_cohort(CohortParams(exams=4000), SEED)
    anatomy = [p.anatomy for p in {e.patient.index: e.patient for e in plan}.values()]
    assert np.mean([a.implant for a in anatomy]) == pytest.approx(generate._IMPLANT, abs=0.01)
    assert np.mean([a.size > 1 for a in anatomy]) == pytest.approx(generate._LARGE, abs=0.015)
    assert np.mean([a.size < 0 for a in anatomy]) == pytest.approx(generate._SMALL, abs=0.015)
    share = pd.Series([e.vendor for e in plan]).value_counts(normalize=True)
    for name, weight in zip(VENDOR_NAMES, VENDOR_WEIGHTS, strict=True):
        assert share[name] == pytest.approx(weight, abs=0.03), name


def test_magnified_views_show_the_anterior_breast_against_the_frame_edge() -> None:
    anatomy = phantom.Anatomy(size=0.5, shape_seed=3, implant=True)
    rng = np.random.default_rng(0)
    for lat in ("L", "R"):
        view = phantom.render_view(rng, (300, 240), "CC", lat, "B", 0.25, anatomy, 0.5, zoom=1.6)
        cols = np.flatnonzero(view.outline.any(axis=0))
        chest, front = (0, cols[-1]) if lat == "L" else (239, cols[0])
        assert chest in (cols[0], cols[-1]), "the chest-wall edge must cut the magnified breast"
        assert 0 < front < 239, "air must remain in front of the nipple"
        assert not (view.implant & ~view.outline).any()
