"""Mixed precision as D2O's authors run it (Zyriix/D2O train.sh ``--fp16=True``; ``training/networks.py``
runs the generator's UNet in bfloat16 on CUDA, ``train.py`` keeps the discriminator at fp32;
Zyriix/GDD ``training/training_loop.py`` switches TF32 off): generator and teacher forwards in bfloat16,
discriminator and feature networks in fp32, TF32 off.

The whole training step runs under autocast, and the discriminator opts out, so every method gets
the paper's split without knowing about it. fp32 (the default) is a no-op: the same ops in the
same order, so the stored CPU records stay bit-identical. ``auto`` (the paper datasets' presets) is
the authors' choice where the hardware allows it: bf16 on a CUDA device that supports it, else fp32;
the record's ``training.precision`` says which ran.
"""

from __future__ import annotations

import contextlib
import functools

import torch

from harness.errors import UsageError

PRECISIONS = ("fp32", "bf16", "auto")
FP32_MODULES = ("discriminator",)  # names in Method.modules() that always run in fp32


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'; valid: {', '.join(PRECISIONS)}")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 on a CUDA device with bf16 support (the authors' runs), else fp32; others as given."""
    check_precision(precision)
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def autocast(device: torch.device, precision: str):
    """The context a training step runs in: bf16 autocast, or nothing for fp32 (called every step, so
    the name was checked once before: by `configure`, the runner or `prepare_method`)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def keep_fp32(module: torch.nn.Module) -> torch.nn.Module:
    """Make ``module`` run in fp32 even inside autocast (its inputs are cast up).

    The forward is replaced on the instance only: parameters and state_dict keys are unchanged.
    """
    inner = module.forward

    @functools.wraps(inner)
    def forward(*args, **kwargs):
        def up(x):
            return x.float() if isinstance(x, torch.Tensor) and x.is_floating_point() else x

        with torch.autocast(device_type=_device_type(module), enabled=False):
            return inner(*[up(a) for a in args], **{k: up(v) for k, v in kwargs.items()})

    module.forward = forward
    return module


def _device_type(module: torch.nn.Module) -> str:
    param = next(module.parameters(), None)
    return param.device.type if param is not None else "cpu"


def prepare_method(method, precision: str, compile_generator: bool) -> None:
    """Apply the precision split and optional torch.compile to a built method's networks."""
    check_precision(precision)
    if precision == "auto":
        raise ValueError("prepare_method takes a resolved precision (resolve_precision), not 'auto'")
    if precision != "fp32":
        for name, module in method.modules().items():
            if name in FP32_MODULES:
                keep_fp32(module)
    if compile_generator:
        method.generator.compile()  # in place: parameters and checkpoint keys are unchanged


def configure_tf32(device: torch.device) -> None:
    """TF32 off for matmuls and convolutions on CUDA: full fp32 products, as the authors' training loop
    sets it (Zyriix/GDD ``training/training_loop.py``: ``allow_tf32 = False`` for cuDNN and matmul)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
