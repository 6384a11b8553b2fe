"""Exact McNemar tests between arms and the Holm correction for testing several pairs.

The primary test pairs *exams* (exam-level predictions): an exam's views are one case, and McNemar assumes
independent pairs. The per-image test is kept as a labelled secondary figure; it treats correlated views as
independent, so its p-values are optimistic.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar


def mcnemar_table(first_correct: np.ndarray, second_correct: np.ndarray) -> np.ndarray:
    """2x2 table: rows = first model correct/wrong, columns = second model correct/wrong."""
    a = np.asarray(first_correct, dtype=bool)
    b = np.asarray(second_correct, dtype=bool)
    return np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])


def exact_mcnemar(first_correct: np.ndarray, second_correct: np.ndarray) -> dict:
    """Counts of the discordant pairs and the exact (binomial) two-sided p-value."""
    table = mcnemar_table(first_correct, second_correct)
    result = mcnemar(table, exact=True)
    return {
        "n": int(table.sum()),
        "both_correct": int(table[0, 0]),
        "only_first_correct": int(table[0, 1]),
        "only_second_correct": int(table[1, 0]),
        "both_wrong": int(table[1, 1]),
        "p_value": float(result.pvalue),
    }


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm step-down adjusted p-values (family-wise error control over all the given tests)."""
    names = sorted(p_values, key=lambda k: p_values[k])
    m = len(names)
    adjusted, running = {}, 0.0
    for rank, name in enumerate(names):
        running = max(running, min(1.0, (m - rank) * p_values[name]))
        adjusted[name] = running
    return {name: adjusted[name] for name in p_values}
