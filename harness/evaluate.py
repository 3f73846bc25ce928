"""Generating the evaluation samples and measuring them.

EDM's protocol (NVlabs/edm fid.py): sample i comes from its own generator seeded with seed i, so the
samples do not depend on the batch size or on how many were drawn; conditional models get classes
drawn uniformly from the same per-seed generator. Samples are rounded to 8 bits, as the files
EDM's generate.py writes (and `bench sample` exports) hold them.
"""

from __future__ import annotations

import torch

from harness.data import ImageDataset, to_uint8
from harness.progress import image_progress, phases_shown
from harness.sample_grid import save_grid  # noqa: F401  (re-exported: the runner and `bench eval` write grids)


def seed_latents(seeds, shape: tuple[int, ...], num_classes: int,
                 class_label=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latent and class of each seed from its own generator (EDM's protocol); ``class_label`` (one
    class, EDM generate.py's ``--class``, or one per seed) fixes the classes after the same draws,
    so the latents do not change."""
    latents = torch.empty((len(seeds), *shape))
    classes = torch.empty(len(seeds), dtype=torch.int64)
    for row, seed in enumerate(seeds):
        rng = torch.Generator().manual_seed(int(seed))
        latents[row] = torch.randn(shape, generator=rng)
        if num_classes:
            classes[row] = torch.randint(num_classes, (1,), generator=rng)
    if num_classes and class_label is not None:
        classes = torch.as_tensor(class_label, dtype=torch.int64).expand(len(seeds)).clone()
    return latents, (torch.nn.functional.one_hot(classes, num_classes).float() if num_classes else None)


def as_8bit(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] rounded to the 256 levels an exported PNG or ADM npz holds (float32 again).

    Samples are measured as the files `bench sample` writes hold them (EDM: generate.py writes PNGs
    and fid.py reads them), so `bench eval --samples DIR` on an export gives the record's number.
    """
    return to_uint8(images).to(torch.float32) / 127.5 - 1.0


@torch.no_grad()
def generate_batch(generator: torch.nn.Module, seeds, shape: tuple[int, ...], label_dim: int, device: torch.device,
                   class_label=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One batch: 8-bit-rounded images in [-1, 1] on the CPU, one per seed, and their classes (or None)."""
    z, labels = seed_latents(seeds, shape, label_dim, class_label)
    images = generator(z.to(device), labels.to(device) if labels is not None else None).to(torch.float32).cpu()
    if not torch.isfinite(images).all():
        from harness.errors import BenchError

        raise BenchError("the generator produced NaN or Inf samples")
    return as_8bit(images), (labels.argmax(1) if labels is not None else None)


@torch.no_grad()
def generate(generator: torch.nn.Module, seeds, shape: tuple[int, ...], label_dim: int,
             device: torch.device, batch_size: int = 500, show_progress: bool = True,
             description: str = "generating") -> torch.Tensor:
    """Images in [-1, 1] (rounded to 8 bits, ``as_8bit``), float32 on the CPU, one per seed."""
    out = []
    with image_progress(description, len(seeds), show_progress) as advance:
        for start in range(0, len(seeds), batch_size):
            chunk = seeds[start:start + batch_size]
            out.append(generate_batch(generator, chunk, shape, label_dim, device)[0])
            advance(len(chunk))
    return torch.cat(out)


def labels_for(dataset: ImageDataset, index: torch.Tensor, label_dim: int) -> torch.Tensor | None:
    if not label_dim:
        return None
    return torch.nn.functional.one_hot(dataset.labels[index], label_dim).float()


def evaluate_generator(generator: torch.nn.Module, dataset: ImageDataset, backbone, eval_config, extractor,
                       device: torch.device, show_progress: bool,
                       phase_lines: bool = False) -> tuple[torch.Tensor, list[dict]]:
    """Samples from the seeds ``eval_config.first_seed ..`` (EDM's protocol: one generator per seed)
    and their metrics as a record stores them, each entry naming the seed range it used.
    ``phase_lines``: the measurement's long phases print plain lines even with ``show_progress``
    off (a curve point inside the training bar, which must not draw a second bar)."""
    from harness.metrics import evaluate as measure

    ec = eval_config
    seeds = range(ec.first_seed, ec.first_seed + ec.num_samples)
    shape = (backbone.channels, backbone.resolution, backbone.resolution)
    samples = generate(generator, seeds, shape, backbone.label_dim, device, ec.batch_size, show_progress)
    # The implementation choice applies to the Fréchet distances; the other metrics have their own.
    with phases_shown(show_progress or phase_lines, plain=phase_lines):  # real features, k-NN radii, ...
        values = measure(samples, dataset, list(ec.metrics), extractor, implementation={"fd": ec.fd_impl, "fid": ec.fd_impl})
    metrics = []
    for value in values:
        entry = value.to_dict()
        entry["seeds"] = [seeds.start, seeds.stop - 1]
        metrics.append(entry)
    return samples, metrics
