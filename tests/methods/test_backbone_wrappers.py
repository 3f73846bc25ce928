"""VP / VE / iDDPM-preconditioned backbones (issue #23 item 15): the consistency preconditioning adopts
their c_in and c_noise but not their output mapping, so the methods built on it refuse them in one line
(before any work); the teacher and PD, which sample the wrapper's own D(x; sigma), accept them."""

from __future__ import annotations

import pytest
import torch

from baselines import METHODS
from baselines.d2o import d2o_generator_from
from harness.backbones import LoadedBackbone, build_network
from harness.build import build_method, default_config
from harness.errors import UsageError
from tiny_methods import TINY

REWRAPPING = ("gan_only", "gan_only_frozen", "backbone_one_step", "dmd", "consistency_distillation")


def backbone_of(class_name: str) -> LoadedBackbone:
    torch.manual_seed(0)
    net = build_network(class_name, dict(TINY, label_dim=0, model_type="SongUNet")).eval().requires_grad_(False)
    return LoadedBackbone(net=net, name=f"tiny-{class_name}", path=None, sha256="0" * 64, card={})


class Digits:  # what build_method reads of a dataset
    num_classes = 10


def test_unmapped_output_is_why_they_are_refused():
    """Adopting only c_in/c_noise, G(z) at sigma_max is not the VP denoiser D(sigma z; sigma) (the bug)."""
    net = backbone_of("VPPrecond").net
    G = d2o_generator_from(net, 80.0)
    z = torch.randn(2, 1, 8, 8)
    D = net(80.0 * z, torch.full((2,), 80.0))
    with torch.no_grad():
        assert float((G(z) - D).abs().max()) > 0.1 * float(D.abs().max())


@pytest.mark.parametrize("wrapper", ["VPPrecond", "VEPrecond", "iDDPMPrecond"])
@pytest.mark.parametrize("method", REWRAPPING)
def test_methods_on_the_consistency_preconditioning_refuse_other_wrappers(method, wrapper):
    config = default_config(method, "digits")
    with pytest.raises(UsageError, match=f"{method}: backbone tiny-{wrapper} uses {wrapper} preconditioning"):
        build_method(config, backbone_of(wrapper), Digits(), torch.device("cpu"))


@pytest.mark.parametrize("method", ["teacher", "progressive_distillation"])
def test_methods_on_the_wrappers_own_denoiser_accept_every_wrapper(method):
    config = default_config(method, "digits")
    built, _ = build_method(config, backbone_of("VPPrecond"), Digits(), torch.device("cpu"))
    assert built.name == method and METHODS.get(method).runs_backbone_wrapper


def test_edm_backbones_are_accepted():
    config = default_config("gan_only", "digits")
    built, _ = build_method(config, backbone_of("EDMPrecond"), Digits(), torch.device("cpu"))
    assert built.name == "gan_only"


def test_bench_run_refuses_a_vp_backbone_in_one_line(tmp_path):
    from harness.backbones.files import save_weights
    from helpers import TINY_SONGUNET, run_main_in_process

    torch.manual_seed(0)
    net = build_network("VPPrecond", TINY_SONGUNET)
    path = tmp_path / "vp.safetensors"
    save_weights(net.state_dict(), path, {"class_name": "VPPrecond", "init_kwargs": TINY_SONGUNET, "kind": "test"})
    results = tmp_path / "results"
    done = run_main_in_process("run", "--method", "gan_only", "--dataset", "digits", "--backbone", str(path),
                               "--device", "cpu", "--budget-kimg", "0.1", "--results", str(results))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "VPPrecond preconditioning" in lines[0] and "Traceback" not in done.stderr
    assert not results.exists() or not any(results.rglob("record.json"))
