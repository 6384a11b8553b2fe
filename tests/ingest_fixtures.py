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
    """Four views of one exam nested as many exports are, dicom/<patient>/<exam>/<lat>_<view>.dcm (the
    embedded cohort is flat; ingest reads both)."""
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


# ---- hostile inputs ----------------------------------------------------------------------------------------
# Every identifying value planted below is listed in PLANTED; the hostile suite scans every output for them.

PLANTED = {
    "names": ["PÉREZ", "NÚÑEZ", "Ana", "Lucía", "Ruiz", "Gil", "Smith", "Jane", "Grant", "Doe", "Romero"],
    "ids": ["HX-PAT-7781", "HX-PAT-7782", "HX-PAT-7783", "HX-EXA-1001", "HX-EXA-1002", "HX-EXA-1003"],
    "ids_more": ["HX-EXA-1004", "HX-EXA-1005", "HX-EXA-1006", "ACC-55501", "8812345", "12345678Z"],
    "contact": ["X1234567L", "612 345 678", "ana.perez@correo.es", "Calle Mayor 12", "Hospital San Cosme"],
    "dates": ["1965-04-12", "12/04/1965", "19650412", "April 12, 1965", "15/03/2021", "20210315"],
}
PLANTED_VALUES = [v for group in PLANTED.values() for v in group]
PATIENT_NAME = "PÉREZ NÚÑEZ^ANA"

HOSTILE_REPORT_ES = (
    "Paciente: Ana Pérez Núñez. NHC: 8812345. DNI: 12345678Z. F. nac: 12/04/1965.\n"
    "Domicilio: Calle Mayor 12, 28013 Madrid. Teléfono: 612 345 678. Email: ana.perez@correo.es\n"
    "Acude acompañada de su hija Lucía; técnica: Rosa Gil. NIE del esposo X1234567L.\n"
    "HALLAZGOS: Mamas heterogéneamente densas (ACR C). Ana no refiere síntomas. Pérez, control el 15/03/2021."
)
HOSTILE_REPORT_EN = (
    "Patient: Jane Smith. DOB: April 12, 1965. MRN: 8812345.\n"
    "Technologist: John Doe. Jane tolerated the exam well. Read by Dr. Alan Grant on 15/03/2021.\n"
    "FINDINGS: Extremely dense breasts (ACR D). Smith was advised annual screening."
)


def private_and_sequence_phi(path: Path) -> Path:
    """Plant PHI where a block-list misses it: a VOI LUT item's explanation, private tags at two depths."""
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(path)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = list(range(4096))
    item["LUTData"].VR = "US"
    item.LUTExplanation = "window for PÉREZ NÚÑEZ 19650412"
    item.private_block(0x0029, "ACME", create=True).add_new(0x10, "LO", "HX-PAT-7781 PÉREZ")
    ds.VOILUTSequence = Sequence([item])
    ds.private_block(0x0009, "ACME", create=True).add_new(0x01, "LO", "PÉREZ NÚÑEZ ANA 1965-04-12")
    ds.ImageComments = "Paciente PÉREZ NÚÑEZ ANA, Calle Mayor 12"
    ds.InstitutionName = "Hospital San Cosme"
    ds.StudyDescription = "Mamografía PÉREZ 15/03/2021"
    ds.save_as(path)
    return path


def edit_dicom(path: Path, **changes) -> Path:
    """Rewrite header fields in place (None deletes a field)."""
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path)
    return path


def wrong_charset(path: Path) -> Path:
    """Header says Latin-1 (ISO_IR 100), the name bytes are UTF-8: the name reads as mojibake."""
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = PATIENT_NAME.encode("utf-8").decode("latin-1")
    ds.save_as(path)
    return path


def huge_compressed(path: Path) -> Path:
    """A 60000 x 60000 header over a few bytes of JPEG 2000: decoding would allocate ~6.7 GiB."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.Rows = ds.Columns = 60000
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 60])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    return path


def multi_frame(path: Path) -> Path:
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.save_as(path)
    return path


def tiny_image(path: Path) -> Path:
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 1
    ds.PixelData = b"\x00\x00"
    ds.save_as(path)
    return path


def raster_with_metadata(path: Path, pixels: np.ndarray) -> Path:
    """PNG with text chunks or TIFF with description/artist tags holding the planted PHI."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    img = Image.fromarray(pixels)
    if path.suffix == ".png":
        info = PngInfo()
        info.add_text("Patient", "PÉREZ NÚÑEZ^ANA HX-PAT-7782")
        info.add_itxt("BirthDate", "1965-04-12")
        img.save(path, pnginfo=info)
    else:
        img.save(path, tiffinfo={270: "PÉREZ NÚÑEZ ANA 19650412", 315: "HX-PAT-7782"})
    return path


def lying_png(path: Path) -> Path:
    """A PNG whose header claims 12000 x 10000 pixels over about 1 KB of data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 12000, 10000, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 900)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path
