"""``bench backbones convert SRC.pkl DST.safetensors``: an EDM pickle to safetensors + JSON card.

The pickle is read with the allow-listed loader (``edm_pickle``), which executes nothing from it;
the result holds only tensors and a card, so later loads need no unpickling at all. The written
file is read back and compared tensor by tensor before the command reports success.
"""

from __future__ import annotations

from pathlib import Path

import typer

from harness.errors import BenchError, UsageError

backbones_app = typer.Typer(add_completion=False, no_args_is_help=True,
                            help="Backbone files: convert NVIDIA EDM pickles to safetensors.")


def convert(src: Path | str, dst: Path | str, force: bool = False) -> dict:
    """Convert the EDM pickle ``src`` to ``dst`` (safetensors, card inside and beside it); returns the card.

    An existing ``dst`` or card (a stored run's generator, another backbone) is kept unless ``force``."""
    src, dst = Path(src), Path(dst)
    if src.suffix != ".pkl":
        raise UsageError(f"convert reads an EDM .pkl file, got {src}")
    if dst.suffix != ".safetensors":
        raise UsageError(f"convert writes a .safetensors file, got {dst}")
    if not src.is_file():
        raise UsageError(f"EDM pickle not found: {src}")
    import torch  # after the checks a typo fails (~2 s sooner)

    from harness.backbones.edm_pickle import load_edm_pickle
    from harness.backbones.files import card_path, load_weights, save_weights
    from harness.validate import describe_path

    if dst.is_dir():
        raise UsageError(f"{dst}: is a folder; expected a .safetensors file name")
    if not force:
        for existing in (dst, card_path(dst)):
            if existing.exists():
                raise UsageError(f"{existing}: exists already ({describe_path(existing)}); pass --force to overwrite it")
    if not dst.parent.is_dir():
        raise UsageError(f"{dst}: folder {dst.parent} does not exist")
    net, card = load_edm_pickle(src)
    state = net.state_dict()
    save_weights(state, dst, card)
    written, written_card = load_weights(dst)
    same = set(written) == set(state) and all(torch.equal(written[k], state[k].cpu()) for k in state)
    if not same or written_card != card:
        raise BenchError(f"{dst}: read-back differs from the converted network; the file is not usable")
    return card


@backbones_app.command("convert")
def convert_command(
    src: Path = typer.Argument(..., help="an EDM network pickle (edm-*.pkl or network-snapshot-*.pkl)"),
    dst: Path = typer.Argument(..., help="output .safetensors (its JSON card is written beside it)"),
    force: bool = typer.Option(False, help="overwrite DST (and its card) if it exists"),
) -> None:
    """Convert an EDM pickle to safetensors + card, without executing any code from the pickle."""
    card = convert(src, dst, force=force)
    from harness.backbones.files import card_path

    kwargs = card["init_kwargs"]
    typer.echo(f"{dst}  ({card['class_name']}+{kwargs.get('model_type', '?')}, {card['channels']}x"
               f"{card['resolution']}x{card['resolution']}, label_dim {card['label_dim']}; card {card_path(dst)})")
