"""Exact McNemar tests between models on the images they were all tested on.

Caveat carried into the results table: McNemar treats the paired images as independent; views of one exam are
not, so the p-values are optimistic when several views per exam are in the test split.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
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


def pairwise_mcnemar(predictions: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """``{"<a>_vs_<b>": exact_mcnemar(...)}`` for every pair, on the image_ids both models predicted.

    Each frame needs image_id, actual and predicted columns; frames are restricted to the shared images so
    every pair is compared on identical data.
    """
    shared = set.intersection(*(set(df["image_id"]) for df in predictions.values()))
    if not shared:
        raise ValueError("the models share no test images; McNemar needs paired predictions")
    correct = {}
    for name, df in predictions.items():
        rows = df[df["image_id"].isin(shared)].set_index("image_id").sort_index()
        correct[name] = (rows["actual"] == rows["predicted"]).to_numpy()
    return {f"{a}_vs_{b}": exact_mcnemar(correct[a], correct[b]) for a, b in combinations(predictions, 2)}
