"""Spanish -> English translation with a backend chosen by ``translate.backend``.

A backend is a function ``translate(texts: list[str], params: TranslateParams) -> list[str]`` returning one
English text per input, in order. Registering a new backend is one entry in BACKENDS ("module:function",
imported only when chosen, so the lexicon backend never pays for transformers).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from breast_density.params import TranslateParams
from breast_density.text.screen import EMPTY, NOT_TEXT, TOO_LONG, screen_text

BACKENDS: dict[str, str] = {
    "lexicon": "breast_density.text.lexicon_translate:translate",
    "marian": "breast_density.text.marian:translate",
}

Backend = Callable[[list[str], TranslateParams], list[str]]


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"translate.backend: unknown backend {name!r}; choose one of {sorted(BACKENDS)}")
    module_name, func_name = BACKENDS[name].split(":")
    return getattr(import_module(module_name), func_name)


def translate_texts(texts: list[str], params: TranslateParams) -> list[str]:
    """English translations of `texts`; empty texts, and texts that are not report text (binary, far too
    long), come back empty without reaching the backend."""
    todo = [i for i, t in enumerate(texts) if screen_text(t) not in (EMPTY, NOT_TEXT, TOO_LONG)]
    out = [""] * len(texts)
    if not todo:
        return out
    translated = get_backend(params.backend)([texts[i] for i in todo], params)
    if len(translated) != len(todo):
        raise RuntimeError(
            f"translate backend {params.backend!r} returned {len(translated)} texts for {len(todo)} inputs"
        )
    for i, english in zip(todo, translated, strict=True):
        out[i] = english
    return out
