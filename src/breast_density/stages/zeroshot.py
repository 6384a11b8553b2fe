"""Stage zeroshot: classify every labelled image by its similarity to the class prompts."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from breast_density import paths
from breast_density.io import reset_dir, write_csv
from breast_density.models.embedding_files import load_embeddings, read_split, rows_for
from breast_density.models.prediction_frame import prediction_frame
from breast_density.models.zeroshot import zero_shot_probabilities
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)


def run(
    params: Params,
    embed_dir: str | Path,
    split_csv: str | Path,
    out_dir: str | Path,
) -> pd.DataFrame:
    """Zero-shot predictions for every labelled image (all partitions), written to predictions.csv."""
    split = read_split(split_csv, ("image_id", "label", "partition"))
    split = split[split["label"] != ""].reset_index(drop=True)
    index, images, texts, meta = load_embeddings(embed_dir, params.class_names)
    x = rows_for(split, index, images, Path(embed_dir))
    probs = zero_shot_probabilities(x, texts, float(meta["logit_scale"]))
    table = prediction_frame(split, probs, params.class_names)
    out = reset_dir(out_dir)
    write_csv(out / "predictions.csv", table)
    correct = table["actual"] == table["predicted"]
    for part, acc in correct.groupby(table["partition"]).mean().items():
        log.info(
            "zero-shot accuracy on %s: %.3f (%d images)", part, acc, int((table["partition"] == part).sum())
        )
    if meta.get("untrained"):
        log.warning("embeddings come from an untrained demo model: these accuracies are meaningless")
    return table


def main() -> None:
    params = stage_setup("zeroshot")
    run(params, paths.stage_dir("embed"), paths.stage_dir("split") / "split.csv", paths.stage_dir("zeroshot"))


if __name__ == "__main__":
    main()
