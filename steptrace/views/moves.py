"""The moves view: which way each update of the run moved each weight.

Not the book's pressure table (:mod:`steptrace.views.pressure`, from the data alone): a
move follows the sign of the update's delta, ``prediction - goal``, so an example whose goal
is 0 moves a weight *up* while its prediction is below 0, where the book's table says it
presses the weight toward 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from steptrace.errors import BadInput
from steptrace.trace.events import EpochEndEvent, Event, UpdateEvent
from steptrace.trace.header import Header, holds_passes_only
from steptrace.trace.state import complete_events


class MovesView:
    """For each update and each weight, the direction the weight moved (``+`` up, ``−``
    down, ``0`` no move: its input was 0, so it had no say, or its delta was), and each
    weight's net over the pass (ups minus downs), one table per weight layer and pass."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.config = header.config
        self.ascent = header.config.ascent
        self.single = len(header.config.layers) == 2
        self._headings: dict[int, tuple[str, str, int]] = {}
        if holds_passes_only(header.detail):
            raise BadInput("--view moves shows the run's updates, and this trace holds the "
                           "passes' ends alone (recorded with --detail epoch): record it with "
                           "--detail step")

    def lines(self, events: Iterable[Event], epochs: set[int]) -> Iterator[str]:
        rows: dict[int, list[tuple[tuple[int, ...], list[str]]]] = {}
        legend = True
        for event in complete_events(self.header, events):
            if epochs and event.epoch not in epochs:
                continue
            if isinstance(event, UpdateEvent) and event.weight_delta is not None:
                sign = self.sign
                signs = [sign(x) for row in event.weight_delta for x in row]
                rows.setdefault(event.layer, []).append((event.samples, signs))
            elif isinstance(event, EpochEndEvent):
                if rows and legend:
                    yield from self.legend()
                    legend = False
                for layer in sorted(rows):
                    yield from self.table(layer, event.epoch, rows[layer])
                rows = {}
        if legend and not epochs:  # (nothing shown: say why)
            raise BadInput("--view moves shows the run's updates, and this run made none "
                           "(a forward pass only): nothing moved")

    def legend(self) -> Iterator[str]:
        """Said once, above the tables: what the signs mean and which index is which."""
        yield ("How each update of the run moved each weight: + up, − down, 0 no move (its "
               "input or its delta was 0).")
        yield ("Not the book's pressure table (--view pressure, from the data alone): a move "
               "follows the update's delta (at the output, prediction − goal), so an example "
               "whose goal is 0 moves a weight up while its prediction is below 0.")
        one_output = all(n == 1 for n in self.config.layers[1:])
        yield ("w[i] is the weight from input i." if one_output else
               "w[i][j] is the weight from input i (a node of the layer below) to output j.")
        yield ""

    def sign(self, weight_delta: float) -> str:
        moves = -weight_delta if not self.ascent else weight_delta  # weights -= alpha * wd
        return "+" if moves > 0 else "−" if moves < 0 else "0"

    def table(self, k: int, epoch: int, rows: list[tuple[tuple[int, ...], list[str]]]
              ) -> Iterator[str]:
        label, heading, width = self.heading(k)
        yield f"{label}, pass (epoch) {epoch}:"
        yield heading
        padded = {sign: sign.rjust(width) for sign in ("+", "−", "0")}
        pad = padded.__getitem__
        for samples, signs in rows:
            where = ", ".join(map(str, samples))
            yield where.ljust(10) + "".join(map(pad, signs))
        net = [column.count("+") - column.count("−") for column in zip(
            *(signs for _, signs in rows), strict=True)]
        yield "ups−downs".ljust(10) + "".join((f"{n:+d}" if n else "0").rjust(width) for n in net)
        yield ""

    def heading(self, k: int) -> tuple[str, str, int]:
        """Weight layer k's table: its name, its columns' line, and their width."""
        if (found := self._headings.get(k)) is None:
            n_in, n_out = self.config.layers[k - 1], self.config.layers[k]
            names = [f"w[{i}]" if n_out == 1 else f"w[{i}][{j}]"
                     for i in range(n_in) for j in range(n_out)]
            width = max(len(name) for name in names) + 1
            label = "weights" if self.single else f"weights_{k - 1}_{k}"
            found = self._headings[k] = (
                label, "samples".ljust(10) + "".join(name.rjust(width) for name in names), width)
        return found
