"""Spanish -> English with a MarianMT model (transformers), e.g. Helsinki-NLP/opus-mt-es-en.

The model comes from a local directory or a hub name. A hub name in the local cache loads without network; one
that is not fails at once under HF_HUB_OFFLINE=1, and after one short hub probe otherwise, with the fix in the
message instead of a long retry. A directory without weights fails too (never a random model).

Reports are split into lines and sentences before translation: Marian models are trained on sentences and
drift or truncate on whole multi-section reports, and screening reports repeat the same sentences, so each
distinct sentence is translated once. Sentences are batched by length to keep padding small.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from breast_density.hub import cached_file, hub_offline
from breast_density.params import TranslateParams

log = logging.getLogger(__name__)

HUB_TIMEOUT_S = 10.0
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=\S)")
_REQUIRED_FILES = ("config.json", "source.spm", "target.spm", "vocab.json")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


class MarianModelError(FileNotFoundError, RuntimeError):
    """The configured Marian model cannot be loaded; the message names the model and the fix.

    A FileNotFoundError, so stages and the CLI report it as one line, without a traceback.
    """


def _fix(model: str) -> str:
    return (
        f"download it once where the hub is reachable (`hf download {model} --local-dir models/marian`), "
        "copy that folder here and set translate.marian_model in params.yaml to its path"
    )


def resolve_model(model: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, local_files_only). Raises MarianModelError without any network
    access when the model cannot be there."""
    path = Path(model).expanduser()
    if path.is_dir():
        missing = [f for f in _REQUIRED_FILES if not (path / f).is_file()]
        if not any((path / f).is_file() for f in _WEIGHT_FILES):
            missing.append("model.safetensors (or pytorch_model.bin)")
        if missing:
            raise MarianModelError(f"Marian model directory {path} lacks {missing}; {_fix('<model id>')}")
        return str(path), True
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise MarianModelError(f"Marian model directory {model!r} does not exist; {_fix('<model id>')}")
    from huggingface_hub import HfApi

    if cached_file(model, "config.json") is not None:
        return model, True
    if hub_offline():
        raise MarianModelError(
            f"Marian model {model!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 forbids "
            f"downloading it: {_fix(model)}"
        )
    # One short probe instead of transformers' retries when the hub is unreachable.
    try:
        HfApi().model_info(model, timeout=HUB_TIMEOUT_S)
    except Exception as err:  # any failure (network, unknown repo, auth) means it cannot be fetched now
        raise MarianModelError(
            f"Marian model {model!r} is not cached and the hub did not provide it ({type(err).__name__}): "
            f"{_fix(model)}"
        ) from None
    return model, False


def split_segments(text: str) -> list[list[str]]:
    """Lines of sentences; empty lines stay empty so the report keeps its layout."""
    return [[s for s in _SENTENCE_END.split(line.strip()) if s] for line in text.splitlines()]


def join_segments(lines: list[list[str]]) -> str:
    return "\n".join(" ".join(sentences) for sentences in lines)


@dataclass
class MarianTranslator:
    model: object  # transformers.MarianMTModel
    tokenizer: object  # transformers.MarianTokenizer
    device: str
    batch_size: int = 16
    max_length: int = 512

    @classmethod
    def load(
        cls, model: str, batch_size: int = 16, max_length: int = 512, device: str | None = None
    ) -> MarianTranslator:
        source, local_only = resolve_model(model)  # before the heavy imports: a missing model fails at once
        import torch
        from transformers import MarianMTModel, MarianTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            tokenizer = MarianTokenizer.from_pretrained(source, local_files_only=local_only)
            net, info = MarianMTModel.from_pretrained(
                source, local_files_only=local_only, output_loading_info=True
            )
        except (OSError, ValueError) as err:
            raise MarianModelError(
                f"Marian model {model!r} could not be loaded ({err}); {_fix(model)}"
            ) from None
        # Sinusoidal position tables and the logits bias are rebuilt, not learnt; anything else missing
        # would leave random weights in the network.
        missing = [
            k for k in info.get("missing_keys", []) if "embed_positions" not in k and "logits_bias" not in k
        ]
        if missing:
            raise MarianModelError(f"Marian model {model!r} lacks trained weights for {missing[:5]}")
        net.to(device).eval()
        log.info("Marian model %s on %s", model, device)
        return cls(net, tokenizer, device, batch_size, max_length)

    def translate_sentences(self, sentences: Sequence[str]) -> list[str]:
        """Translate sentences in batches of similar length; output order = input order."""
        import torch
        from tqdm import tqdm

        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out: list[str] = [""] * len(sentences)
        starts = range(0, len(order), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="marian", unit="batch", leave=False, disable=len(starts) < 2):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [sentences[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                ).to(self.device)
                generated = self.model.generate(**batch, max_new_tokens=self.max_length)
                for i, text in zip(
                    idx, self.tokenizer.batch_decode(generated, skip_special_tokens=True), strict=True
                ):
                    out[i] = text.strip()
        return out

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Translate whole reports, keeping their line layout; each distinct sentence is translated once."""
        layouts = [split_segments(t or "") for t in texts]
        unique = sorted({s for lines in layouts for sentences in lines for s in sentences})
        translated = dict(zip(unique, self.translate_sentences(unique), strict=True))
        return [
            join_segments([[translated[s] for s in sentences] for sentences in lines]) for lines in layouts
        ]


def translate_marian(
    texts: Sequence[str], model: str, batch_size: int = 16, max_length: int = 512, device: str | None = None
) -> list[str]:
    """Load the model and translate `texts` (Spanish reports) to English, in order."""
    return MarianTranslator.load(model, batch_size, max_length, device).translate(texts)


def translate(texts: list[str], params: TranslateParams) -> list[str]:
    """Backend entry point of the translation registry (text/translate.py): translate.marian_model,
    translate.batch_size and translate.max_length from params."""
    return translate_marian(texts, params.marian_model, params.batch_size, params.max_length)
