"""De-identification: keyed pseudonyms for ids and placeholder substitution of PHI in report text.

Ids become ``HMAC-SHA256(key, id)`` truncated to 16 hex digits: stable across runs (so DVC caching and
joins work), not reversible without the key, and different for every key. The key comes from
``$BREAST_DENSITY_HASH_KEY`` when set, else from ``ingest.hash_key`` in params.yaml; set the variable for
real data so the key never sits in the repository.

Report text: values of labelled fields ("Paciente:", "NHC:", "Fecha ...:", "DNI:", "Dr." ...), dates in the
common Spanish formats, long digit runs, and every token of the patient's DICOM PatientName (matched
accent- and case-insensitively) are replaced by ``[NOMBRE]``, ``[FECHA]``, ``[NHC]`` or ``[ID]``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable

HASH_KEY_ENV = "BREAST_DENSITY_HASH_KEY"
NAME, DATE, RECORD, IDENT = "[NOMBRE]", "[FECHA]", "[NHC]", "[ID]"
PLACEHOLDERS = (NAME, DATE, RECORD, IDENT)
_HASH_CHARS = 16


def resolve_hash_key(params_key: str) -> str:
    """The pseudonymisation key: $BREAST_DENSITY_HASH_KEY wins over the params value."""
    key = os.environ.get(HASH_KEY_ENV) or params_key
    if not key:
        raise ValueError(f"no pseudonymisation key: set ingest.hash_key in params.yaml or ${HASH_KEY_ENV}")
    return key


def pseudonymize(value: str, key: str) -> str:
    """Keyed, irreversible, stable id for a patient or exam identifier."""
    digest = hmac.new(key.encode("utf-8"), str(value).strip().encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:_HASH_CHARS]


# ---- report text -------------------------------------------------------------------------------------------

_MONTHS = (
    r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    r"ene|feb|mar|abr|may|jun|jul|ago|sep|sept|oct|nov|dic"
)
_DATE_PATTERNS = [
    r"\b\d{1,2}\s*[/\-.]\s*\d{1,2}\s*[/\-.]\s*\d{2,4}\b",  # 15/03/2021, 15-3-21, 15.03.2021
    r"\b(?:19|20)\d{2}\s*[/\-.]\s*\d{1,2}\s*[/\-.]\s*\d{1,2}\b",  # 2021-03-15
    r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",  # 20210315 (DICOM DA)
    rf"\b\d{{1,2}}\s+(?:de\s+)?(?:{_MONTHS})\.?(?:\s+(?:de(?:l)?\s+)?\d{{2,4}})?\b",  # 15 de marzo de 2021
    rf"\b(?:{_MONTHS})\.?\s+(?:de(?:l)?\s+)?(?:19|20)\d{{2}}\b",  # marzo de 2021
]
_DATE_RE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)

_SEP = r"\s*(?:[:=#]|n[º°o]\.?)\s*"
# Labelled fields whose value is an identifier (letters, digits, separators) up to the end of the token run.
_RECORD_LABELS = r"n\.?\s?h\.?\s?c\.?|historia(?:\s+cl[ií]nica)?|n[º°o]?\s*(?:de\s+)?historia|h\.\s?c\.|hc"
_IDENT_LABELS = (
    r"dni|nif|nie|cip|sip|tsi|tis|nss|pasaporte|id(?:entificador)?(?:\s+paciente)?|"
    r"n[º°o]?\s*(?:de\s+)?(?:episodio|petici[oó]n|estudio|acceso|afiliaci[oó]n|seguridad\s+social)|"
    r"episodio|petici[oó]n|accession(?:\s+number)?|tel(?:[eé]fono)?|tlf|m[oó]vil"
)
# An identifier value: short letter prefix, digit groups (spaces allowed between groups), letter suffix.
_ID_VALUE = r"[A-Za-z]{0,3}-?\d(?:[\d\-/.]*\d)?(?:\s\d(?:[\d\-/.]*\d)?)*[A-Za-z]?(?!\w)"
_RECORD_RE = re.compile(rf"\b(?P<label>(?i:{_RECORD_LABELS})){_SEP}(?P<value>{_ID_VALUE})")
_IDENT_RE = re.compile(rf"\b(?P<label>(?i:{_IDENT_LABELS})){_SEP}(?P<value>{_ID_VALUE})")
# Dates in formats the patterns above miss ("Fecha: 15-III-2021"), only right after a date label.
_DATE_LABEL_RE = re.compile(
    r"\b(?P<label>(?i:fecha(?:\s+de\s+[a-záéíóú]+)?|f\.\s?nac\.?|nacimiento))\s*[:=]\s*(?P<value>\d[\w/\-.]*)"
)
# A capitalised name word, not itself a field label such as "NHC:". Case-sensitive on purpose: lower-case
# words after "Paciente:" are clinical text, not a name.
_NAME_WORD = r"[A-ZÁÉÍÓÚÑÜ][\wÁÉÍÓÚÑÜáéíóúñü'’\-]*(?!\w)(?!\s*:)"
_NAME_RUN = rf"{_NAME_WORD}(?:(?:\s*,\s*|\s+)(?:(?:de|del|la|las|los|y|i)\s+)*{_NAME_WORD})*"
_NAME_LABELS = (
    r"paciente|pte\.?|nombre(?:\s+y\s+apellidos)?|apellidos(?:\s+y\s+nombre)?|"
    r"radi[oó]log[oa](?:/a)?|m[eé]dic[oa](?:\s+(?:solicitante|informante|peticionari[oa]|remitente))?|"
    r"informad[oa]\s+por|firmad[oa](?:\s+por)?|solicitante|facultativ[oa]|validad[oa]\s+por"
)
_TITLES = r"(?:Dra?|Sra?|Srta|Prof)\.?"
_NAME_LABEL_RE = re.compile(
    rf"\b(?P<label>(?i:{_NAME_LABELS}))\s*[:=]\s*(?:{_TITLES}\s+)?(?P<value>{_NAME_RUN})"
)
_TITLE_RE = re.compile(rf"\b(?P<label>{_TITLES})\s+(?P<value>{_NAME_RUN})")
_DNI_RE = re.compile(r"\b\d{7,8}\s?-?[A-HJ-NP-TV-Z]\b|\b[XYZ]\d{7}[A-Z]\b")
# Record-like numbers anywhere: six or more digits, or phone-style digit groups.
_LONG_DIGITS_RE = re.compile(r"(?<![\w.,])(?:\d{6,}|\d{2,3}(?: \d{2,3}){3,})(?![\w,]|\.\d)")
_PARTICLES = {"de", "del", "la", "las", "los", "y", "i", "da", "do", "dos", "van", "von", "san", "e"}
_REPEATS_RE = re.compile(r"\[NOMBRE\](?:(?:\s*,\s*|\s+)(?:(?:de|del|la|las|los|y|i)\s+)*\[NOMBRE\])+")


def scrub_report(text: str, names: Iterable[str] = ()) -> str:
    """Replace PHI in a Spanish report by placeholders; `names`: the patient's DICOM PatientName values."""
    if not text:
        return text
    text = _RECORD_RE.sub(lambda m: _keep_label(m, RECORD), text)
    text = _IDENT_RE.sub(lambda m: _keep_label(m, IDENT), text)
    text = _DATE_RE.sub(DATE, text)
    text = _DATE_LABEL_RE.sub(lambda m: _keep_label(m, DATE), text)
    text = _NAME_LABEL_RE.sub(lambda m: _keep_label(m, NAME), text)
    text = _TITLE_RE.sub(lambda m: f"{m.group('label')} {NAME}", text)
    name_re = known_name_pattern(names)
    if name_re is not None:
        text = name_re.sub(NAME, text)
    text = _DNI_RE.sub(IDENT, text)
    text = _LONG_DIGITS_RE.sub(IDENT, text)
    return _REPEATS_RE.sub(NAME, text)


def _keep_label(match: re.Match, placeholder: str) -> str:
    start, end = match.span("value")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + placeholder + whole[end - offset :]


def name_tokens(names: Iterable[str]) -> set[str]:
    """Words of DICOM PersonName values ('Family^Given^Middle^Prefix^Suffix'), particles dropped."""
    tokens = set()
    for name in names:
        for token in re.split(r"[\^=\s,\-]+", str(name)):
            token = token.strip(".'’")
            if len(token) >= 2 and _fold(token) not in _PARTICLES:
                tokens.add(token)
    return tokens


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
    for char in _fold(token):
        chars = _ACCENT_CLASSES.get(char)
        parts.append(f"[{chars}]" if chars else re.escape(char))
    return "".join(parts)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
