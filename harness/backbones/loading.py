"""Find a backbone file (registry name, cache directory or path) and rebuild the network from it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.backbones.catalog import BACKBONES, BackboneSpec
from harness.backbones.files import load_weights, sha256_file
from harness.backbones.network import build_network
from harness.errors import BenchError, MissingArtefactError, in_brief

CACHE_ENV = "BENCH_BACKBONE_DIR"


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "bench" / "backbones"))


@dataclass
class LoadedBackbone:
    """The denoiser plus what a record needs to name it exactly."""

    net: torch.nn.Module
    name: str
    path: Path
    sha256: str
    card: dict

    @property
    def resolution(self) -> int:
        return int(self.net.img_resolution)

    @property
    def channels(self) -> int:
        return int(self.net.img_channels)

    @property
    def label_dim(self) -> int:
        return int(self.net.label_dim)

    @property
    def pretrain_kimg(self) -> float | None:
        """Thousands of images the backbone was pre-trained on, from its `bench pretrain` card (None where
        the card does not say, e.g. EDM's pickles): a backbone stopped early says so in every record."""
        seen = self.card.get("images_seen") if isinstance(self.card, dict) else None
        return float(seen) / 1000 if isinstance(seen, (int, float)) and not isinstance(seen, bool) else None

    def record_entry(self) -> dict:
        """What a run record says about its backbone."""
        return {"name": self.name, "sha256": self.sha256, "file": self.path.name, "pretrain_kimg": self.pretrain_kimg}


def resolve(name_or_path: str, cache_dir: Path | None = None) -> tuple[Path, BackboneSpec | None]:
    """The file behind a backbone name or path; a missing one is a clear error saying what to put where."""
    if name_or_path in BACKBONES:
        spec = BACKBONES.get(name_or_path)
        if spec.shipped_path is not None:
            if not spec.shipped_path.is_file() and spec.make_hint:
                raise MissingArtefactError(f"backbone {spec.name} is not shipped yet ({spec.shipped_path} is "
                                           f"missing): {spec.make_hint}")
            if not spec.shipped_path.is_file():
                raise MissingArtefactError(f"the shipped backbone file {spec.shipped_path} is missing; "
                                           f"re-make it with the command in its card or reinstall bench")
            return spec.shipped_path, spec
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        for candidate in (cache / spec.filename, cache / Path(spec.filename).with_suffix(".safetensors")):
            if candidate.is_file():
                return candidate, spec
        from harness.download import download

        return download(spec.url, cache / spec.filename, what=f"backbone {spec.name}"), spec
    path = Path(name_or_path)
    if path.suffix in (".pkl", ".safetensors", ".pt") or os.sep in name_or_path:
        if not path.is_file():
            raise MissingArtefactError(f"backbone file not found: {path}")
        return path, None
    raise BackboneNameError(name_or_path)


class BackboneNameError(BenchError):
    exit_code = 2

    def __init__(self, name: str):
        super().__init__(f"unknown backbone '{name}'; valid backbones: {', '.join(BACKBONES.names())} "
                         f"(or a path to a .pkl / .safetensors file)")


def load_backbone(name_or_path: str, cache_dir: Path | None = None) -> LoadedBackbone:
    path, spec = resolve(name_or_path, cache_dir)
    if path.suffix == ".pkl":
        from harness.backbones.edm_pickle import load_edm_pickle

        net, card = load_edm_pickle(path)
    else:
        state, card = load_weights(path)
        if "class_name" not in card or "init_kwargs" not in card:
            from harness.backbones.files import identify_weights

            raise BenchError(f"--backbone {path}: {identify_weights(path)}; expected a diffusion backbone "
                             f"(.pkl or .safetensors with an EDM network card)")
        net = build_network(card["class_name"], card["init_kwargs"])
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise BenchError(f"{path}: weights do not fit {card['class_name']} ({in_brief(exc)})") from None
    net.eval().requires_grad_(False)
    if spec is not None:
        check_matches_spec(net, spec, path)
    return LoadedBackbone(net=net, name=spec.name if spec else path.stem, path=path, sha256=sha256_file(path), card=card)


def check_matches_spec(net: torch.nn.Module, spec: BackboneSpec, path: Path) -> None:
    got = (int(net.img_resolution), int(net.img_channels), int(net.label_dim))
    want = (spec.resolution, spec.channels, spec.label_dim)
    if got != want:
        raise BenchError(f"{path}: network is (resolution, channels, label_dim) = {got}, registry entry "
                         f"{spec.name} expects {want}")
    if spec.num_params is not None:
        count = sum(p.numel() for p in net.parameters())
        if count != spec.num_params:
            raise BenchError(f"{path}: {count:,} parameters, {spec.name} has {spec.num_params:,}")


def load(name_or_path: str, cache_dir: Path | None = None) -> torch.nn.Module:
    """For notebooks and scripts: just the preconditioned denoiser, in eval mode."""
    return load_backbone(name_or_path, cache_dir).net
