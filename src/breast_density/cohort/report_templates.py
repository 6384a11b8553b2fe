"""Paired Spanish/English sentence templates of the synthetic screening reports.

Each template is written on both sides at once so the English reference is an exact translation of the
Spanish sentence. ``{side}`` is laterality, ``{mm}`` a size in millimetres, ``{L}``/``{l}`` the ACR letter
(upper/lower case), ``{n}`` the ACR number, ``{w}`` the ACR number as a word, ``{pat}``/``{desc}`` the class
wording below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    es: str
    en: str
    weight: float = 1.0


@dataclass(frozen=True)
class Finding(Pair):
    birads: int = 1  # lowest BI-RADS assessment compatible with the finding
    distractor: bool = False  # uses a density word in a sense other than breast composition


SIDES: tuple[Pair, ...] = (Pair("derecha", "right"), Pair("izquierda", "left"))

# BI-RADS density letter -> (pattern wording, descriptive wording) on both sides.
PATTERN: dict[str, Pair] = {
    "A": Pair("de predominio graso", "predominantly fatty"),
    "B": Pair("fibroglandular disperso", "scattered fibroglandular"),
    "C": Pair("heterogéneamente denso", "heterogeneously dense"),
    "D": Pair("extremadamente denso", "extremely dense"),
}
DESCRIPTION: dict[str, Pair] = {
    "A": Pair("mamas casi totalmente grasas", "almost entirely fatty breasts"),
    "B": Pair(
        "mamas con áreas dispersas de densidad fibroglandular",
        "breasts with scattered areas of fibroglandular density",
    ),
    "C": Pair("mamas heterogéneamente densas", "heterogeneously dense breasts"),
    "D": Pair("mamas extremadamente densas", "extremely dense breasts"),
}
ACR_NUMBER = {"A": 1, "B": 2, "C": 3, "D": 4}
NUMBER_WORD: dict[str, Pair] = {
    "A": Pair("uno", "one"),
    "B": Pair("dos", "two"),
    "C": Pair("tres", "three"),
    "D": Pair("cuatro", "four"),
}

# statement form -> templates shared by every class (filled with the class wording).
STATEMENTS: dict[str, tuple[Pair, ...]] = {
    "letter": (
        Pair("Densidad mamaria ACR {L}.", "Breast density ACR {L}."),
        Pair("Densidad ACR-{l}.", "Density ACR-{l}."),
        Pair("Categoría {L} de densidad mamaria.", "Breast density category {L}."),
        Pair("Densidad mamaria: categoría {L} del ACR.", "Breast density: ACR category {L}."),
    ),
    "tipo": (
        Pair("Densidad mamaria tipo {L} (ACR).", "Breast density type {L} (ACR)."),
        Pair(
            "Mamas con densidad tipo {L} según la clasificación ACR.",
            "Breasts with type {L} density according to the ACR classification.",
        ),
        Pair("Densidad mamaria tipo {L} (ACR): {desc}.", "Breast density type {L} (ACR): {desc}."),
    ),
    "patron": (
        Pair("Patrón mamario {pat}.", "{Pat} breast pattern."),
        Pair("Patrón {pat}.", "{Pat} pattern."),
        Pair("Parénquima mamario con patrón {pat}.", "Breast parenchyma with a {pat} pattern."),
    ),
    "number": (Pair("Densidad mamaria ACR {n}.", "Breast density ACR {n}."),),
    # the scale written as a word, letters in punctuation, one statement per side
    "per_side": (
        Pair("Mama derecha: densidad {L}. Mama izquierda: densidad {L}.",
             "Right breast: density {L}. Left breast: density {L}."),
        Pair("Densidad mamaria tipo {w} (ACR) en ambas mamas.",
             "Breast density type {w} (ACR) in both breasts."),
        Pair("Composición mamaria: ({L}).", "Breast composition: ({L})."),
    ),
}  # fmt: skip
# Purely descriptive statements are class specific.
DESCRIPTIVE: dict[str, tuple[Pair, ...]] = {
    "A": (
        Pair("Mamas de predominio graso.", "Predominantly fatty breasts."),
        Pair(
            "Mamas compuestas casi en su totalidad por tejido graso.",
            "Breasts composed almost entirely of fatty tissue.",
        ),
        Pair("Mamas con involución grasa completa.", "Breasts with complete fatty involution."),
    ),
    "B": (
        Pair(
            "Mamas con áreas dispersas de densidad fibroglandular.",
            "Breasts with scattered areas of fibroglandular density.",
        ),
        Pair(
            "Tejido fibroglandular disperso en ambas mamas.",
            "Scattered fibroglandular tissue in both breasts.",
        ),
    ),
    "C": (
        Pair(
            "Mamas heterogéneamente densas, lo que puede ocultar nódulos pequeños.",
            "Heterogeneously dense breasts, which may obscure small nodules.",
        ),
        Pair("Parénquima mamario denso y heterogéneo.", "Dense and heterogeneous breast parenchyma."),
    ),
    "D": (
        Pair(
            "Mamas extremadamente densas, lo que disminuye la sensibilidad de la mamografía.",
            "Extremely dense breasts, which lowers the sensitivity of mammography.",
        ),
        Pair(
            "Parénquima mamario extremadamente denso.",
            "Extremely dense breast parenchyma.",
        ),
    ),
}
# Quantities, comparisons, percentages and inflected wording, class specific like DESCRIPTIVE.
PHRASING: dict[str, tuple[Pair, ...]] = {
    "A": (
        Pair("Escasa cantidad de tejido fibroglandular.", "Scant amount of fibroglandular tissue."),
        Pair("Mamas con abundante tejido graso.", "Breasts with abundant fatty tissue."),
        Pair("Tejido fibroglandular inferior al 20 %.", "Fibroglandular tissue below 20 %."),
    ),
    "B": (
        Pair("Patrones fibroglandulares dispersos.", "Scattered fibroglandular patterns."),
        Pair("Tejido fibroglandular en torno al 40 %.", "Fibroglandular tissue around 40 %."),
    ),
    "C": (
        Pair(
            "Predominio del componente glandular sobre el adiposo.",
            "Predominance of the glandular component over the adipose.",
        ),
        Pair("Tejido fibroglandular en torno al 60 %.", "Fibroglandular tissue around 60 %."),
    ),
    "D": (
        Pair("Mamas densas homogéneas.", "Homogeneously dense breasts."),
        Pair("Tejido fibroglandular superior al 80 %.", "Fibroglandular tissue above 80 %."),
    ),
}
# Share of statement reports per form: 7 % quantity/percentage phrasing, 3 % per-side or punctuated letters.
FORM_WEIGHTS: dict[str, float] = {
    "letter": 0.25,
    "tipo": 0.2,
    "patron": 0.2,
    "descriptive": 0.2,
    "number": 0.05,
    "phrasing": 0.07,
    "per_side": 0.03,
}

# Sentences placed where a density statement would be, but giving no usable density.
NO_STATEMENT: tuple[Pair, ...] = (
    Pair(
        "Densidad mamaria no valorable por técnica subóptima.",
        "Breast density not assessable due to suboptimal technique.",
    ),
    Pair(
        "Densidad mamaria no valorable por prótesis mamarias.",
        "Breast density not assessable due to breast implants.",
    ),
    Pair(
        "No se valora la densidad mamaria en este estudio.", "Breast density is not assessed in this study."
    ),
)
NO_STATEMENT_ABSENT_WEIGHT = 0.5  # share of no-statement reports that simply omit the density

HEADER = Pair(
    "Paciente: {name}. NHC: {nhc}. Fecha del estudio: {date}.",
    "Patient: {name}. Record number: {nhc}. Study date: {date}.",
)
TITLES: tuple[Pair, ...] = (
    Pair("MAMOGRAFÍA BILATERAL DE CRIBADO", "BILATERAL SCREENING MAMMOGRAPHY"),
    Pair("MAMOGRAFÍA DIGITAL BILATERAL", "BILATERAL DIGITAL MAMMOGRAPHY"),
)
INDICATIONS: tuple[Pair, ...] = (
    Pair("Cribado poblacional de cáncer de mama.", "Population breast cancer screening."),
    Pair(
        "Control rutinario. Sin antecedentes personales de interés.",
        "Routine check-up. No relevant personal history.",
    ),
    Pair(
        "Revisión anual. Antecedente familiar de cáncer de mama.",
        "Annual review. Family history of breast cancer.",
    ),
    Pair("Mamografía de control. Paciente asintomática.", "Follow-up mammography. Asymptomatic patient."),
)
TECHNIQUE = Pair(
    "Se realizan proyecciones craneocaudal y oblicua mediolateral de ambas mamas.",
    "Craniocaudal and mediolateral oblique views of both breasts were obtained.",
)
FINDINGS: tuple[Finding, ...] = (
    Finding(
        "No se observan nódulos, microcalcificaciones sospechosas ni distorsiones de la arquitectura.",
        "No nodules, suspicious microcalcifications or architectural distortions are seen.",
        weight=3.0,
    ),
    Finding(
        "No se identifican lesiones sospechosas de malignidad.",
        "No lesions suspicious for malignancy are identified.",
        weight=2.0,
    ),
    Finding(
        "Piel y complejo areola-pezón sin alteraciones.",
        "Skin and nipple-areola complex without abnormalities.",
    ),
    Finding(
        "Regiones axilares sin adenopatías patológicas.",
        "Axillary regions without pathological lymphadenopathy.",
    ),
    Finding(
        "Sin cambios significativos respecto a los estudios previos.",
        "No significant changes compared with previous studies.",
    ),
    Finding(
        "Densidad asimétrica en el cuadrante superoexterno de la mama {side}, "
        "estable respecto a estudios previos.",
        "Asymmetric density in the upper outer quadrant of the {side} breast, "
        "stable compared with previous studies.",
        birads=2,
        distractor=True,
    ),
    Finding(
        "Nódulo isodenso de {mm} mm en la mama {side}, de márgenes circunscritos.",
        "Isodense nodule of {mm} mm in the {side} breast, with circumscribed margins.",
        birads=3,
        distractor=True,
    ),
    Finding(
        "Sin cambios de densidad respecto al estudio previo.",
        "No change in density compared with the previous study.",
        distractor=True,
    ),
    Finding(
        "Ganglio intramamario con hilio graso en la mama {side}.",
        "Intramammary lymph node with a fatty hilum in the {side} breast.",
        birads=2,
        distractor=True,
    ),
    Finding(
        "Quiste oleoso de densidad grasa en la mama {side}.",
        "Oil cyst of fat density in the {side} breast.",
        birads=2,
        distractor=True,
    ),
    Finding(
        "Imagen nodular hiperdensa de {mm} mm en la mama {side}, probablemente benigna.",
        "Hyperdense nodular image of {mm} mm in the {side} breast, probably benign.",
        birads=3,
        distractor=True,
    ),
    Finding(
        "Calcificaciones groseras de aspecto benigno en la mama {side}.",
        "Coarse calcifications of benign appearance in the {side} breast.",
        birads=2,
    ),
    Finding("Calcificaciones vasculares bilaterales.", "Bilateral vascular calcifications.", birads=2),
)
IMPRESSION_TITLES: tuple[Pair, ...] = (Pair("IMPRESIÓN", "IMPRESSION"), Pair("CONCLUSIÓN", "CONCLUSION"))
ASSESSMENTS: dict[int, tuple[Pair, ...]] = {
    1: (
        Pair(
            "Estudio mamográfico sin hallazgos significativos. BI-RADS 1.",
            "Mammographic study without significant findings. BI-RADS 1.",
        ),
        Pair("Mamografía normal. Categoría BI-RADS 1.", "Normal mammogram. BI-RADS category 1."),
    ),
    2: (
        Pair("Hallazgos benignos. BI-RADS 2.", "Benign findings. BI-RADS 2."),
        Pair(
            "Hallazgos mamográficos de carácter benigno. Categoría BI-RADS 2.",
            "Benign mammographic findings. BI-RADS category 2.",
        ),
    ),
    3: (
        Pair("Hallazgo probablemente benigno. BI-RADS 3.", "Probably benign finding. BI-RADS 3."),
        Pair(
            "Hallazgo probablemente benigno. Categoría BI-RADS 3.",
            "Probably benign finding. BI-RADS category 3.",
        ),
    ),
}
RECOMMENDATIONS: dict[int, tuple[Pair, ...]] = {
    1: (
        Pair(
            "Se recomienda control mamográfico habitual en 2 años.",
            "Routine mammographic follow-up in 2 years is recommended.",
        ),
        Pair("Control en el programa de cribado.", "Follow-up in the screening programme."),
    ),
    3: (
        Pair(
            "Se recomienda control a corto plazo en 6 meses.",
            "Short-term follow-up in 6 months is recommended.",
        ),
    ),
}
RECOMMENDATIONS[2] = RECOMMENDATIONS[1]

# Fake PHI: common Spanish given names and surnames that are not also ordinary words of the reports.
GIVEN_NAMES = (
    "María",
    "Carmen",
    "Ana",
    "Isabel",
    "Laura",
    "Lucía",
    "Pilar",
    "Cristina",
    "Marta",
    "Elena",
    "Teresa",
    "Raquel",
    "Beatriz",
    "Silvia",
    "Patricia",
    "Nuria",
    "Montserrat",
    "Inmaculada",
    "Rocío",
    "Encarnación",
    "Josefa",
    "Francisca",
    "Dolores",
    "Mercedes",
    "Concepción",
    "Antonia",
    "Sonia",
    "Yolanda",
    "Eva",
    "Alicia",
)
SURNAMES = (
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Hernández",
    "Ruiz",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Alonso",
    "Gutiérrez",
    "Navarro",
    "Torres",
    "Domínguez",
    "Vázquez",
    "Ramos",
    "Gil",
    "Ramírez",
    "Serrano",
    "Molina",
    "Ortega",
    "Delgado",
    "Castro",
    "Ortiz",
    "Rubio",
    "Marín",
    "Sanz",
    "Iglesias",
    "Núñez",
    "Medina",
    "Garrido",
)
