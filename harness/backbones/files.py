"""Weights on disk: safetensors plus a JSON card, never a pickle.

The card (architecture class, constructor keywords, provenance) is stored twice: inside the
safetensors metadata, so one file is self-sufficient, and beside it as ``<stem>.json`` for people.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from harness.errors import BenchError, in_brief
from harness.files import sha256_file  # noqa: F401  (re-exported: backbones hash their files with it)


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_weights(state: dict[str, torch.Tensor], path: Path, card: dict) -> None:
    """Write weights and card atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    from harness.storage import disk_errors

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    needed = sum(v.numel() * v.element_size() for v in tensors.values())
    with disk_errors(f"the weights ({card.get('kind', 'network')})", path, needed, temporary=tmp):
        save_file(tensors, str(tmp), metadata={"card": json.dumps(card, sort_keys=True)})
        os.chmod(tmp, 0o644)  # weights are shared artefacts, not secrets
        os.replace(tmp, path)
    tmp_card = card_path(path).with_name(f".{card_path(path).name}.{os.getpid()}.tmp")
    with disk_errors("the weights' card", card_path(path), 4096, temporary=tmp_card):
        tmp_card.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        os.replace(tmp_card, card_path(path))


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a safetensors file and its card; a truncated or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise BenchError(f"{path}: not a readable safetensors file ({exc})") from None
    where = "its metadata" if "card" in metadata else card_path(path).name
    try:
        if "card" in metadata:
            card = json.loads(metadata["card"])
        elif card_path(path).is_file():
            card = json.loads(card_path(path).read_text())
        else:
            raise BenchError(f"{path}: no card in the file's metadata and no {card_path(path).name} beside it")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: the card in {where} is not valid JSON ({exc.__class__.__name__}: {in_brief(exc)})") from None
    if not isinstance(card, dict):
        raise BenchError(f"{path}: the card in {where} is not a JSON object")
    return state, card


def identify_weights(path: Path) -> str:
    """What a safetensors file is, read from its header only: 'backbone', or words naming it (a run's
    generator, a feature network, a training checkpoint, a file without a card), for errors that
    say what was given."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        return f"not a readable safetensors file ({exc.__class__.__name__}: {in_brief(exc)})"
    if "meta" in metadata and "card" not in metadata:
        return "a training checkpoint of `bench run` (resume it with --resume RUN_DIR)"
    text = metadata.get("card")
    if text is None and card_path(path).is_file():
        try:
            text = card_path(path).read_text()
        except (OSError, UnicodeDecodeError):
            text = None
    if text is None:
        return "a safetensors file with no card (nothing says which network it holds)"
    try:
        card = json.loads(text)
    except ValueError:
        return "a safetensors file whose card is not valid JSON"
    if not isinstance(card, dict):
        return "a safetensors file whose card is not a JSON object"
    if card.get("kind") == "generator-ema":
        return (f"the one-step generator of run {card.get('run_id', '?')} (a `bench run` output; "
                f"measure it with bench eval --checkpoint RUN_DIR)")
    if "class_name" in card and "init_kwargs" in card:
        return "backbone"
    if "feature_layer" in card or "architecture" in card:
        return f"the weights of a feature network ({card.get('name', card.get('architecture', '?'))})"
    return "a safetensors file whose card names no EDM network class"
