"""The thesis control: GAN fine-tuning from a randomly initialised network instead of the backbone.

Zheng & Yang (arXiv 2506.09376, §1 and §5) read D2O's result as "diffusion training is generative
pre-training": GAN fine-tuning turns a diffusion model into a one-step generator with few images
because it starts from pre-trained weights. The control that tests it is the same GAN fine-tuning,
at the same budget, from a network of the same architecture that never saw the data
(``--set init=random``, gan_only and gan_only_frozen). Its pre-trained counterpart is the default
(``init=pretrained``); a backbone stopped early in its pre-training is a third point on that line
(a `bench pretrain --kimg K` output passed as ``--backbone``; the record's ``backbone.pretrain_kimg``
says how far it was trained).

The random network is the backbone's own architecture rebuilt from the keywords its wrapper records
(``init_kwargs``, harness/backbones/edm/precond.py), so its weights come from the architecture's own
initialisation, the one `bench pretrain` starts from (harness/backbones/edm/layers.py ``weight_init``:
the per-layer schemes of the DDPM++/NCSN++ and ADM networks, arXiv 2206.00364 App. F.1-F.2), drawn
from a stream derived from the run seed (purpose ``generator-init``). It runs inside
``torch.random.fork_rng``, so no other random stream moves: with the same seed a random-init run
differs from a pre-trained one in the generator's starting weights only.

Methods whose teacher or generator *is* the pre-trained backbone refuse the setting in one line (REFUSED).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch

from harness.errors import UsageError
from harness.seeding import derive_seed

CHOICES = ("pretrained", "random")
SEED_PURPOSE = "generator-init"
METHODS_WITH_INIT = ("gan_only", "gan_only_frozen")

# Why a method takes no ``init`` setting: its premise is the pre-trained backbone.
REFUSED = {
    "teacher": "the teacher is the pre-trained backbone sampled in many steps; nothing trains",
    "backbone_one_step": "it measures the pre-trained backbone itself in one step; nothing trains",
    "progressive_distillation": "its teacher is the pre-trained backbone and its student starts as that teacher "
                                "(a random teacher has nothing to distil)",
    "consistency_distillation": "its teacher's ODE step needs the pre-trained backbone, and its student starts "
                                "as that backbone",
    "dmd": "its real score is the pre-trained backbone (a random one matches no data distribution), and its "
           "generator and fake score start from it",
}


def check_init(value: str) -> str:
    if value not in CHOICES:
        raise UsageError(f"--set init={value}: expected one of {', '.join(CHOICES)} (random: the thesis control, "
                         f"GAN fine-tuning from a randomly initialised network of the backbone's architecture)")
    return value


def check_init_override(method: str, pairs: Iterable[str]) -> None:
    """Refuse ``--set init=...`` for a method without the setting, saying why (before any other check)."""
    if method in METHODS_WITH_INIT:
        return
    for pair in pairs:
        key = pair.split("=", 1)[0].strip()
        if key in ("init", "method.init"):
            why = REFUSED.get(method, "its config has no init setting")
            raise UsageError(f"--set {pair.strip()}: {method} cannot start from a random network: {why}; "
                             f"init=random is for {' and '.join(METHODS_WITH_INIT)}")


def randomly_initialised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A new network of ``net``'s architecture with freshly drawn weights (module docstring), in eval
    mode without gradients like a loaded backbone; ``net`` itself is untouched."""
    kwargs = getattr(net, "init_kwargs", None)
    if not isinstance(kwargs, dict):
        raise UsageError(f"init=random: the backbone's {type(net).__name__} records no init_kwargs, so its "
                         f"architecture cannot be rebuilt")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, SEED_PURPOSE))
        fresh = type(net)(**copy.deepcopy(kwargs))
    return fresh.eval().requires_grad_(False)


def generator_source(net: torch.nn.Module, init: str, seed: int) -> torch.nn.Module:
    """The network a GAN fine-tuning starts from: the backbone, or a random one of its architecture."""
    return net if check_init(init) == "pretrained" else randomly_initialised(net, seed)
