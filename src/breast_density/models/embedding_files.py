"""The embed stage's folder (image embeddings only: the zeroshot stage embeds its own prompts): writing it,
reading it back checked, and lining its rows up with split.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breast_density.io import read_csv, read_json, reset_dir, write_csv, write_json, write_npy

INDEX, IMAGES, META = "index.csv", "image_embeddings.npy", "meta.json"


def read_split(path: str | Path, columns: tuple[str, ...] = ("image_id", "path")) -> pd.DataFrame:
    """split.csv with its required columns checked and image ids unique."""
    frame = read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    dupes = frame["image_id"][frame["image_id"].duplicated()]
    if len(dupes):
        raise ValueError(f"{path}: image_id {dupes.iloc[0]!r} appears more than once")
    if frame.empty:
        raise ValueError(f"{path}: no images")
    return frame


def write_embeddings(out_dir: str | Path, image_ids: pd.Series, images: np.ndarray, meta: dict) -> Path:
    out = reset_dir(out_dir)
    write_npy(out / IMAGES, images.astype(np.float32))
    write_csv(out / INDEX, pd.DataFrame({"image_id": image_ids.to_numpy()}))
    write_json(out / META, meta)  # last: its presence marks a complete folder
    return out


def load_embeddings(embed_dir: str | Path) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """(index, image embeddings, meta) of the embed stage, checked against each other."""
    embed_dir = Path(embed_dir)
    for name in (INDEX, IMAGES, META):
        if not (embed_dir / name).is_file():
            raise FileNotFoundError(f"{embed_dir / name}: missing; run `dvc repro embed` first")
    index = read_csv(embed_dir / INDEX)
    images = np.load(embed_dir / IMAGES)
    meta = read_json(embed_dir / META)
    if len(index) != len(images):
        raise ValueError(f"{embed_dir}: {INDEX} has {len(index)} rows but {IMAGES} has {len(images)}")
    return index, images, meta


def rows_for(split: pd.DataFrame, index: pd.DataFrame, images: np.ndarray, source: str | Path) -> np.ndarray:
    """Embedding rows in the order of `split`; every split image must have been embedded."""
    position = pd.Series(np.arange(len(index)), index=index["image_id"].to_numpy())
    missing = split.loc[~split["image_id"].isin(position.index), "image_id"]
    if len(missing):
        raise ValueError(
            f"{source}: {len(missing)} split image(s) were not embedded, e.g. {missing.iloc[0]!r}; "
            "rerun `dvc repro embed`"
        )
    return images[position.loc[split["image_id"].to_numpy()].to_numpy()]
