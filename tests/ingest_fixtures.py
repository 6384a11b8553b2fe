"""Tiny mammography DICOM / raster files made on the fly for decoder and ingest tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MG_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.2.1"


def phantom(rows: int = 48, cols: int = 32, bits: int = 12, seed: int = 0) -> np.ndarray:
    """A breast-like blob: bright (high attenuation) dense centre fading to a dark background."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    r = np.hypot((yy - rows / 2) / rows, (xx - cols * 0.2) / cols)
    density = np.clip(1.0 - 1.6 * r, 0.0, 1.0)
    noise = np.random.default_rng(seed).normal(0, 0.01, size=(rows, cols))
    return np.clip((density + noise) * (2**bits - 1), 0, 2**bits - 1).astype(np.uint16)


def make_dicom(
    path: str | Path,
    pixels: np.ndarray | None = None,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    window: tuple[float, float] | None = None,
    voi_function: str | None = None,
    rescale: tuple[float, float] | None = None,
    modality: str = "MG",
    intent: str = "FOR PRESENTATION",
    patient_id: str = "PAT001",
    patient_name: str = "García López^María José",
    accession: str = "EX001",
    laterality: str = "L",
    view: str = "CC",
    manufacturer: str = "HOLOGIC, Inc.",
    sop_uid: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    signed: bool = False,
) -> Path:
    """Write a single-frame digital mammogram; every argument is one header field a test may vary."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels is None:
        pixels = phantom(bits=bits_stored)
    sop_class = MG_FOR_PROCESSING if intent == "FOR PROCESSING" else MG_FOR_PRESENTATION
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PresentationIntentType = intent
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = "19650412"
    ds.StudyDate = "20210315"
    ds.AccessionNumber = accession
    ds.InstitutionName = "Hospital Universitario de Prueba"
    ds.Manufacturer = manufacturer
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_function is not None:
        ds.VOILUTFunction = voi_function
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "US"
    data = pixels.astype(np.int16 if signed else np.uint16)
    ds.PixelData = data.tobytes()
    ds["PixelData"].VR = "OW"
    ds.save_as(path, enforce_file_format=True)
    return path


def read_header(path: str | Path) -> Dataset:
    return pydicom.dcmread(path)


VIEWS = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))

REPORT = (
    "Paciente: {name}. NHC: {nhc}. Fecha del estudio: 15/03/2021.\n"
    "MAMOGRAFÍA BILATERAL DE CRIBADO\n"
    "HALLAZGOS: Mamas heterogéneamente densas (ACR C). La paciente {given} no refiere síntomas.\n"
    "CONCLUSIÓN: BI-RADS 1."
)


def make_exam(root: Path, exam_id: str, patient_id: str, patient_name: str, **kwargs) -> list[Path]:
    """Four views of one exam in the cohort's folder layout dicom/<patient>/<exam>/<lat>_<view>.dcm."""
    return [
        make_dicom(
            root / "dicom" / patient_id / exam_id / f"{lat}_{view}.dcm",
            patient_id=patient_id,
            patient_name=patient_name,
            accession=f"ACC{exam_id}",
            laterality=lat,
            view=view,
            **kwargs,
        )
        for lat, view in VIEWS
    ]


def reports_layout(root: Path, exams: list[tuple[str, str, str, str]], encoding: str = "utf-8") -> Path:
    """A hospital export: reports.csv + DICOMs. exams: (exam_id, patient_id, 'Family^Given', nhc)."""
    import pandas as pd

    rows = []
    for exam_id, patient_id, dicom_name, nhc in exams:
        family, given = dicom_name.split("^")
        make_exam(root, exam_id, patient_id, dicom_name)
        name = f"{given.title()} {family.title()}"
        rows.append(
            {
                "exam_id": exam_id,
                "patient_id": patient_id,
                "report": REPORT.format(name=name, nhc=nhc, given=given.split()[0].title()),
            }
        )
    pd.DataFrame(rows).to_csv(root / "reports.csv", index=False, encoding=encoding)
    return root
