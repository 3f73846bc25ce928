"""Backbones: the pre-trained diffusion denoisers every method starts from.

``load(name_or_path)`` returns EDM's preconditioned denoiser ``net(x, sigma, class_labels=None,
augment_labels=None)`` as a ``torch.nn.Module``, from a registry name, a converted safetensors file
or (safely, without running its code) an EDM ``.pkl``.
"""

from __future__ import annotations

from harness.backbones.catalog import BACKBONES, BackboneSpec
from harness.backbones.loading import LoadedBackbone, build_network, load, load_backbone, resolve

__all__ = ["BACKBONES", "BackboneSpec", "LoadedBackbone", "build_network", "load", "load_backbone", "resolve"]
