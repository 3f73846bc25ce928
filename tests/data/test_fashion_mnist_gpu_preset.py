"""Fashion-MNIST at GPU scale (issue #10): the preset network, its catalog entry, and the
pre-training options the GPU run relies on (network changes, fp16 file), checked on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.backbones import BACKBONES, build_network
from harness.backbones import catalog
from harness.backbones.loading import load_backbone
from harness.config import apply_overrides
from harness.data import DATASETS, make_dataset
from harness.errors import MissingArtefactError, UsageError
from harness.presets import presets_for
from harness.pretrain import PretrainConfig, pretrain, resolve_network, resolve_precision, save_backbone

SPEC = DATASETS.get("fashion-mnist")
PRESETS = presets_for("fashion-mnist")


def test_preset_network_is_the_catalog_entry() -> None:
    entry = BACKBONES.get(SPEC.default_backbone)
    network = PRESETS["pretrain"]["network"]
    kwargs = network["init_kwargs"]
    assert (kwargs["model_channels"], kwargs["channel_mult"], kwargs["num_blocks"], kwargs["attn_resolutions"]) == \
        (64, [1, 2, 4], 2, [8])
    net = build_network(network["class_name"], kwargs)
    assert sum(p.numel() for p in net.parameters()) == entry.num_params
    assert (entry.resolution, entry.channels, entry.label_dim) == (32, 1, 0)


def test_missing_backbone_names_the_command_that_makes_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(catalog, "SHIPPED_DIR", tmp_path)
    with pytest.raises(MissingArtefactError) as exc:
        load_backbone(SPEC.default_backbone)
    message = str(exc.value)
    assert "not shipped yet" in message and "bench pretrain --dataset fashion-mnist" in message
    assert "scripts/fashion_mnist_gpu.py" in message


def test_network_changes_and_precision() -> None:
    cfg = apply_overrides(apply_overrides(PretrainConfig(), PRESETS["pretrain"]),
                          {"model_channels": "8", "channel_mult": "1,2", "attn_resolutions": ""})
    cfg = resolve_network(cfg)
    kwargs = cfg.network["init_kwargs"]
    assert (kwargs["model_channels"], kwargs["channel_mult"], kwargs["attn_resolutions"], kwargs["num_blocks"]) == \
        (8, [1, 2], [], 2)
    assert cfg.model_channels is None and PRESETS["pretrain"]["network"]["init_kwargs"]["model_channels"] == 64
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    with pytest.raises(UsageError):
        resolve_precision("fp8", torch.device("cpu"))


def test_fp16_file_is_what_was_measured(tmp_path: Path) -> None:
    """A tiny pre-training on random 32x32 data: the fp16 file loads into the same network that the
    card's numbers were measured on (rounded through fp16 before measuring)."""
    generator = torch.Generator().manual_seed(0)
    data = make_dataset("toy", torch.randint(0, 256, (64, 1, 32, 32), dtype=torch.uint8, generator=generator),
                        torch.zeros(64, dtype=torch.int64), 10, "random")
    cfg = apply_overrides(PretrainConfig(), {**PRESETS["pretrain"], "kimg": 0.064, "batch_size": 16,
                                             "model_channels": 8, "channel_mult": (1, 1, 1), "num_blocks": 1,
                                             "attn_resolutions": ()})
    cfg = resolve_network(cfg)
    net, facts = pretrain(data, cfg, seed=0, device=torch.device("cpu"), show_progress=False)
    assert facts["images_seen"] == 64 and facts["precision"] == "fp32" and facts["final_loss_per_pixel"] > 0
    path = tmp_path / "tiny.safetensors"
    save_backbone(net, path, cfg, facts, "test")
    loaded = load_backbone(str(path))
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(path)).values()} == {torch.float16}
    x, sigma = torch.randn(2, 1, 32, 32), torch.tensor([0.5, 5.0])
    with torch.no_grad():
        assert torch.equal(loaded.net(x, sigma), net(x, sigma))
