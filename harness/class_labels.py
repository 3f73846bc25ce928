"""Class labels for exported samples of a conditional model (`bench sample --class-labels`).

EDM's ``generate.py`` takes one ``--class`` for every image; outside evaluators of conditional
models (the ADM evaluator's ``arr_1``, per-class FID) want several. The rule, chosen to be simple
and deterministic: the labels are a list in the seed syntax (``3``, ``0,3,7``, ``0-9``; repeats
allowed), and the i-th seed *as listed* gets label ``labels[i mod len(labels)]``. So with as many
labels as seeds each seed gets its own (``--seeds 0-9 --class-labels 0-9``: seed i, class i), one
label is EDM's ``--class``, and a shorter list cycles. Without the option the classes are drawn
from each seed's generator after its latent, as `bench eval` draws them (``harness.evaluate``).
"""

from __future__ import annotations

from typing import Sequence

from harness.errors import UsageError

FLAG = "--class-labels"
MAX_LABEL = 2**31 - 1


def parse_class_labels(text: str | None) -> list[int] | None:
    """The option's value as a list (None: drawn per seed); a one-line UsageError when it does not parse."""
    from harness.seed_ranges import parse_int_list

    return None if text is None else parse_int_list(text, FLAG, noun="class label", example="0-9", maximum=MAX_LABEL)


def check_against_model(labels: Sequence[int] | None, label_dim: int, text: str) -> None:
    """Refuses any label for an unconditional model and a label outside ``0 .. label_dim - 1``."""
    if labels is None:
        return
    if not label_dim:
        raise UsageError(f"{FLAG} {text}: the model is unconditional (no classes); leave the option out")
    if max(labels) >= label_dim:
        raise UsageError(f"{FLAG} {text}: label {max(labels)} is outside the model's {label_dim} classes "
                         f"(0-{label_dim - 1})")


def assign(labels: Sequence[int] | None, num_seeds: int) -> list[int] | None:
    """One label per seed by position in the seed list, cycling through ``labels``."""
    if labels is None:
        return None
    return [labels[i % len(labels)] for i in range(num_seeds)]


def describe(labels: Sequence[int] | None) -> str | None:
    """The labels as the manifest states them (EDM syntax), None when drawn per seed."""
    from harness.seed_ranges import format_seeds

    return None if labels is None else format_seeds(list(labels))


def per_seed(labels: Sequence[int] | None, seeds: Sequence[int], label_dim: int,
             shape: tuple[int, ...], chunk: int = 1024) -> list[int] | None:
    """The class of every seed: ``assign``-ed from ``labels``, or drawn as `bench eval` draws them
    (``harness.evaluate.seed_latents``); None for an unconditional model."""
    if not label_dim:
        return None
    if labels is not None:
        return assign(labels, len(seeds))
    from harness.evaluate import seed_latents

    drawn: list[int] = []
    for start in range(0, len(seeds), chunk):
        drawn += seed_latents(list(seeds[start:start + chunk]), shape, label_dim)[1].argmax(1).tolist()
    return drawn
