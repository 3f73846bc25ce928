"""A small CNN classifier trained on the dataset itself, used as the feature network for small
offline datasets where Inception (trained on 299x299 ImageNet photos) is meaningless.

Same idea as FID's Inception features (Heusel et al. 2017) and the "domain classifier" features
used for MNIST-like data: a network trained to separate the classes, whose penultimate layer is
the feature space. The width and input resolution are config parameters so the same code serves
8x8 digits and 32x32 Fashion-MNIST.

(Re)make the shipped weights with::

    python -m harness.metrics.classifier --dataset digits --out harness/metrics/weights/digits-classifier

which writes ``<out>.safetensors`` and a JSON card ``<out>.json`` recording everything needed to
trust and reproduce it (architecture, data hash, seed, epochs, held-out accuracy, command).
Datasets with an official test split (Fashion-MNIST: the last 10,000 of its 70,000 images) hold
out exactly that split with ``--holdout-last 10000``, so the card states the usual test accuracy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from harness.data.base import ImageDataset
from harness.errors import BenchError, MissingArtefactError
from harness.metrics.features import FeatureExtractor, file_sha256
from harness.seeding import derive_seed, make_generator

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture kwargs; stored in the card so the weights can be rebuilt exactly."""

    resolution: int
    channels: int
    num_classes: int
    width: int = 16
    feature_dim: int = 128
    dropout: float = 0.5


class SmallClassifier(nn.Module):
    """Conv stages (two 3x3 convs each, 2x average-pool between) down to 4x4, then
    flatten -> Linear -> SiLU = the feature vector, then dropout -> Linear = the class logits.

    Channels double per stage, capped at 4x ``width``. SiLU (not ReLU) in the feature layer
    avoids dead units, which would make feature covariances singular.
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        r = config.resolution
        if r < 4 or r & (r - 1):
            raise BenchError(f"classifier resolution must be a power of two >= 4, got {r}")
        stages = int(math.log2(r // 4)) + 1
        layers: list[nn.Module] = []
        c_in = config.channels
        for i in range(stages):
            c_out = config.width * min(2**i, 4)
            if i > 0:
                layers.append(nn.AvgPool2d(2))
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1), nn.SiLU()]
            c_in = c_out
        layers += [nn.Flatten(), nn.Linear(c_in * 16, config.feature_dim), nn.SiLU()]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.num_classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images))


def stratified_split(labels: torch.Tensor, holdout_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) index tensors, sorted; each class keeps ``holdout_fraction`` of its images
    held out, chosen by a generator derived from ``seed`` so the split is reproducible."""
    generator = make_generator(seed, "classifier-holdout-split")
    train, held = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_held = int(round(holdout_fraction * len(idx)))
        held.append(idx[:n_held])
        train.append(idx[n_held:])
    return torch.cat(train).sort().values, torch.cat(held).sort().values


def tail_split(count: int, holdout_last: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) = (all but the last ``holdout_last`` indices, the last ones): the official
    train/test split of datasets loaded train-first, like Fashion-MNIST (60,000 + 10,000)."""
    if not 0 < holdout_last < count:
        raise BenchError(f"--holdout-last must be in 1..{count - 1}, got {holdout_last}")
    return torch.arange(count - holdout_last), torch.arange(count - holdout_last, count)


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels, filling with background (-1)."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])


@torch.no_grad()
def accuracy(model: SmallClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size])
        correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


@dataclass
class TrainedClassifier:
    model: SmallClassifier
    config: ClassifierConfig
    card: dict


def train_classifier(
    dataset: ImageDataset,
    seed: int = 0,
    epochs: int = 30,
    width: int = 16,
    feature_dim: int = 128,
    dropout: float = 0.5,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    holdout_fraction: float = 0.2,
    max_shift: int = 0,
    holdout_last: int = 0,
    log: Callable[[str], None] = print,
) -> TrainedClassifier:
    """Train on a stratified, seeded (1 - holdout_fraction) split and report held-out accuracy;
    with ``holdout_last`` > 0 the held-out images are instead the last ``holdout_last`` ones
    (the dataset's official test split, see ``tail_split``).

    AdamW with cosine learning-rate decay; optional +-``max_shift`` pixel translations (off by
    default: on 8x8 digits a one-pixel shift cost ~2 points of held-out accuracy). All randomness
    (init, dropout, shuffling, augmentation) is seeded from ``seed``; on the CPU the same seed
    gives the same weights. The global RNG is restored afterwards.
    """
    config = ClassifierConfig(dataset.resolution, dataset.channels, dataset.num_classes, width, feature_dim, dropout)
    images, labels = dataset.all_images(), dataset.labels
    if holdout_last:
        train_idx, held_idx = tail_split(len(labels), holdout_last)
    else:
        train_idx, held_idx = stratified_split(labels, holdout_fraction, seed)
    x_train, y_train = images[train_idx], labels[train_idx]
    start_time = time.monotonic()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "classifier-init-and-dropout"))
        model = SmallClassifier(config)
        shuffle = make_generator(seed, "classifier-shuffle")
        augment = make_generator(seed, "classifier-augment")
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        steps_per_epoch = math.ceil(len(x_train) / batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(x_train), generator=shuffle)
            total = 0.0
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                loss = F.cross_entropy(model(random_shift(x_train[batch], max_shift, augment)), y_train[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += float(loss.detach()) * len(batch)
            if epochs <= 10 or (epoch + 1) % 5 == 0 or epoch + 1 == epochs:
                log(f"epoch {epoch + 1}/{epochs}  train loss {total / len(x_train):.4f}  "
                    f"({time.monotonic() - start_time:.0f} s)")
    model.eval()

    held_accuracy = accuracy(model, images[held_idx], labels[held_idx])
    train_accuracy = accuracy(model, x_train, y_train)
    log(f"held-out accuracy {held_accuracy:.4f} on {len(held_idx)} images; train accuracy {train_accuracy:.4f}")
    card = {
        "architecture": "harness.metrics.classifier.SmallClassifier",
        "architecture_kwargs": asdict(config),
        "feature_dim": feature_dim,
        "feature_layer": "penultimate (trunk output: Linear -> SiLU)",
        "input": "float images in [-1, 1], NCHW",
        "dataset": {"name": dataset.name, "sha256": dataset.sha256, "num_images": len(dataset), "source": dataset.source},
        "seed": seed,
        "epochs": epochs,
        "training": {"optimizer": "AdamW", "lr": lr, "weight_decay": weight_decay, "batch_size": batch_size,
                     "schedule": "cosine", "max_shift": max_shift},
        "holdout": ({"last": holdout_last, "split": "harness.metrics.classifier.tail_split (official test split)"}
                    if holdout_last else
                    {"fraction": holdout_fraction, "split": "harness.metrics.classifier.stratified_split"})
        | {"num_images": len(held_idx), "indices_sha256": indices_sha256(held_idx), "accuracy": held_accuracy},
        "train_accuracy": train_accuracy,
        "train_seconds": round(time.monotonic() - start_time, 1),
        "torch_version": torch.__version__,
    }
    return TrainedClassifier(model, config, card)


def indices_sha256(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.to(torch.int64).contiguous().numpy().tobytes()).hexdigest()


def save_classifier(trained: TrainedClassifier, out: Path, name: str, command: str) -> tuple[Path, Path]:
    """Write ``<out>.safetensors`` and the card ``<out>.json`` (with the weights' sha256)."""
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    weights_path, card_path = out.with_name(out.name + ".safetensors"), out.with_name(out.name + ".json")
    state = {k: v.detach().contiguous() for k, v in trained.model.state_dict().items()}
    save_file(state, str(weights_path))
    weights_path.chmod(0o644)  # safetensors creates it owner-only; it is a shipped artefact
    card = {"name": name, **trained.card, "weights_file": weights_path.name,
            "weights_sha256": file_sha256(weights_path), "weights_bytes": weights_path.stat().st_size, "command": command}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return weights_path, card_path


def load_classifier(weights_path: Path) -> tuple[SmallClassifier, dict]:
    """The model and its card; the card must describe exactly this file (sha256 checked)."""
    from safetensors.torch import load_file

    card_path = weights_path.with_suffix(".json")
    if not weights_path.is_file() or not card_path.is_file():
        raise MissingArtefactError(
            f"classifier weights {weights_path} or card {card_path.name} not found; make them with "
            f"`python -m harness.metrics.classifier --dataset <name> --out {weights_path.with_suffix('')}`"
        )
    card = json.loads(card_path.read_text())
    sha = file_sha256(weights_path)
    if sha != card["weights_sha256"]:
        raise BenchError(f"{weights_path} has sha256 {sha}, but its card says {card['weights_sha256']}; re-make both")
    model = SmallClassifier(ClassifierConfig(**card["architecture_kwargs"]))
    model.load_state_dict(load_file(str(weights_path)))
    return model.eval(), card


def classifier_extractor(name: str, weights_path: Path | None = None, device: str | torch.device = "cpu") -> FeatureExtractor:
    """The penultimate layer of a shipped (or given) classifier as a ``FeatureExtractor``."""
    path = Path(weights_path) if weights_path is not None else WEIGHTS_DIR / f"{name}.safetensors"
    model, card = load_classifier(path)
    config = ClassifierConfig(**card["architecture_kwargs"])
    return FeatureExtractor(name, model.trunk, config.feature_dim, card["weights_sha256"],
                            config.resolution, config.channels, device, weights_path=path)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m harness.metrics.classifier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="registered dataset name, e.g. digits")
    parser.add_argument("--data-path", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    parser.add_argument("--name", default=None, help="extractor name in the card (default: the --out file name)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--feature-dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--max-shift", type=int, default=0, help="augment with random translations of up to this many pixels")
    parser.add_argument("--holdout-fraction", type=float, default=0.2)
    parser.add_argument("--holdout-last", type=int, default=0,
                        help="hold out the last N images instead (the official test split: 10000 for fashion-mnist)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; pinned because float reduction order (so the weights) may depend on it")
    args = parser.parse_args(argv)

    from harness.data import load_dataset

    torch.set_num_threads(args.threads)  # this process's entry point: setting it here is not library state
    dataset = load_dataset(args.dataset, args.data_path)
    trained = train_classifier(dataset, seed=args.seed, epochs=args.epochs, width=args.width,
                               feature_dim=args.feature_dim, dropout=args.dropout, batch_size=args.batch_size,
                               lr=args.lr, holdout_fraction=args.holdout_fraction, max_shift=args.max_shift,
                               holdout_last=args.holdout_last)
    trained.card["torch_threads"] = args.threads
    command = "python -m harness.metrics.classifier " + shlex.join(argv)
    weights_path, card_path = save_classifier(trained, args.out, args.name or args.out.name, command)
    print(f"wrote {weights_path} and {card_path}")


if __name__ == "__main__":
    main()
