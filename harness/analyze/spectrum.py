"""`bench analyze spectrum`: radially averaged power spectra and their error per frequency band.

Four image sets: real images, the multi-step teacher, the backbone used in one step before any
fine-tuning (the D2O generator at initialisation, i.e. method backbone_one_step) and the run's
generator after fine-tuning. For each generated set the error per band is the mean absolute
difference of log10 power from the real images' spectrum over that band's radial frequencies.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from harness.analyze import SPECTRUM_KIND
from harness.analyze.common import check_request, check_steps, fd, load_subject, measurement, sample, write_analysis
from harness.metrics.feature_cache import dataset_features

BAND_NAMES = ("low", "mid", "high")
LOG_FLOOR = 1e-12  # keeps log10 finite for an all-zero (e.g. constant) image set


def radial_bins(resolution: int) -> np.ndarray:
    """Integer radius of each 2-D frequency (in cycles per image), rounded: the radial bin index."""
    k = np.fft.fftfreq(resolution) * resolution
    return np.rint(np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)).astype(np.int64)


def radial_power(images: torch.Tensor) -> np.ndarray:
    """Mean power per radial frequency 0..R/2 over images and channels ([N, C, R, R] in [-1, 1]).

    Frequencies beyond R/2 (the corners of the 2-D spectrum) are dropped: only the radii a full
    circle fits in are comparable between bins.
    """
    x = images.detach().to(torch.float64).cpu().numpy()
    resolution = x.shape[-1]
    power = (np.abs(np.fft.fft2(x, axes=(-2, -1))) ** 2 / resolution ** 2).mean(axis=(0, 1))
    bins = radial_bins(resolution).ravel()
    sums = np.bincount(bins, weights=power.ravel())
    counts = np.bincount(bins)
    return (sums / np.maximum(counts, 1))[: resolution // 2 + 1]


def log_spectrum(images: torch.Tensor) -> np.ndarray:
    return np.log10(radial_power(images) + LOG_FLOOR)


def frequency_bands(num_bins: int) -> dict[str, list[int]]:
    """Thirds of the non-DC radial bins; DC (bin 0) is the mean brightness, not structure."""
    parts = np.array_split(np.arange(1, num_bins), len(BAND_NAMES))
    return {name: [int(i) for i in part] for name, part in zip(BAND_NAMES, parts)}


def band_errors(log_generated: np.ndarray, log_real: np.ndarray, bands: dict[str, list[int]]) -> dict[str, float]:
    diff = np.abs(log_generated - log_real)
    return {name: float(diff[idx].mean()) if idx else float("nan") for name, idx in bands.items()}


def before_generator(subject) -> torch.nn.Module:
    """The backbone in one step with the run's own preconditioning settings (its state at step 0)."""
    from baselines.backbone_one_step import BackboneOneStepConfig
    from baselines.d2o import d2o_generator_from

    defaults = BackboneOneStepConfig()
    mc = (subject.record.get("config") or {}).get("method_config") or {}
    kwargs = {k: float(mc.get(k, getattr(defaults, k))) for k in ("sigma", "sigma_data", "eps")}
    return d2o_generator_from(subject.backbone.net, **kwargs).to(subject.device).eval().requires_grad_(False)


def real_subset(subject, num_samples: int, seed: int) -> torch.Tensor:
    """A seeded random subset of the real images, as many as generated samples."""
    from harness.seeding import make_generator

    n = min(num_samples, len(subject.dataset))
    index = torch.randperm(len(subject.dataset), generator=make_generator(seed, "spectrum-real-subset"))[:n]
    return subject.dataset.batch(index)[0]


def analyse_spectrum(run_dir: Path, num_samples: int = 1000, teacher_steps: int = 18, first_seed: int = 0,
                     results_dir: Path | None = None, device: str = "auto") -> Path:
    """Measure, store the 'analysis-spectrum' record, return its path."""
    from harness.samplers import HeunGenerator

    started = time.perf_counter()
    check_request(run_dir, num_samples, first_seed, results_dir, device)
    check_steps("--teacher-steps", [teacher_steps])
    subject = load_subject(run_dir, device)
    seeds = range(first_seed, first_seed + num_samples)
    sets = {"real": real_subset(subject, num_samples, first_seed),
            "teacher": sample(subject, HeunGenerator(subject.backbone.net, teacher_steps), seeds,
                              f"teacher, {teacher_steps} Heun steps"),
            "before": sample(subject, before_generator(subject), seeds, "one step before fine-tuning"),
            "after": sample(subject, subject.student, seeds, "one step after fine-tuning")}
    spectra = {name: log_spectrum(images) for name, images in sets.items()}
    bands = frequency_bands(len(spectra["real"]))
    real_features = dataset_features(subject.dataset, subject.extractor)
    body = {
        "measurement": measurement(subject, num_samples),
        "analysis": {"num_samples": num_samples, "seeds": [seeds.start, seeds.stop - 1], "teacher": "heun",
                     "teacher_steps": teacher_steps, "teacher_nfe": 2 * teacher_steps - 1,
                     "resolution": subject.backbone.resolution, "frequencies": list(range(len(spectra["real"]))),
                     "bands": bands, "real_images": len(sets["real"]),
                     "spectrum": "log10 of mean |FFT|^2 / R^2 per integer radius, over images and channels",
                     "band_error": "mean |log10 P_generated - log10 P_real| over the band's radii (DC excluded)"},
        "spectra": {name: [float(v) for v in values] for name, values in spectra.items()},
        "band_errors": {name: band_errors(spectra[name], spectra["real"], bands)
                        for name in ("teacher", "before", "after")},
        "fd_vs_data": {name: fd(subject.extractor(sets[name]), real_features) for name in ("teacher", "before", "after")},
    }
    return write_analysis(results_dir, SPECTRUM_KIND, subject, body, started)
