"""MarianMT backend on a tiny Marian model built here (its sentencepiece tokenizer trained on the fly)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from breast_density.params import TranslateParams
from breast_density.text.marian import MarianModelError, MarianTranslator, resolve_model, split_segments
from breast_density.text.translate import translate_texts

CORPUS = [
    "Mamas heterogéneamente densas.",
    "Heterogeneously dense breasts.",
    "No se observan nódulos ni microcalcificaciones.",
    "No nodules or microcalcifications are seen.",
    "Densidad mamaria tipo C.",
    "Breast density type C.",
    "Hallazgos benignos. BI-RADS 2.",
    "Benign findings. BI-RADS 2.",
    "Mamas extremadamente densas.",
    "Extremely dense breasts.",
]
SENTENCES = [
    "Mamas heterogéneamente densas.",
    "Densidad mamaria tipo C.",
    "No se observan nódulos ni microcalcificaciones.",
    "Mamas extremadamente densas.",
    "Hallazgos benignos.",
    "BI-RADS 2.",
    "x",
]


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer Marian with a 16-wide model, saved like a hub checkpoint (config, weights, spm, vocab)."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    out = tmp_path_factory.mktemp("tiny-marian")
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(out / "sp"),
        vocab_size=80,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=str(out / "sp.model"))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    vocab["<pad>"] = len(vocab)
    for name in ("source.spm", "target.spm"):
        (out / name).write_bytes((out / "sp.model").read_bytes())
    (out / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = MarianTokenizer(str(out / "source.spm"), str(out / "target.spm"), str(out / "vocab.json"))
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"],
        init_std=1.0,  # large random weights so different inputs give different outputs
    )
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def translator(tiny_marian: Path) -> MarianTranslator:
    return MarianTranslator.load(str(tiny_marian), batch_size=3, max_length=6, device="cpu")


def test_batched_output_keeps_input_order(translator: MarianTranslator) -> None:
    batched = translator.translate_sentences(SENTENCES)
    one_by_one = [translator.translate_sentences([s])[0] for s in SENTENCES]
    assert all(isinstance(t, str) for t in batched)
    assert len(set(batched)) >= 3  # the model distinguishes inputs, so a reordering would show
    assert batched == one_by_one


def test_reports_keep_their_layout(translator: MarianTranslator) -> None:
    report = "HALLAZGOS: Mamas heterogéneamente densas. BI-RADS 2.\n\nIMPRESIÓN: Hallazgos benignos."
    (english,) = translator.translate([report])
    assert english.count("\n") == 2 and english.split("\n")[1] == ""
    assert split_segments(report) == [
        ["HALLAZGOS: Mamas heterogéneamente densas.", "BI-RADS 2."],
        [],
        ["IMPRESIÓN: Hallazgos benignos."],
    ]


def test_registered_backend_runs_from_params(tiny_marian: Path) -> None:
    params = TranslateParams(backend="marian", marian_model=str(tiny_marian), batch_size=2, max_length=5)
    out = translate_texts(["Mamas extremadamente densas.", "", "Densidad mamaria tipo C."], params)
    assert len(out) == 3 and out[1] == "" and all(isinstance(t, str) for t in out)


def test_missing_hub_model_fails_at_once_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(MarianModelError, match=r"opus-mt-es-xx.*translate\.marian_model") as err:
        MarianTranslator.load("Helsinki-NLP/opus-mt-es-xx")
    assert "hf download" in str(err.value)
    assert time.monotonic() - start < 10  # no network retries


def test_unreachable_hub_fails_after_one_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls = []

    def unreachable(self, repo_id: str, **kwargs) -> None:
        calls.append(kwargs.get("timeout"))
        raise ConnectionError("no route to host")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", unreachable)
    with pytest.raises(MarianModelError, match="hub did not provide it"):
        resolve_model("Helsinki-NLP/opus-mt-es-xx")
    assert len(calls) == 1 and calls[0] is not None


def test_directory_without_weights_is_refused(tiny_marian: Path, tmp_path: Path) -> None:
    for name in ("config.json", "source.spm", "target.spm", "vocab.json"):
        (tmp_path / name).write_bytes((tiny_marian / name).read_bytes())
    with pytest.raises(MarianModelError, match=r"model\.safetensors"):
        resolve_model(str(tmp_path))
    with pytest.raises(MarianModelError, match="does not exist"):
        resolve_model(str(tmp_path / "nowhere"))


@pytest.mark.gpu
def test_translates_on_gpu(tiny_marian: Path) -> None:
    gpu = MarianTranslator.load(str(tiny_marian), batch_size=3, max_length=6)
    assert gpu.device == "cuda" and next(gpu.model.parameters()).is_cuda
    batched = gpu.translate_sentences(SENTENCES)
    assert all(isinstance(t, str) for t in batched)
    assert batched == [gpu.translate_sentences([s])[0] for s in SENTENCES]
