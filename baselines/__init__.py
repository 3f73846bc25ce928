"""Methods, one module each; every module registers its class in ``METHODS`` when imported."""

from __future__ import annotations

import sys

from harness.plugins import import_submodules
from harness.registry import Registry

METHODS: Registry[type] = Registry("method")

import_submodules(sys.modules[__name__], skip=("base", "discriminators", "published"))
