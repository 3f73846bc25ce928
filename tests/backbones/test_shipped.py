"""The backbones shipped in the repo load by name and match their catalog entry and card."""

from __future__ import annotations

import json

import pytest

from harness.backbones import load_backbone
from harness.backbones.catalog import BACKBONES
from harness.errors import MissingArtefactError

SHIPPED = [name for name, spec in BACKBONES.items() if spec.url is None]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_backbone_loads_or_names_the_command_that_makes_it(name: str) -> None:
    spec = BACKBONES.get(name)
    if not spec.shipped_path.is_file():  # only a GPU-made backbone may be absent, and it must say how to make it
        assert spec.make_hint
        with pytest.raises(MissingArtefactError, match="bench pretrain"):
            load_backbone(name)
        return
    net = load_backbone(name).net
    card = json.loads(spec.shipped_path.with_suffix(".json").read_text())
    count = sum(p.numel() for p in net.parameters())
    assert count == card.get("num_params", count) and (spec.num_params is None or count == spec.num_params)
    assert card["kind"] == "edm-backbone"
    assert (net.img_resolution, net.img_channels, net.label_dim) == (spec.resolution, spec.channels, spec.label_dim)
    assert card["teacher_fd"] < card["one_step_fd"]  # a trained denoiser: its 35-NFE samples beat one step


def test_both_offline_datasets_have_a_shipped_backbone() -> None:
    datasets = {json.loads(BACKBONES.get(n).shipped_path.with_suffix(".json").read_text())["data"]["name"]
                for n in SHIPPED if BACKBONES.get(n).shipped_path.is_file()}
    assert {"digits", "fashion-mnist"} <= datasets
