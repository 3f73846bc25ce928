"""`bench pretrain`: dataset preset + flags -> PretrainConfig, train, measure the teacher, save."""

from __future__ import annotations

from pathlib import Path

from harness.config import apply_overrides, split_overrides
from harness.data import DATASETS, load_dataset
from harness.errors import UsageError
from harness.presets import presets_for
from harness.pretrain import PretrainConfig, pretrain, resolve_network, save_backbone
from harness.pretrain_state import load_pretrain_state, state_path_for
from harness.build import resolve_device
from harness.validate import check_data_path, check_device, check_pretrain, check_seed


def pretrain_command(dataset_name: str, out: Path, kimg: float | None, seed: int, device: str,
                     data: Path | None, overrides: list[str], command: str, show_progress: bool,
                     force: bool = False, resume: bool = False) -> dict:
    spec = DATASETS.get(dataset_name)
    preset = presets_for(dataset_name).get("pretrain")
    if not preset:
        raise UsageError(f"dataset {dataset_name} has no pre-training preset (it uses a released backbone)")
    cfg = apply_overrides(PretrainConfig(), preset)
    cfg = apply_overrides(cfg, split_overrides(list(overrides), {"pretrain": cfg})["pretrain"])
    cfg = resolve_network(cfg)
    if kimg is not None:
        cfg.kimg = float(kimg)
    state = state_path_for(out)
    if state.exists() and not (force or resume):
        raise UsageError(f"{state}: a pre-training state is there already; continue it with --resume (a larger "
                         "--kimg extends it), or pass --force to start over")
    check_pretrain(cfg, out, force or resume)  # every check before the first step: nothing is written on failure
    check_seed("--seed", seed)
    check_device(device)
    check_data_path(spec, data)
    dev = resolve_device(device)
    dataset = load_dataset(dataset_name, data)
    if resume:
        load_pretrain_state(state, cfg, seed, dataset.sha256)  # refused here, before any work, if it does not fit
    net, facts = pretrain(dataset, cfg, seed, dev, show_progress, state_path=state, resume=resume,
                          command=command)
    save_backbone(net.cpu(), out, cfg, facts, command)  # stored before measuring: nothing trained is lost
    facts.update(measure_teacher(net.to(dev), dataset, spec, dev, show_progress, cfg.fd_samples))
    save_backbone(net.cpu(), out, cfg, facts, command)
    return facts


def measure_teacher(net, dataset, spec, device, show_progress: bool, num_samples: int | None = None) -> dict:
    """FD of the new backbone as a 35-NFE Heun teacher and as a one-step generator, for its card.
    Minutes on a CPU (35 network passes per sample): batches of 50 so its progress shows."""
    from harness.evaluate import generate
    from harness.metrics import evaluate
    from harness.metrics.features import FEATURE_EXTRACTORS
    from harness.progress import phases_shown
    from harness.samplers import HeunGenerator, OneStepGenerator

    extractor = FEATURE_EXTRACTORS.get(spec.feature_extractor)(None, device)
    num = int(num_samples or presets_for(spec.name).get("eval", {}).get("num_samples", 2000))
    shape = (dataset.channels, dataset.resolution, dataset.resolution)
    label_dim = int(net.label_dim)
    out = {}
    kinds = (("teacher_fd", "35-NFE teacher", HeunGenerator(net, 18)),
             ("one_step_fd", "one step", OneStepGenerator(net)))
    for key, name, generator in kinds:
        samples = generate(generator, range(num), shape, label_dim, device, 50, show_progress,
                           f"card: {name} samples for its FD")
        with phases_shown(show_progress):
            (fd,) = evaluate(samples, dataset, ["fd"], extractor)
        out[key] = fd.value
    out["fd_samples"] = num
    out["fd_extractor"] = spec.feature_extractor
    return out
