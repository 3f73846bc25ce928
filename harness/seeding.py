"""Every random draw comes from a generator derived from the run seed and a purpose name.

Deriving by purpose (not by call order) keeps streams independent: adding a new random draw for
one purpose never shifts the numbers another purpose sees, so records stay comparable.
"""

from __future__ import annotations

import contextlib
import hashlib

import torch


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed from (run seed, purpose), stable across platforms and Python versions."""
    digest = hashlib.sha256(f"{int(seed)}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_generator(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, purpose))
    return generator



@contextlib.contextmanager
def cpu_threads(count: int | None):
    """Run a block with ``count`` intra-op CPU threads (None: leave as is), restoring the old count.

    On CPU, reductions split across threads add in a different order, so reproducing a run bit for
    bit (verify, resume) needs the thread count the original run had.
    """
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)
