"""``steptrace plot``: the learning curve (and the held-out rows' error) and each layer's
weights over time, as a picture.

matplotlib is an optional extra (``pip install 'steptrace[plot]'``); without it the
command says so and exits 2. The trace is read as a stream; a layer with many weights
shows its first ``MAX_WEIGHTS``, and long runs are thinned as they are read to at most
``MAX_POINTS`` points per curve (:class:`Thinned`), so a picture of any run stays light
and drawing it takes the same memory however long the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from steptrace.errors import BadInput
from steptrace.outputs import atomic_write, check_output
from steptrace.trace.events import EpochEndEvent
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.trace.state import CHUNK, NetworkState

if TYPE_CHECKING:
    from steptrace.recording import Progress

T = TypeVar("T")

MAX_WEIGHTS = 24
MAX_POINTS = 4000
FORMATS = {".png", ".svg"}


def plot(trace: Path, output: Path, progress: Progress | None = None) -> int:
    """Draw ``trace`` into ``output`` (.png or .svg); returns the number of panels.
    ``progress`` is told each pass read (see :func:`figure`)."""
    if output.suffix not in FORMATS:
        raise BadInput(f"{output}: give a .png or .svg file name")
    check_output(output, [trace])  # now, not after reading the whole trace
    drawn = figure(trace, progress)
    with atomic_write(output, inputs=[trace]) as file:
        drawn.savefig(file, format=output.suffix[1:])
    return len(drawn.axes)


def figure(trace: Path | TraceReader, progress: Progress | None = None) -> Any:
    """The picture of ``trace`` (a path, or a reader not yet read past its header), a
    matplotlib ``Figure`` (made without pyplot: no window, no display needed, nothing for
    pyplot to keep): the error per pass (and, when the experiment has held-out rows, their
    error after each pass, a second curve, with a legend), then each layer's weights after
    each update. A notebook shows it as a cell's last expression. ``progress`` is told
    each pass read (as a recording tells it each pass run: passes done, the config's
    passes, the steps a pass)."""
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise BadInput("steptrace plot needs matplotlib: pip install 'steptrace[plot]'") from None

    errors: Thinned[tuple[int, float]] = Thinned(MAX_POINTS)  # (epoch, error)
    held_out: Thinned[tuple[int, float]] = Thinned(MAX_POINTS)  # (epoch, test_error)
    left_out = 0  # passes whose error (or held-out error) is inf or NaN
    weights: dict[int, Thinned[list[float]]] = {}  # layer -> one row of weights per update
    with open_trace(trace) if isinstance(trace, Path) else trace as reader:
        config = reader.header.config
        state = NetworkState(reader.header, fresh=True)  # (the reader's events: ours)
        # (the passes' ends as events; the other steps, once a pass repeats the last one's,
        # as the reader's step lines: their fields, checked, without pydantic models)
        events = reader.steps(("epoch_end",))
        while chunk := list(islice(events, CHUNK)):  # (the weights a chunk at a time)
            for event in [event for event in chunk if event.__class__ is EpochEndEvent]:
                if progress is not None:
                    progress(event.epoch + 1, config.iterations, (event.seq + 1) // (event.epoch + 1))
                for curve_of, value in ((errors, event.error), (held_out, event.test_error)):
                    if value is None:
                        continue
                    if math.isfinite(value):
                        curve_of.add((event.epoch, value))
                    else:
                        left_out += 1
            for k, after in state.weights_after(chunk).items():
                weights.setdefault(k, Thinned(MAX_POINTS)).add_each(
                    after, lambda each: each.ravel()[:MAX_WEIGHTS].tolist())
    layers = sorted(weights)
    drawn = Figure(figsize=(10, 3 + 2.5 * len(layers)))
    axes = drawn.subplots(1 + len(layers), 1, squeeze=False)
    curve = axes[0][0]
    finite, tested = errors.items, held_out.items
    if finite:
        curve.plot([e for e, _ in finite], [x for _, x in finite], color="tab:red",
                   label="training error (summed over the pass's samples)")
    if tested:
        rows = len(config.test_inputs or ())
        curve.plot([e for e, _ in tested], [x for _, x in tested], color="tab:blue",
                   label=f"held-out error (summed over the {rows} held-out rows, after the pass)")
        curve.legend(loc="best", fontsize=8)
    if (finite or tested) and all(x > 0 for _, x in finite + tested):
        curve.set_yscale("log")
    curve.set_title(f"{config.name}: error per pass" + (" — training and held-out" if tested else "")
                    + (" (inf/NaN passes left out)" if left_out else ""))
    curve.set_xlabel("pass (epoch)")
    curve.set_ylabel("error, summed over the pass" if not tested else "error, summed")
    curve.xaxis.set_major_locator(MaxNLocator(integer=True))
    single = len(config.layers) == 2  # one weight layer: the names of chapters 4 and 5
    for panel, k in zip(axes[1:], layers, strict=True):
        series = weights[k]
        ax = panel[0]
        n_out = config.layers[k]
        names = [f"w[{i}]" if n_out == 1 else f"w[{i}][{j}]"
                 for i in range(config.layers[k - 1]) for j in range(n_out)][:MAX_WEIGHTS]
        ax.set_prop_cycle(color=[colormaps["tab20"](i) for i in range(20)])  # 20 apart, not 10
        for column, name in zip(zip(*series.items, strict=True), names, strict=False):
            ax.plot(series.positions(), column, linewidth=0.8, label=name)
        total = config.layers[k - 1] * n_out
        shown = "" if total <= MAX_WEIGHTS else f" (the first {MAX_WEIGHTS} of {total})"
        name = ("weight" if total == 1 else "weights") if single else f"weights_{k - 1}_{k}"
        which = "" if total == 1 else (" — w[i]: from input i" if n_out == 1 else
                                       " — w[i][j]: from input i to output j")
        ax.set_title(f"{name} after each update{shown}{which}")
        ax.set_xlabel("update" if series.step == 1 else "update (thinned)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if total > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                      ncol=1 + (min(total, MAX_WEIGHTS) - 1) // 12, frameon=False)
    drawn.tight_layout()
    return drawn


class Thinned(Generic[T]):
    """Every ``step``-th item of a stream, kept in order, at most ``limit`` of them: when
    one more would be too many, every other kept item is dropped and ``step`` doubles.
    A stream of up to ``limit`` items is kept whole; a longer one keeps between half of
    ``limit`` and ``limit`` evenly spaced items, the first always among them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[T] = []
        self.step = 1
        self.seen = 0

    def wants(self) -> bool:
        """Whether the next item is kept (else :meth:`skip` it: it need not be made)."""
        return self.seen % self.step == 0

    def add(self, item: T) -> None:
        if self.seen % self.step == 0:
            self.items.append(item)
            if len(self.items) > self.limit:
                del self.items[1::2]
                self.step *= 2
        self.seen += 1

    def add_each(self, items: Any, made: Callable[[Any], T]) -> None:
        """``made(item)`` of each of ``items`` (a list, an array) in turn, as :meth:`add`
        takes it: made only for an item that is kept (those dropped are counted, a run of
        them at once)."""
        n, at = len(items), 0
        while True:
            gap = (-self.seen) % self.step  # (the items dropped before the next one kept)
            if at + gap >= n:
                self.seen += n - at
                return
            at += gap
            self.seen += gap
            self.add(made(items[at]))
            at += 1

    def skip(self) -> None:
        """The next item is one :meth:`wants` said is not kept: count it only."""
        self.seen += 1

    def positions(self) -> range:
        """Where each kept item was in the stream (0, step, 2 step, ...)."""
        return range(0, len(self.items) * self.step, self.step)
