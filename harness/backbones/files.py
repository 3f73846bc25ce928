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

from harness.errors import BenchError
from harness.files import sha256_file  # noqa: F401  (re-exported: backbones hash their files with it)


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_weights(state: dict[str, torch.Tensor], path: Path, card: dict) -> None:
    """Write weights and card atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata={"card": json.dumps(card, sort_keys=True)})
    os.chmod(tmp, 0o644)  # weights are shared artefacts, not secrets
    os.replace(tmp, path)
    tmp_card = card_path(path).with_name(f".{card_path(path).name}.{os.getpid()}.tmp")
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
    if "card" in metadata:
        card = json.loads(metadata["card"])
    elif card_path(path).is_file():
        card = json.loads(card_path(path).read_text())
    else:
        raise BenchError(f"{path}: no card in the file's metadata and no {card_path(path).name} beside it")
    return state, card
