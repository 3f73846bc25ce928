"""Build one of the harness's own EDM network classes from a recorded class name and keywords.

Shared by the safetensors loader (``loading.py``) and the EDM pickle reader (``edm_pickle.py``),
so neither imports the other.
"""

from __future__ import annotations

import torch

from harness.errors import BenchError, in_brief


def build_network(class_name: str, init_kwargs: dict) -> torch.nn.Module:
    """Instantiate one of the harness's own EDM classes from a recorded class name and keywords."""
    from harness.backbones.edm import NETWORK_CLASSES

    from harness.backbones.edm.precond import INNER_NETWORKS
    from harness.ranges import check_ranges

    if class_name not in NETWORK_CLASSES:
        raise BenchError(f"unknown network class '{class_name}'; known: {', '.join(sorted(NETWORK_CLASSES))}")
    if not isinstance(init_kwargs, dict):
        raise BenchError(f"cannot build {class_name}: its recorded keywords are not a mapping")
    model_type = init_kwargs.get("model_type", "SongUNet")
    if not isinstance(model_type, str) or model_type not in INNER_NETWORKS:
        raise BenchError(f"cannot build {class_name}: unknown model_type {model_type!r}; known: "
                         f"{', '.join(sorted(INNER_NETWORKS))}")
    try:
        check_ranges(init_kwargs, "the card's ")  # a zero width builds an empty network, not an error
    except BenchError as exc:
        raise BenchError(f"cannot build {class_name}: {exc}") from None
    try:
        return NETWORK_CLASSES[class_name](**init_kwargs)
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, AttributeError, RuntimeError) as exc:
        raise BenchError(f"cannot build {class_name} from the recorded keywords: {exc.__class__.__name__}: "
                         f"{in_brief(exc, otherwise='')}") from None
