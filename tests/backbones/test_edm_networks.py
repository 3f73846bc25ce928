"""Conformance of the clean-room EDM networks with EDM's interface (NVlabs/edm README, released checkpoints; tests/data/edm/keys; tests/data/edm/vectors).

* Key lists: every released configuration builds with EDM's exact state-dict keys, order,
  shapes and parameter counts (full-size nets are built on the meta device: no memory, no
  forward pass).
* Conformance vectors: small nets loaded strictly from EDM's own seeded weights reproduce
  EDM's outputs on CPU in float32.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.backbones.edm import NETWORK_CLASSES, iDDPMPrecond

KEY_CONFIGS = [
    "cifar10_32_ddpmpp_cond",
    "cifar10_32_ddpmpp_cond_precondvp",
    "cifar10_32_ddpmpp_uncond",
    "cifar10_32_ddpmpp_uncond_precondvp",
    "cifar10_32_ncsnpp_cond",
    "cifar10_32_ncsnpp_cond_precondve",
    "cifar10_32_ncsnpp_uncond",
    "cifar10_32_ncsnpp_uncond_precondve",
    "ffhq_afhqv2_64_ddpmpp_uncond",
    "ffhq_afhqv2_64_ncsnpp_uncond",
    "ffhq_afhqv2_64_ncsnpp_uncond_precondve",
    "imagenet_64_adm_cond",
]
VECTOR_CONFIGS = ["small_adm_edm", "small_ddpmpp_vp", "small_ncsnpp_edm", "small_ncsnpp_ve"]
TOLERANCE = 1e-5


def _edm_dir(specs_dir: Path) -> Path:
    return specs_dir / "edm"


def _read_key_list(path: Path) -> list[tuple[str, list[int], str]]:
    """Parse `<key> <[d0,d1,...]> <param|buffer>` lines, skipping `#` comments (§6.3)."""
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape, kind = line.split()
        entries.append((key, json.loads(shape), kind))
    return entries


def _header_value(path: Path, label: str) -> str:
    prefix = f"# {label}:"
    for line in path.read_text().splitlines():
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise AssertionError(f"{path.name} has no '{label}' header")


# ---------------------------------------------------------------------------------------------
# The test lists cover every spec file
# ---------------------------------------------------------------------------------------------


def test_every_key_list_is_tested(specs_dir: Path) -> None:
    key_files = (_edm_dir(specs_dir) / "keys").glob("keys_*.txt")
    found = sorted(p.stem[len("keys_"):] for p in key_files)
    assert found == sorted(KEY_CONFIGS)


def test_every_conformance_vector_is_tested(specs_dir: Path) -> None:
    found = sorted(p.stem for p in (_edm_dir(specs_dir) / "vectors").glob("*.npz"))
    assert found == sorted(VECTOR_CONFIGS)


# ---------------------------------------------------------------------------------------------
# Released configurations: keys, shapes, counts (NVlabs/edm README, released checkpoints; tests/data/edm/keys)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", KEY_CONFIGS)
def test_released_config_state_dict(specs_dir: Path, config: str) -> None:
    keys_dir = _edm_dir(specs_dir) / "keys"
    summary = json.loads((keys_dir / "keys_summary.json").read_text())[config]
    key_file = keys_dir / f"keys_{config}.txt"
    expected = _read_key_list(key_file)
    assert _header_value(key_file, "top-level class") == summary["top_class"]
    recorded = _header_value(key_file, "constructor kwargs (as recorded in the pickle)")
    assert json.loads(recorded) == summary["init_kwargs"]

    with torch.device("meta"):
        net = NETWORK_CLASSES[summary["top_class"]](**summary["init_kwargs"])

    state = net.state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(k, s) for k, s, _ in expected]
    assert all(v.dtype == torch.float32 for v in state.values())
    param_names = {name for name, _ in net.named_parameters()}
    assert [kind for key, _, kind in expected] == [
        "param" if key in param_names else "buffer" for key in state
    ]
    assert len(state) == summary["state_dict_entries"]

    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert trainable == summary["param_scalars"]
    assert sum(b.numel() for b in net.buffers()) == summary["buffer_scalars"]

    assert net.init_kwargs == summary["init_kwargs"]
    assert net.sigma_min == pytest.approx(float(summary["sigma_min"]), rel=1e-7)
    assert net.sigma_max == pytest.approx(float(summary["sigma_max"]), rel=1e-7)


# ---------------------------------------------------------------------------------------------
# Conformance vectors: EDM's outputs from EDM's weights (tests/data/edm/vectors)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_CONFIGS)
def test_conformance_vector(specs_dir: Path, name: str) -> None:
    vectors_dir = _edm_dir(specs_dir) / "vectors"
    card = json.loads((vectors_dir / f"{name}.json").read_text())
    data = np.load(vectors_dir / f"{name}.npz")

    torch.manual_seed(0)
    net = NETWORK_CLASSES[card["wrapper"]](**card["init_kwargs"])
    assert list(net.state_dict()) == card["state_dict_order"]
    state = {
        key[len("state/"):]: torch.from_numpy(data[key])
        for key in data.files
        if key.startswith("state/")
    }
    net.load_state_dict(state, strict=True)
    net.eval()

    x = torch.from_numpy(data["io/x"])
    sigma = torch.from_numpy(data["io/sigma"])
    labels = torch.from_numpy(data["io/labels"]) if data["io/labels"].size else None
    aug = torch.from_numpy(data["io/aug"])
    with torch.no_grad():
        y = net(x, sigma, labels)
        y_aug = net(x, sigma, labels, augment_labels=aug)

    assert y.dtype == torch.float32 and y.shape == x.shape
    err = (y - torch.from_numpy(data["io/y"])).abs().max().item()
    err_aug = (y_aug - torch.from_numpy(data["io/y_aug"])).abs().max().item()
    print(f"{name}: max |y - y_ref| = {err:.3g}, max |y_aug - y_aug_ref| = {err_aug:.3g}")
    assert err <= TOLERANCE
    assert err_aug <= TOLERANCE


# ---------------------------------------------------------------------------------------------
# Behaviour not covered by the vectors (arXiv 2206.00364, Table 1)
# ---------------------------------------------------------------------------------------------


def _small_net_kwargs() -> dict:
    return dict(
        img_resolution=8, img_channels=3, model_channels=16, channel_mult=[1, 2],
        num_blocks=1, attn_resolutions=[4],
    )


def test_iddpm_schedule_and_rounding() -> None:
    torch.manual_seed(0)
    net = iDDPMPrecond(**_small_net_kwargs(), model_type="DhariwalUNet")
    assert net.u.shape == (1001,) and net.u[-1] == 0
    assert bool((net.u[:-1] > net.u[1:]).all())
    assert net.sigma_min == pytest.approx(0.0064223, rel=1e-4)
    assert net.sigma_max == pytest.approx(20291.17, rel=1e-4)
    assert net.model.out_conv.out_channels == 6
    assert float(net.round_sigma(torch.tensor(net.sigma_min * 1.001))) == net.sigma_min

    x = torch.randn(2, 3, 8, 8)
    assert net(x, torch.tensor(1.0)).shape == x.shape


def test_scalar_sigma_broadcasts_and_labels_default_to_zero() -> None:
    torch.manual_seed(0)
    net = NETWORK_CLASSES["EDMPrecond"](
        **_small_net_kwargs(), label_dim=4, model_type="SongUNet", augment_dim=9
    ).eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        scalar = net(x, torch.tensor(2.0, dtype=torch.float64))
        batched = net(x, torch.full([2], 2.0), class_labels=torch.zeros(2, 4))
        zero_aug = net(x, 2.0, augment_labels=torch.zeros(2, 9))
    assert scalar.dtype == torch.float32
    torch.testing.assert_close(scalar, batched, rtol=0, atol=1e-6)
    torch.testing.assert_close(scalar, zero_aug, rtol=0, atol=1e-6)


def test_init_kwargs_are_the_given_keywords() -> None:
    kwargs = dict(_small_net_kwargs(), model_type="SongUNet", sigma_data=0.6)
    net = NETWORK_CLASSES["EDMPrecond"](**kwargs)
    assert net.init_kwargs == kwargs
    assert json.loads(json.dumps(net.init_kwargs)) == kwargs
    assert not math.isinf(net.sigma_min) and net.sigma_data == 0.6


def test_skip_encoder_and_decoder_variants() -> None:
    """The 'skip' encoder/decoder (unused by released nets): keys and shapes (§4.4, §4.5)."""
    torch.manual_seed(0)
    net = NETWORK_CLASSES["SongUNet"](
        img_resolution=8, in_channels=3, out_channels=3, model_channels=16, channel_mult=[1, 2],
        num_blocks=1, attn_resolutions=[4], encoder_type="skip", decoder_type="skip",
        resample_filter=[1, 3, 3, 1],
    ).eval()
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert shapes["enc.4x4_aux_down.resample_filter"] == [1, 1, 4, 4]
    assert shapes["enc.4x4_aux_skip.weight"] == [16, 3, 1, 1]  # c after the down block
    assert shapes["dec.8x8_aux_up.resample_filter"] == [1, 1, 4, 4]
    assert "dec.4x4_aux_conv.weight" in shapes and "dec.4x4_aux_up.resample_filter" not in shapes
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert net(x, torch.zeros(2), None).shape == x.shape
