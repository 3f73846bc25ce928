"""Build one of the harness's own EDM network classes from a recorded class name and keywords.

Shared by the safetensors loader (``loading.py``) and the EDM pickle reader (``edm_pickle.py``),
so neither imports the other.
"""

from __future__ import annotations

import torch

from harness.errors import BenchError


def build_network(class_name: str, init_kwargs: dict) -> torch.nn.Module:
    """Instantiate one of the harness's own EDM classes from a recorded class name and keywords."""
    from harness.backbones.edm import NETWORK_CLASSES

    if class_name not in NETWORK_CLASSES:
        raise BenchError(f"unknown network class '{class_name}'; known: {', '.join(sorted(NETWORK_CLASSES))}")
    try:
        return NETWORK_CLASSES[class_name](**init_kwargs)
    except TypeError as exc:
        raise BenchError(f"cannot build {class_name} from the recorded keywords: {exc}") from None
