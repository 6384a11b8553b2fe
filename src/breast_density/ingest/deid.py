"""De-identification: keyed pseudonyms for ids and placeholder substitution of PHI in report text.

Ids become ``HMAC-SHA256(key, id)`` truncated to 16 hex digits: stable across runs (so DVC caching and
joins work), not reversible without the key, and different for every key. The key comes from
``$BREAST_DENSITY_HASH_KEY``, else from the file named by ``ingest.hash_key_file`` (kept outside git), else
from ``ingest.hash_key`` in params.yaml. `check_hash_key` adds the safety rules: the public demo key is
refused on real data, a literal key in params.yaml is accepted with a warning (it lands in dvc.lock), and a
key from outside params.yaml must be matched by ``ingest.key_fingerprint`` so that DVC, which tracks that
param, reruns ingest when the key changes.

Report text (Spanish or English) is NFC-normalised first. Names are gathered from every source — DICOM
PatientName, a names column, and the values of name-led fields of the report itself (patient, relatives,
staff, titles such as "Dr.") — and every later mention of any of their words is replaced, ignoring case and
accents. Label-led fields (address, phone, DNI/NIE, record number, e-mail, dates) and pattern PHI (phone
numbers, national ids, dates in the common Spanish and English formats, long digit runs) become typed
placeholders: ``[NOMBRE]``, ``[FECHA]``, ``[NHC]``, ``[ID]``, ``[DIRECCION]``, ``[TELEFONO]``, ``[EMAIL]``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

HASH_KEY_ENV = "BREAST_DENSITY_HASH_KEY"
DEMO_KEY = "demo-key-change-me"
NAME, DATE, RECORD, IDENT = "[NOMBRE]", "[FECHA]", "[NHC]", "[ID]"
ADDRESS, PHONE, EMAIL = "[DIRECCION]", "[TELEFONO]", "[EMAIL]"
PLACEHOLDERS = (NAME, DATE, RECORD, IDENT, ADDRESS, PHONE, EMAIL)
_HASH_CHARS = 16


def _key_and_origin(params_key: str, key_file: str | None) -> tuple[str, str]:
    if os.environ.get(HASH_KEY_ENV):
        return os.environ[HASH_KEY_ENV], f"${HASH_KEY_ENV}"
    if key_file:
        path = Path(key_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ValueError(f"ingest.hash_key_file: cannot read the key file: {err.strerror}") from None
        if not key:
            raise ValueError(f"ingest.hash_key_file: {path} is empty")
        return key, "ingest.hash_key_file"
    return params_key, "ingest.hash_key"


def resolve_hash_key(params_key: str, key_file: str | None = None) -> str:
    """The pseudonymisation key: $BREAST_DENSITY_HASH_KEY, else the key file, else the params value."""
    key, _ = _key_and_origin(params_key, key_file)
    if not key:
        raise ValueError(f"no pseudonymisation key: set ingest.hash_key in params.yaml or ${HASH_KEY_ENV}")
    return key


def key_fingerprint(key: str) -> str:
    """A non-secret tag of the key (12 hex digits) that params.yaml can carry so DVC sees key changes."""
    return hashlib.sha256(b"breast-density key fingerprint\0" + key.encode("utf-8")).hexdigest()[:12]


def check_hash_key(params_key: str, key_file: str | None, fingerprint: str, synthetic: bool) -> str:
    """`resolve_hash_key` plus the rules that keep a real data set from a public or untracked key."""
    key = resolve_hash_key(params_key, key_file)
    _, origin = _key_and_origin(params_key, key_file)
    how = f"set ${HASH_KEY_ENV} or ingest.hash_key_file (a file outside git holding a long random key)"
    if key == DEMO_KEY and not synthetic:
        raise ValueError(f"the public demo key would pseudonymise real data: {how}")
    if origin == "ingest.hash_key":
        if key != DEMO_KEY:
            log.warning("ingest.hash_key is written in params.yaml: it lands in dvc.lock and git; %s", how)
        return key
    actual = key_fingerprint(key)
    if fingerprint != actual:
        state = f"is {fingerprint!r}" if fingerprint else "is not set"
        raise ValueError(
            f"ingest.key_fingerprint {state} but the key from {origin} has fingerprint {actual}: set "
            f"`key_fingerprint: {actual}` under ingest in params.yaml (DVC tracks it: new key, new run)"
        )
    return key


def pseudonymize(value: str, key: str) -> str:
    """Keyed, irreversible, stable id for a patient or exam identifier."""
    digest = hmac.new(key.encode("utf-8"), _id_bytes(value), hashlib.sha256)
    return digest.hexdigest()[:_HASH_CHARS]


def _id_bytes(value: str) -> bytes:
    # surrogateescape: a file name that is not valid UTF-8 still gets a pseudonym (same bytes as on disk)
    return str(value).strip().encode("utf-8", "surrogateescape")


# ---- report text -------------------------------------------------------------------------------------------

_MONTHS_ES = (
    r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    r"ene|feb|mar|abr|may|jun|jul|ago|sep|sept|oct|nov|dic"
)
_MONTHS_EN = (
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_MONTHS = f"{_MONTHS_ES}|{_MONTHS_EN}"
_ORD = r"(?:st|nd|rd|th|º|°)?"
_DATE_PATTERNS = [
    r"\b\d{1,2}\s*[/\-.]\s*\d{1,2}\s*[/\-.]\s*\d{2,4}\b",  # 15/03/2021, 15-3-21, 15.03.2021, 03/15/2021
    r"\b(?:19|20)\d{2}\s*[/\-.]\s*\d{1,2}\s*[/\-.]\s*\d{1,2}(?:T[\d:.]+)?\b",  # 2021-03-15(T10:22)
    r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",  # 20210315 (DICOM DA)
    # 15 de marzo de 2021, 15th of March, 2021, 15 Mar 2021
    rf"\b\d{{1,2}}{_ORD}\s+(?:de\s+|of\s+)?(?:{_MONTHS})\.?(?:,?\s+(?:de(?:l)?\s+)?\d{{2,4}})?\b",
    rf"\b(?:{_MONTHS_EN})\.?\s+\d{{1,2}}{_ORD}(?:,?\s+\d{{4}})?\b",  # March 15, 2021
    rf"\b(?:{_MONTHS})\.?,?\s+(?:de(?:l)?\s+)?(?:19|20)\d{{2}}\b",  # marzo de 2021, March 2021
]
_DATE_RE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)

_SEP = r"\s*(?:[:=#]|n[º°o]\.?)\s*"
# Labelled fields whose value is an identifier (letters, digits, separators) up to the end of the token run.
_RECORD_LABELS = (
    r"n\.?\s?h\.?\s?c\.?|historia(?:\s+cl[ií]nica)?|n[º°o]?\s*(?:de\s+)?historia|h\.\s?c\.|hc|"
    r"mrn|medical\s+record(?:\s+(?:number|no\.?))?|record\s+(?:number|no\.?)"
)
_IDENT_LABELS = (
    r"dni|nif|nie|cip|sip|tsi|tis|nss|ssn|pasaporte|passport|nhs(?:\s+number)?|"
    r"id(?:entificador)?(?:\s+paciente)?|patient\s+id|"
    r"n[º°o]?\s*(?:de\s+)?(?:episodio|petici[oó]n|estudio|acceso|afiliaci[oó]n|seguridad\s+social)|"
    r"episodio|petici[oó]n|accession(?:\s+(?:number|no\.?))?|acc(?:\.|\s+no\.?)"
)
_PHONE_LABELS = r"tel(?:[eé]fono)?\.?|tlf\.?|tfno\.?|m[oó]vil|phone|mobile|cell|fax"
_ADDRESS_LABELS = r"domicilio|direcci[oó]n|residencia|address|home\s+address"
# An identifier value: short letter prefix, digit groups (spaces allowed between groups), letter suffix.
_ID_VALUE = r"[A-Za-z]{0,3}-?\d(?:[\d\-/.]*\d)?(?:\s\d(?:[\d\-/.]*\d)?)*(?:\s?-?[A-Za-z])?(?!\w)"
_PHONE_VALUE = r"\+?\(?\d[\d\s().\-/]{5,}\d"
_RECORD_RE = re.compile(rf"\b(?P<label>(?i:{_RECORD_LABELS})){_SEP}(?P<value>{_ID_VALUE})")
_IDENT_RE = re.compile(rf"\b(?P<label>(?i:{_IDENT_LABELS})){_SEP}(?P<value>{_ID_VALUE})")
_PHONE_LABEL_RE = re.compile(rf"\b(?P<label>(?i:{_PHONE_LABELS}))(?:{_SEP}|\s+)(?P<value>{_PHONE_VALUE})")
# An address runs to the end of the line or to the next "Label:" (an upper-case heading or a known field).
_NEXT_FIELD = (
    rf"\s*(?:\b[A-ZÁÉÍÓÚÑ][A-Za-zÁÉÍÓÚÑáéíóúñ]*\s*:|"
    rf"\b(?i:{_PHONE_LABELS}|{_IDENT_LABELS}|{_RECORD_LABELS})\b|\n|$)"
)
_ADDRESS_RE = re.compile(rf"\b(?P<label>(?i:{_ADDRESS_LABELS})){_SEP}(?P<value>[^\n]+?)(?={_NEXT_FIELD})")
_EMAIL_RE = re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b")
# Dates in formats the patterns above miss ("Fecha: 15-III-2021"), only right after a date label.
_DATE_LABEL_RE = re.compile(
    r"\b(?P<label>(?i:fecha(?:\s+de\s+[a-záéíóú]+)?|f\.\s?nac\.?|nacimiento|d\.?o\.?b\.?|"
    r"date(?:\s+of\s+[a-z]+)?|born))\s*[:=]\s*(?P<value>\d[\w/\-.]*)"
)
# A capitalised name word, not itself a field label such as "NHC:". Case-sensitive on purpose: lower-case
# words after "Paciente:" are clinical text, not a name.
_NAME_WORD = r"[A-ZÁÉÍÓÚÑÜ][\wÁÉÍÓÚÑÜáéíóúñü'’\-]*(?!\w)(?!\s*:)"
_NAME_RUN = rf"{_NAME_WORD}(?:(?:\s*,\s*|\s+)(?:(?:de|del|la|las|los|y|i)\s+)*{_NAME_WORD})*"
# Fields whose value is a name after ':' (patient, signing staff) ...
_NAME_LABELS = (
    r"paciente|pte\.?|nombre(?:\s+y\s+apellidos)?|apellidos(?:\s+y\s+nombre)?|"
    r"radi[oó]log[oa](?:/a)?|m[eé]dic[oa](?:\s+(?:solicitante|informante|peticionari[oa]|remitente))?|"
    r"informad[oa]\s+por|firmad[oa](?:\s+por)?|solicitante|facultativ[oa]|validad[oa]\s+por|"
    r"patient(?:\s+name)?|name|(?:referring\s+)?physician|radiologist|"
    r"(?:read|reported|dictated|signed|performed|reviewed|transcribed|verified)\s+by"
)
# ... and words after which a capitalised word is a name even without ':' (relatives, contacts, staff).
_PERSON_WORDS = (
    r"esposo|esposa|marido|mujer|pareja|hij[oa]|madre|padre|herman[oa]|sobrin[oa]|nieto|nieta|"
    r"cuidador(?:a)?|acompañante|familiar|contacto|t[eé]cnic[oa]\s+de\s+rayos|ter|enfermer[oa]|"
    r"husband|wife|partner|daughter|son|mother|father|sister|brother|caregiver|next\s+of\s+kin|"
    r"emergency\s+contact|technologist|technician|tech|radiographer|nurse"
)
# Sentence-opening words that follow a heading ("TÉCNICA: Se realizan ...") and are never a name.
_NOT_NAMES = (
    r"(?:Se|El|La|Los|Las|Lo|Un|Una|No|Sin|Con|En|Por|Para|Sí|The|A|An|There|This|It|Both|Bilateral)\b"
)
_TITLES = r"(?:Dra?|Sra?|Srta|Dña|Prof|Mrs?|Ms|Miss|Mx)\.?|Don|Doña"
_NAME_LABEL_RE = re.compile(
    rf"\b(?P<label>(?i:{_NAME_LABELS}))\s*[:=]\s*(?:(?:{_TITLES})\s+)?(?!{_NOT_NAMES})(?P<value>{_NAME_RUN})"
)
_PERSON_RE = re.compile(
    rf"\b(?P<label>(?i:{_PERSON_WORDS})|[Tt][eé]cnic[oa])(?:\s*[:=]\s*|\s+)(?:(?:{_TITLES})\s+)?"
    rf"(?!{_NOT_NAMES})(?P<value>{_NAME_RUN})"
)
_TITLE_RE = re.compile(rf"\b(?P<label>{_TITLES})\s+(?P<value>{_NAME_RUN})")
_DNI_RE = re.compile(
    r"\b(?:\d{8}|\d{1,2}\.\d{3}\.\d{3})\s?-?[A-HJ-NP-TV-Z]\b|\b[XYZ]-?\d{7}-?[A-Z]\b|\b\d{3}-\d{2}-\d{4}\b",
    re.IGNORECASE,
)
_PHONE_RE = re.compile(
    r"(?<![\w.,/])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{2,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,4}){2,4}(?![\w,/]|\.\d)"
)
# Record-like numbers anywhere: six or more digits.
_LONG_DIGITS_RE = re.compile(r"(?<![\w.,])\d{6,}(?![\w,]|\.\d)")
_PARTICLES = {"de", "del", "la", "las", "los", "y", "i", "da", "do", "dos", "van", "von", "san", "e"}
_REPEATS_RE = re.compile(r"\[NOMBRE\](?:(?:\s*,\s*|\s+)(?:(?:de|del|la|las|los|y|i)\s+)*\[NOMBRE\])+")


def names_in_text(text: str) -> list[str]:
    """Names a report itself gives in name-led fields: the patient, relatives, staff, titled people."""
    text = unicodedata.normalize("NFC", text)
    found = []
    for pattern in (_NAME_LABEL_RE, _PERSON_RE, _TITLE_RE):
        found.extend(m.group("value") for m in pattern.finditer(text))
    return found


def scrub_report(text: str, names: Iterable[str] = ()) -> str:
    """Replace PHI in a report by typed placeholders; `names`: known names (DICOM, a names column)."""
    if not text:
        return text
    text = unicodedata.normalize("NFC", text)
    known = [unicodedata.normalize("NFC", str(n)) for n in names] + names_in_text(text)
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _ADDRESS_RE.sub(lambda m: _keep_label(m, ADDRESS), text)
    text = _PHONE_LABEL_RE.sub(lambda m: _keep_label(m, PHONE), text)
    text = _RECORD_RE.sub(lambda m: _keep_label(m, RECORD), text)
    text = _IDENT_RE.sub(lambda m: _keep_label(m, IDENT), text)
    text = _DATE_RE.sub(DATE, text)
    text = _DATE_LABEL_RE.sub(lambda m: _keep_label(m, DATE), text)
    text = _NAME_LABEL_RE.sub(lambda m: _keep_label(m, NAME), text)
    text = _PERSON_RE.sub(lambda m: _keep_label(m, NAME), text)
    text = _TITLE_RE.sub(lambda m: f"{m.group('label')} {NAME}", text)
    name_re = known_name_pattern(known)
    if name_re is not None:
        text = name_re.sub(NAME, text)
    text = _DNI_RE.sub(IDENT, text)
    text = _PHONE_RE.sub(_phone_or_keep, text)
    text = _LONG_DIGITS_RE.sub(IDENT, text)
    return _REPEATS_RE.sub(NAME, text)


def _phone_or_keep(match: re.Match) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return PHONE if 9 <= digits <= 15 else match.group(0)


def _keep_label(match: re.Match, placeholder: str) -> str:
    start, end = match.span("value")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + placeholder + whole[end - offset :]


def name_tokens(names: Iterable[str]) -> set[str]:
    """Words of names: DICOM PersonName values ('Family^Given^Middle^Prefix^Suffix') or plain text.

    A value whose bytes were decoded with the wrong character set ('PÃ©REZ') also yields its repaired form.
    """
    tokens = set()
    for name in names:
        for form in _name_forms(str(name)):
            for token in re.split(r"[\^=\s,\-]+", form):
                token = token.strip(".'’")
                if len(token) >= 2 and _fold(token) not in _PARTICLES and not token.startswith("["):
                    tokens.add(token)
    return tokens


def _name_forms(name: str) -> list[str]:
    forms = [unicodedata.normalize("NFC", name)]
    try:
        repaired = name.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return forms
    return [*forms, unicodedata.normalize("NFC", repaired)]


def known_name_pattern(names: Iterable[str]) -> re.Pattern | None:
    """Regex matching any token of the given names, ignoring case and accents, as whole words."""
    tokens = sorted(name_tokens(names), key=len, reverse=True)
    if not tokens:
        return None
    alternatives = "|".join(_accent_insensitive(t) for t in tokens)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


_ACCENT_CLASSES = {
    "a": "aáàâäã",
    "e": "eéèêë",
    "i": "iíìîï",
    "o": "oóòôöõ",
    "u": "uúùûü",
    "n": "nñ",
    "c": "cç",
}


def _accent_insensitive(token: str) -> str:
    parts = []
    for char in fold(token):
        chars = _ACCENT_CLASSES.get(char)
        parts.append(f"[{chars}]" if chars else re.escape(char))
    return "".join(parts)


def fold(text: str) -> str:
    """Lower case without accents: 'PÉREZ' -> 'perez' (how names are compared everywhere)."""
    decomposed = unicodedata.normalize("NFKD", str(text).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_fold = fold
