"""Quarantine: every input the pipeline cannot use becomes a row (file, exam, reason), never a crash.

File paths of a hospital export often contain identifiers (patient-id folders, accession numbers, UIDs).
Before a row is stored, each path component below the data root that is a known identifier, holds a long
digit run or a patient-name token is replaced by its keyed pseudonym, so the row still points a user who has
the key at the file while the CSV carries no PHI. Reasons are scrubbed the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

from breast_density.ingest.deid import pseudonymize

COLUMNS = ["file", "exam_id", "reason"]
_DIGIT_RUN = re.compile(r"\d{5,}")


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
        path = Path(file)
        try:
            rel = path.relative_to(self.root)
            base = self.root
        except ValueError:
            rel, base = Path(path.name), path.parent
        parts = [self._redact_component(p) for p in rel.parts]
        return (base.joinpath(*parts) if parts else base).as_posix()

    def _redact_component(self, part: str) -> str:
        stem, dot, suffix = part.partition(".") if not part.startswith(".") else (part, "", "")
        folded = stem.lower()
        if (
            stem in self.identifiers
            or part in self.identifiers
            or _DIGIT_RUN.search(stem)
            or any(len(tok) >= 3 and tok.lower() in folded for tok in self.name_tokens)
        ):
            return f"{pseudonymize(stem, self.key)}{dot}{suffix}"
        return part

    def redact_text(self, reason: str, file: str) -> str:
        reason = reason.replace(file, "the file")
        for ident in sorted(self.identifiers, key=len, reverse=True):
            if len(ident) >= 4 and ident in reason:
                reason = reason.replace(ident, pseudonymize(ident, self.key))
        return reason
