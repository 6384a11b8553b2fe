"""Quarantine: every input the pipeline cannot use becomes a row (file, exam, reason), never a crash.

File paths of a hospital export often contain identifiers (patient-id folders, accession numbers, UIDs,
birth dates, names). Before a row is stored, each path component below the data root that holds a known
identifier, a long digit run, a date or a name token (compared without accents or case: a folder `Perez`
matches the name PÉREZ) is replaced by its keyed pseudonym, so the row still points a user who has the key
at the file while the CSV carries no PHI. A file name that is not valid UTF-8 is pseudonymised too. Reasons
are scrubbed the same way.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from breast_density.ingest.deid import DATE, NAME, fold, known_name_pattern, pseudonymize

COLUMNS = ["file", "exam_id", "reason"]
OUTSIDE_ROOT = "<outside data.root>"
_DIGIT_RUN = re.compile(r"\d{5,}")
# 19650412, 1965-04-12, 12.04.1965, 12_04_65: a birth or study date in a folder name
_DATE_LIKE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d{2}[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])|"
    r"(?:0?[1-9]|[12]\d|3[01])[-_./](?:0?[1-9]|1[0-2])[-_./](?:19|20)?\d{2})(?!\d)"
)


class Quarantine:
    def __init__(self, root: Path, key: str) -> None:
        self.root = Path(root)
        self.key = key
        self.identifiers: set[str] = set()
        self.name_tokens: set[str] = set()
        self._rows: list[tuple[str, str, str]] = []

    def add(self, file: str | Path, exam_id: str, reason: str) -> None:
        """Record one unusable input; `exam_id` is already pseudonymous (or empty)."""
        self._rows.append((str(file), exam_id, reason))

    def __len__(self) -> int:
        return len(self._rows)

    def counts(self) -> dict[str, int]:
        """Rows per kind of problem: the part of the reason before the first colon."""
        kinds = Counter(reason.split(":", 1)[0].strip() for _, _, reason in self._rows)
        return dict(sorted(kinds.items()))

    def frame(self) -> pd.DataFrame:
        rows = [(self.redact_path(f), e, self.redact_text(r, f)) for f, e, r in self._rows]
        return pd.DataFrame(rows, columns=COLUMNS).sort_values(COLUMNS, kind="stable").reset_index(drop=True)

    def redact_path(self, file: str) -> str:
        """The path with every identifying component below the data root pseudonymised.

        A path outside the data root keeps only its (redacted) file name: the folders around it are the
        user's own and may name anyone.
        """
        path = Path(os.path.normpath(file))
        try:
            rel = path.relative_to(self.root)
            base = self.root.as_posix()
        except ValueError:
            rel, base = Path(path.name), OUTSIDE_ROOT
        parts = [self._redact_component(p) for p in rel.parts]
        return "/".join([base, *parts])

    def _redact_component(self, part: str) -> str:
        stem, dot, suffix = part.partition(".") if not part.startswith(".") else (part, "", "")
        if not _encodable(part) or self._identifying(stem) or self._identifying(part):
            return f"{pseudonymize(stem, self.key)}{dot}{suffix if _encodable(suffix) else ''}"
        return part

    def _identifying(self, text: str) -> bool:
        folded = fold(text)
        return bool(
            text in self.identifiers
            or _DIGIT_RUN.search(text)
            or _DATE_LIKE.search(text)
            or any(len(i) >= 4 and fold(i) in folded for i in self.identifiers)
            or any(len(tok) >= 3 and fold(tok) in folded for tok in self.name_tokens)
        )

    def redact_text(self, reason: str, file: str) -> str:
        """Reason text without the raw path, identifiers (pseudonymised), names or dates."""
        reason = reason.replace(file, "the file")
        for ident in sorted(self.identifiers, key=len, reverse=True):
            if len(ident) >= 4 and ident in reason:
                reason = reason.replace(ident, pseudonymize(ident, self.key))
        names = known_name_pattern(self.name_tokens)
        if names is not None:
            reason = names.sub(NAME, reason)
        reason = _DATE_LIKE.sub(DATE, reason)
        return reason.encode("utf-8", "replace").decode("utf-8")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of a file name, kept by Python as surrogates
        return False
    return True
