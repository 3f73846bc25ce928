"""bf16 mixed precision: the generator runs under autocast, the discriminator stays fp32."""

import json

import torch

from harness.runner import configure, run


def tiny(backbone, **kwargs):
    return configure("gan_only", "digits", backbone=str(backbone), budget_kimg=0.1, device="cpu",
                     overrides=["train.batch_size=32", "eval.batch_size=100", "d_width=16"], num_samples=100, **kwargs)


def test_bf16_run_completes_and_is_recorded(tiny_backbone, tmp_path):
    record = json.loads(run(tiny(tiny_backbone, precision="bf16"), tmp_path / "r", show_progress=False).read_text())
    assert record["status"] == "completed"
    assert record["config"]["train"]["precision"] == "bf16" and record["config"]["train"]["compile"] is False
    assert record["training"]["images_seen"] >= 100


def test_generator_runs_in_bf16_and_discriminator_in_fp32(tiny_backbone):
    from harness.backbones import load_backbone
    from harness.data import load_dataset
    from harness.precision import autocast, prepare_method
    from harness.runner import build_method

    config = tiny(tiny_backbone)
    backbone = load_backbone(config.backbone)
    method, _ = build_method(config, backbone, load_dataset("digits"), torch.device("cpu"))
    prepare_method(method, "bf16", compile_generator=False)
    seen = set()  # output dtypes of the generator's layers (EDM's layers add fp32 biases, so its output is fp32)
    for layer in method.G.unet.modules():
        layer.register_forward_hook(lambda m, i, out: seen.add(out.dtype) if isinstance(out, torch.Tensor) else None)
    z = torch.randn(4, 1, 8, 8)
    with autocast(torch.device("cpu"), "bf16"):
        images = method.G(z)
        logits = method.D(images)
    assert torch.bfloat16 in seen
    assert images.dtype == torch.float32 and logits.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in method.D.parameters())


def test_unknown_precision_is_a_usage_error(tiny_backbone, tmp_path, monkeypatch, capsys):
    from helpers import invoke_bench

    code, _, err = invoke_bench(monkeypatch, capsys, "run", "--method", "gan_only", "--backbone", str(tiny_backbone),
                                "--precision", "fp16", "--compile", "--results", str(tmp_path / "r"), "--quiet")
    assert code == 2 and "unknown precision 'fp16'; valid: fp32, bf16, auto" in err
    assert not (tmp_path / "r").exists()


def test_auto_is_bf16_only_on_a_gpu_that_supports_it(monkeypatch):
    from harness.precision import resolve_precision

    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"


def test_auto_run_on_cpu_records_what_ran(tiny_backbone, tmp_path):
    record = json.loads(run(tiny(tiny_backbone, precision="auto"), tmp_path / "r", show_progress=False).read_text())
    assert record["config"]["train"]["precision"] == "auto" and record["training"]["precision"] == "fp32"


def test_tf32_is_off_on_cuda_as_in_the_authors_training_loop():
    from harness.precision import configure_tf32

    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        configure_tf32(torch.device("cuda"))
        assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.allow_tf32 is False
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
