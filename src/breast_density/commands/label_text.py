"""`breast-density label-text`: what the text stages make of report text, before any pipeline run.

Reads one text (an argument, or `-` for stdin) or a batch (`--csv FILE --id-column C --text-column C`) and
prints per report the normalised Spanish, the English, the label with its rule and matched span, or the
exclusion reason; `--json` prints one JSON object a line instead of the table. Uses the normalize,
translate and label settings of the params file, so users can check their own hospital's phrasing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from breast_density import paths
from breast_density.params import load_params
from breast_density.text.report_text import TextResult, TextStages

TABLE_COLUMNS = ("id", "label", "rule", "span", "reason", "text_es", "text_en")
MAX_CELL = 80  # table cells longer than this are cut (the JSON output keeps everything)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="report text, or '-' to read it from stdin")
    parser.add_argument("--csv", type=Path, help="batch: a CSV file of reports")
    parser.add_argument("--id-column", default="exam_id", help="column of --csv holding the report id")
    parser.add_argument("--text-column", default="text", help="column of --csv holding the Spanish text")
    parser.add_argument("--json", action="store_true", help="one JSON object per report and line")
    parser.add_argument("--params", type=Path, default=paths.PARAMS, help="params file (text settings)")


def read_items(args: argparse.Namespace, stdin=None) -> list[tuple[str, str]]:
    """(id, text) pairs from the argument, stdin or the CSV; a clear error for unusable input."""
    if args.csv is not None:
        if args.text is not None:
            raise ValueError("give either a text or --csv, not both")
        if not args.csv.is_file():
            raise FileNotFoundError(f"{args.csv}: CSV file not found")
        frame = pd.read_csv(args.csv, dtype=str, keep_default_na=False)
        missing = [c for c in (args.id_column, args.text_column) if c not in frame.columns]
        if missing:
            raise ValueError(f"{args.csv}: missing column(s) {missing}; columns are {list(frame.columns)}")
        return list(zip(frame[args.id_column], frame[args.text_column], strict=True))
    if args.text is None:
        raise ValueError("give a report text, '-' for stdin, or --csv FILE")
    if args.text == "-":
        data = (stdin or sys.stdin.buffer).read()
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        return [("stdin", text)]
    return [("text", args.text)]


def as_record(result: TextResult) -> dict:
    d = result.decision
    return {
        "id": result.id,
        "label": d.label,
        "rule": d.rule,
        "span": d.span,
        "reason": d.reason or None,
        "text_es": result.text_es,
        "text_en": result.text_en,
    }


def format_table(records: list[dict]) -> str:
    def cell(value) -> str:
        text = "" if value is None else " ".join(str(value).split())
        return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"

    rows = [[cell(r[c]) for c in TABLE_COLUMNS] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(TABLE_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(TABLE_COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def label_text_command(args: argparse.Namespace) -> int:
    stages = TextStages(load_params(args.params))
    records = [as_record(r) for r in stages.run(read_items(args))]
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    else:
        print(format_table(records))
    return 0
