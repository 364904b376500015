"""``steptrace plot``: the learning curve and each layer's weights over time, as a picture.

matplotlib is an optional extra (``pip install 'steptrace[plot]'``); without it the
command says so and exits 2. The trace is read as a stream; a layer with many weights
shows its first ``MAX_WEIGHTS``, and long runs are thinned to about ``MAX_POINTS`` points
per curve, so a picture of a long run stays light.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from steptrace.derive import complete_events
from steptrace.errors import BadInput
from steptrace.events import EpochEndEvent, UpdateEvent
from steptrace.tracefile import open_trace

MAX_WEIGHTS = 24
MAX_POINTS = 4000
FORMATS = {".png", ".svg"}


def plot(trace: Path, output: Path) -> int:
    """Draw ``trace`` into ``output`` (.png or .svg); returns the number of panels."""
    if output.suffix not in FORMATS:
        raise BadInput(f"{output}: give a .png or .svg file name")
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise BadInput("steptrace plot needs matplotlib: pip install 'steptrace[plot]'") from None

    errors: list[tuple[int, float]] = []
    weights: dict[int, list[list[float]]] = {}  # layer -> one row of weights per update
    with open_trace(trace) as reader:
        config = reader.header.config
        for event in complete_events(reader.header, reader):
            if isinstance(event, EpochEndEvent) and event.error is not None:
                errors.append((event.epoch, event.error))
            elif isinstance(event, UpdateEvent) and event.weights is not None:
                flat = [x for row in event.weights for x in row][:MAX_WEIGHTS]
                weights.setdefault(event.layer, []).append(flat)
    layers = sorted(weights)
    figure, axes = plt.subplots(1 + len(layers), 1, figsize=(8, 3 + 2.5 * len(layers)),
                                squeeze=False)
    curve = axes[0][0]
    finite = [(epoch, error) for epoch, error in errors if math.isfinite(error)]
    if finite:
        curve.plot([e for e, _ in finite], [x for _, x in finite], color="tab:red")
        if all(x > 0 for _, x in finite):
            curve.set_yscale("log")
    curve.set_title(f"{config.name}: error per pass" + (
        "" if len(finite) == len(errors) else " (inf/NaN passes left out)"))
    curve.set_xlabel("epoch")
    curve.set_ylabel("error")
    for panel, k in zip(axes[1:], layers, strict=True):
        series = _thin(weights[k])
        ax = panel[0]
        for column in zip(*series, strict=True):
            ax.plot(range(len(column)), column, linewidth=0.8)
        total = config.layers[k - 1] * config.layers[k]
        shown = "" if total <= MAX_WEIGHTS else f" (the first {MAX_WEIGHTS} of {total})"
        ax.set_title(f"weights_{k - 1}_{k} after each update{shown}")
        ax.set_xlabel("update" if len(series) == len(weights[k]) else "update (thinned)")
    figure.tight_layout()
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp{output.suffix}")
    try:
        figure.savefig(temporary)
        os.replace(temporary, output)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise BadInput(f"{output}: cannot write: {error.strerror or error}") from None
    finally:
        plt.close(figure)
    return 1 + len(layers)


def _thin(rows: list[list[float]]) -> list[list[float]]:
    step = max(1, len(rows) // MAX_POINTS)
    return rows[::step]
