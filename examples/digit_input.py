"""Write one test image of the digits set as the digits models' input: `python examples/digit_input.py
[--index N] [-o digit.npy]` (float32, shape 1x1x28x28; prints its label). The quick starts of
docs/running-nodes.md and docs/client.md use it."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np


@click.command()
@click.option("--index", type=click.IntRange(0), default=0, show_default=True, help="Which test image.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("digit.npy"),
              show_default=True)
def main(index: int, output: Path) -> None:
    """Save test image INDEX of the digits split (converter.datasets) as a .npy input."""
    from converter.datasets import load_digits_28

    split = load_digits_28()
    if index >= len(split.test_x):
        raise click.BadParameter(f"the test split has {len(split.test_x)} images", param_hint="--index")
    x = np.ascontiguousarray(split.test_x[index], dtype=np.float32)[None]   # (1, 1, 28, 28)
    try:
        np.save(output, x)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output}: test digit {index}, label {int(split.test_y[index])}, shape {x.shape}")


if __name__ == "__main__":
    main()
