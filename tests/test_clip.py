import json
import socket
from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
from PIL import Image

from breast_density.models import clip as clip_module
from breast_density.models.clip import (
    BIOMEDCLIP,
    ModelNotAvailableError,
    build_clip_architecture,
    load_clip,
)
from breast_density.models.devices import autocast, pick_device
from breast_density.models.embedding import class_text_embeddings, embed_images, embed_texts
from breast_density.params import read_yaml_mapping
from clip_fixtures import make_split

LOADER = {"batch_size": 32, "workers": 0, "progress": False}


@pytest.fixture
def demo():
    torch.manual_seed(0)
    return load_clip("demo-tiny-clip")


@pytest.fixture
def no_network(monkeypatch):
    """Record (and refuse) any socket connection: offline loading must not even try."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_demo_model_is_flagged_untrained_and_preprocesses_grayscale_to_rgb(demo):
    assert demo.untrained and demo.name == "demo-tiny-clip"
    assert demo.embed_dim == 64 and demo.image_size == (64, 64)
    assert demo.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)  # open_clip's initial temperature
    image = demo.preprocess(Image.fromarray(np.full((50, 70), 128, np.uint8)).convert("RGB"))
    assert image.shape == (3, 64, 64)
    tokens = demo.tokenizer(["a mammogram of an extremely dense breast"])
    assert tokens.shape == (1, 64)
    assert not any(p.requires_grad for p in demo.model.parameters()) and not demo.model.training


def test_demo_weights_follow_the_seed():
    torch.manual_seed(3)
    a = load_clip("demo-tiny-clip").model.state_dict()
    torch.manual_seed(3)
    b = load_clip("demo-tiny-clip").model.state_dict()
    torch.manual_seed(4)
    c = load_clip("demo-tiny-clip").model.state_dict()
    key = "visual.conv1.weight"
    assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])


def test_image_embeddings_are_unit_norm_and_independent_of_batching(demo, tmp_path):
    frame = pd.read_csv(make_split(tmp_path, per_class=3))
    batched = embed_images(demo, frame, batch_size=5, workers=0, progress=False)
    single = embed_images(demo, frame, batch_size=1, workers=0, progress=False)
    assert batched.shape == (12, 64) and batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert not np.allclose(batched[0], batched[-1])  # different images, different embeddings


def test_prompt_ensemble_is_the_renormalised_mean(demo):
    prompts = [["a fatty breast", "mammogram, fatty"], ["a dense breast"]]
    classes = class_text_embeddings(demo, prompts)
    each = embed_texts(demo, prompts[0])
    mean = each.mean(0)
    np.testing.assert_allclose(classes[0], mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(classes[1], embed_texts(demo, prompts[1])[0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(classes, axis=1), 1.0, atol=1e-6)


def _save_as_folder(bundle, folder):
    """A model folder laid out like a hub download (config + weights), here for the demo architecture."""
    folder.mkdir()
    spec = clip_module.DEMO_MODELS["demo-tiny-clip"]
    (folder / "open_clip_config.json").write_text(json.dumps(spec))
    torch.save(bundle.model.state_dict(), folder / "open_clip_pytorch_model.bin")


def test_local_folder_loads_its_weights_exactly(demo, tmp_path, no_network):
    _save_as_folder(demo, tmp_path / "model")
    torch.manual_seed(123)  # a different random init would show if the weights were not loaded
    loaded = load_clip(str(tmp_path / "model"))
    assert not loaded.untrained
    frame = pd.read_csv(make_split(tmp_path / "data", per_class=1))
    np.testing.assert_allclose(
        embed_images(loaded, frame, **LOADER), embed_images(demo, frame, **LOADER), atol=1e-6
    )
    assert not no_network


def test_local_folder_without_weights_is_a_clear_error_not_random_weights(demo, tmp_path):
    _save_as_folder(demo, tmp_path / "model")
    (tmp_path / "model" / "open_clip_pytorch_model.bin").unlink()
    with pytest.raises(ModelNotAvailableError, match=r"open_clip_pytorch_model\.bin.*huggingface-cli"):
        load_clip(str(tmp_path / "model"))


def test_mismatched_weights_are_rejected(demo, tmp_path):
    _save_as_folder(demo, tmp_path / "model")
    state = demo.model.state_dict()
    state.pop("visual.conv1.weight")
    torch.save(state, tmp_path / "model" / "open_clip_pytorch_model.bin")
    with pytest.raises(ModelNotAvailableError, match="do not load"):
        load_clip(str(tmp_path / "model"))


def test_missing_hub_model_offline_fails_at_once_naming_the_fix(monkeypatch, tmp_path, no_network):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotAvailableError) as err:
        load_clip(BIOMEDCLIP, revision="main")
    message = str(err.value)
    assert "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224" in message
    assert "huggingface-cli download" in message and "--local-dir DIR" in message
    assert "embed.model" in message and "HF_HUB_OFFLINE" in message
    assert not no_network  # no retry loop: the hub was never contacted


def test_open_clip_name_without_weights_is_refused():
    with pytest.raises(ModelNotAvailableError, match=r"embed\.pretrained"):
        load_clip("ViT-B-32")
    with pytest.raises(ModelNotAvailableError, match="unknown model"):
        load_clip("no-such-model")
    with pytest.raises(ModelNotAvailableError, match=r"No folder .*hf-hub:microsoft/x"):
        load_clip("microsoft/x")


def test_paper_profile_model_builds_offline_as_biomedclip(no_network, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    paper = read_yaml_mapping(Path(__file__).parents[1] / "profiles" / "paper.yaml")
    assert paper["embed"]["model"] == BIOMEDCLIP
    with torch.device("meta"):  # shapes only: no 800 MB allocation, no random init
        model = build_clip_architecture(paper["embed"]["model"])
    assert isinstance(model, open_clip.CustomTextCLIP)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(196e6, rel=0.01)
    trunk = model.visual.trunk
    assert trunk.patch_embed.patch_size == (16, 16) and trunk.embed_dim == 768 and len(trunk.blocks) == 12
    bert = model.text.transformer
    assert bert.config.vocab_size == 30522 and bert.config.num_hidden_layers == 12
    assert bert.pooler is None  # BiomedCLIP pools the CLS hidden state; its checkpoint has no BERT pooler
    assert model.text.proj[-1].out_features == 512  # the 'mlp' projection into the shared space
    with torch.inference_mode():
        image = model.encode_image(torch.zeros(1, 3, 224, 224, device="meta"))
    assert image.shape == (1, 512)
    assert not no_network


def test_device_helpers_fall_back_to_cpu():
    device = pick_device()
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with autocast(torch.device("cpu")):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            pick_device("cuda")


def test_hub_model_resolves_from_the_local_cache_offline(demo, monkeypatch, tmp_path, no_network):
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--lab--tiny-clip"
    (repo / "snapshots").mkdir(parents=True)
    _save_as_folder(demo, repo / "snapshots" / commit)  # the layout huggingface_hub's cache uses
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    loaded = load_clip("hf-hub:lab/tiny-clip")
    assert not loaded.untrained and loaded.name == "hf-hub:lab/tiny-clip"
    for key, value in demo.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    with pytest.raises(ModelNotAvailableError, match="revision v2"):
        load_clip("hf-hub:lab/tiny-clip", revision="v2")
    assert not no_network


def _biomedclip_shaped_folder(folder):
    """BiomedCLIP's layout at toy size: timm ViT image tower, BERT text tower, WordPiece vocab."""
    folder.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "mammogram", "of", "an", "dense", "breast"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    bert = {"model_type": "bert", "vocab_size": len(words), "hidden_size": 32, "num_hidden_layers": 2}
    bert |= {
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
        "pad_token_id": 0,
    }
    (folder / "config.json").write_text(json.dumps(bert))
    name = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"
    vision = {"timm_model_name": "vit_tiny_patch16_224", "timm_model_pretrained": False, "timm_pool": ""}
    vision |= {"timm_proj": "linear", "image_size": 32}
    text = {"hf_model_name": name, "hf_tokenizer_name": name, "hf_proj_type": "mlp", "context_length": 16}
    text["hf_pooler_type"] = "cls_last_hidden_state_pooler"
    config = {"model_cfg": {"embed_dim": 16, "vision_cfg": vision, "text_cfg": text}, "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))


def test_biomedclip_shaped_folder_loads_offline_with_its_tokenizer(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "model"
    _biomedclip_shaped_folder(folder)
    reference = build_clip_architecture(str(folder)).eval()
    torch.save(reference.state_dict(), folder / "open_clip_pytorch_model.bin")
    loaded = load_clip(str(folder))
    tokens = loaded.tokenizer(["a mammogram of an extremely dense breast"])
    assert tokens.shape == (1, 16) and tokens[0, 0] == 2  # [CLS] first; 'extremely' is out of vocabulary
    assert tokens[0].tolist().count(1) == 1
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model.encode_text(tokens), reference.encode_text(tokens))
    assert loaded.embed_dim == 16 and loaded.image_size == (32, 32)
    (folder / "vocab.txt").unlink()
    with pytest.raises(ModelNotAvailableError, match=r"vocab\.txt"):
        load_clip(str(folder))
    assert not no_network


@pytest.mark.gpu
def test_gpu_embeddings_match_cpu_within_bf16_precision(tmp_path):
    frame = pd.read_csv(make_split(tmp_path, per_class=2))
    torch.manual_seed(0)
    cpu = embed_images(load_clip("demo-tiny-clip"), frame, **LOADER)
    torch.manual_seed(0)
    gpu_bundle = load_clip("demo-tiny-clip", device="cuda")
    gpu = embed_images(gpu_bundle, frame, device="cuda", **LOADER)
    assert gpu.dtype == np.float32
    cosine = (cpu * gpu).sum(axis=1)
    assert cosine.min() > 0.99
