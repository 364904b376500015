"""The pressure view: the book's up and down pressure table, from the data alone, beside
where the run took each weight — and, for a column the data leaves balanced, how the run
settled it.

The table is :mod:`steptrace.engine.pressure`'s: a row per example, a sign per weight, a
tally and the book's reading per column. What the run did comes from its update events:
the weights after a pass, and, for a conflicting weight, its moves pass by pass
(:mod:`steptrace.views.moves` shows every move of every weight).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from steptrace.engine.pressure import Tally, not_binary, pressure, tallies
from steptrace.errors import BadInput
from steptrace.trace.events import EpochEndEvent, Event, UpdateEvent
from steptrace.trace.header import Header
from steptrace.trace.state import complete_events
from steptrace.views.text import DIGITS, matrix, number

LEGEND = (
    "Up and down pressure, from the data (the book's table): for each example and each "
    "weight, + when the input is 1 and the goal is 1 (pushed toward 1), − when the input is 1 "
    "and the goal is 0 (pushed toward 0), 0 when the input is 0 (that weight is not to blame). "
    "Read down a column: mostly + → toward 1, mostly − → toward 0, as many of each → "
    "conflicting.")
SHOWN_PASSES = 6  # the first passes a conflicting weight's table shows before it skips


@dataclass
class _Run:
    """What the view needs of the run, pass by pass: the first weight layer after each pass
    (every pass for a network of one weight layer, whose conflicting weights are followed;
    else only the passes shown), each weight's moves up and down in the pass, its error."""

    every_pass: bool
    shown: set[int]
    weights: dict[int, list[list[float]]] = field(default_factory=dict)  # pass -> after it
    ups: dict[int, list[list[int]]] = field(default_factory=dict)  # pass -> per weight
    downs: dict[int, list[list[int]]] = field(default_factory=dict)
    errors: dict[int, float | None] = field(default_factory=dict)  # pass -> its error
    test_errors: dict[int, float | None] = field(default_factory=dict)  # on held-out rows
    last: int | None = None
    updates: int = 0

    def read(self, header: Header, events: Iterable[Event]) -> _Run:
        current = [list(row) for row in header.initial_weights[0]]
        shape = (len(current), len(current[0]))
        for event in complete_events(header, events):
            if isinstance(event, UpdateEvent) and event.layer == 1 and event.weights is not None:
                after = [list(row) for row in event.weights]
                ups = self.ups.setdefault(event.epoch, [[0] * shape[1] for _ in range(shape[0])])
                downs = self.downs.setdefault(event.epoch,
                                              [[0] * shape[1] for _ in range(shape[0])])
                for i, (old, new) in enumerate(zip(current, after, strict=True)):
                    for j, (a, b) in enumerate(zip(old, new, strict=True)):
                        ups[i][j] += b > a
                        downs[i][j] += b < a
                current = after
                self.updates += 1
            elif isinstance(event, EpochEndEvent):
                if self.every_pass or event.epoch in self.shown:
                    self.weights[event.epoch] = current
                self.errors[event.epoch] = event.error
                self.test_errors[event.epoch] = event.test_error
                self.last = event.epoch
        if self.last is not None:
            self.weights[self.last] = current
        return self


class PressureView:
    """The book's pressure table of an experiment's data, and the run beside it."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.config = config = header.config
        if config.goals is None:
            raise BadInput("--view pressure reads the goals, and this trace's experiment has "
                           "none: --view moves shows which way each update moved each weight")
        self.inputs = config.inputs.tolist()
        self.goals = config.goals.tolist()
        for what, rows in (("inputs", self.inputs), ("goals", self.goals)):
            odd = not_binary(rows)
            if odd is not None:
                raise BadInput(
                    f"--view pressure is the book's table of data of 0s and 1s (lights on or "
                    f"off, walk or stop); {config.name}'s {what} are not (e.g. {number(odd)}): "
                    "--view moves shows which way each update moved each weight")
        self.single = len(config.layers) == 2
        self.outputs = config.layers[-1]
        held_in, held_goals = config.test_inputs, config.test_goals
        self.held_out = None if held_in is None or held_goals is None else (
            held_in.tolist(), held_goals.tolist())
        if self.held_out is not None and any(not_binary(rows) is not None
                                             for rows in self.held_out):
            self.held_out = None  # (the book's rule reads 0s and 1s only)

    def names(self, output: int) -> list[str]:
        return [f"w[{i}]" if self.outputs == 1 else f"w[{i}][{output}]"
                for i in range(self.config.layers[0])]

    def lines(self, events: Iterable[Event], epochs: set[int]) -> Iterator[str]:
        run = _Run(self.single, set(epochs)).read(self.header, events)
        shown = sorted(epochs) if epochs else [] if run.last is None else [run.last]
        yield from _wrapped(LEGEND)
        for output in range(self.outputs):
            table = pressure(self.inputs, self.goals, output)
            columns = tallies(table)
            yield ""
            if self.outputs > 1:
                yield f"goal {output} ({self.config.goal_name}[{output}]):"
            yield from self.table(output, self.inputs, self.goals, table, columns,
                                  self.ended(output, run, shown))
            correlated = any(t.reading in ("toward 1", "toward 0") for t in columns)
            if self.single and run.updates and any(t.reading == "toward 1" for t in columns):
                for i, tally in enumerate(columns):
                    if tally.reading == "conflicting":
                        yield ""
                        yield from self.conflicting(output, i, tally, columns, run)
            if not correlated:
                yield ""
                yield from _wrapped(self.no_correlation(output, run))
            if self.held_out is not None:
                yield ""
                yield from self.overfitting(output, columns, run)
        if not self.single:
            yield ""
            yield from self.hidden(run, shown)

    def ended(self, output: int, run: _Run, shown: Sequence[int]) -> dict[str, list[str]]:
        """The rows under a table: each weight after each pass shown (one weight layer)."""
        ended: dict[str, list[str]] = {}
        if self.single:
            for epoch in shown:
                weights = run.weights.get(epoch)
                if weights is not None:
                    ended[f"after pass {epoch}"] = [number(row[output], DIGITS) for row in weights]
        return ended

    def table(self, output: int, inputs: Sequence[Sequence[float]],
              goals_rows: Sequence[Sequence[float]], table: Sequence[Sequence[str]],
              columns: list[Tally], ended: dict[str, list[str]]) -> Iterator[str]:
        config = self.config
        rows = [matrix((tuple(row),)) for row in inputs]
        goals = [number(row[output]) for row in goals_rows]
        left = max(len(config.input_name), *(len(r) for r in rows)) + 2
        middle = max(len(config.goal_name), *(len(g) for g in goals)) + 2
        labels = ["ups", "downs", "zeros", "reading", *ended]
        left = max(left, *(len(label) + 2 for label in labels))
        cells = [*self.names(output), *(t.reading for t in columns),
                 *(value for values in ended.values() for value in values)]
        width = max(len(cell) for cell in cells) + 2

        def line(first: str, second: str, cells: Sequence[str]) -> str:
            return (first.ljust(left) + second.ljust(middle)
                    + "".join(cell.rjust(width) for cell in cells)).rstrip()

        yield line(config.input_name, config.goal_name, self.names(output))
        for row, goal, signs in zip(rows, goals, table, strict=True):
            yield line(row, goal, signs)
        yield line("ups", "", [str(t.ups) for t in columns])
        yield line("downs", "", [str(t.downs) for t in columns])
        yield line("zeros", "", [str(t.zeros) for t in columns])
        yield line("reading", "", [t.reading for t in columns])
        for label, values in ended.items():
            yield line(label, "", values)

    def overfitting(self, output: int, columns: list[Tally], run: _Run) -> Iterator[str]:
        """The held-out rows' own table: where it reads a column otherwise than the rows the
        run trained on, the run fitted those rows, not the correlation (the book's
        overfitting)."""
        assert self.held_out is not None
        inputs, goals = self.held_out
        held = pressure(inputs, goals, output)
        theirs = tallies(held)
        yield ("Held-out rows (test_inputs, test_goals: the run never trained on them), the "
               "same rule:")
        yield from self.table(output, inputs, goals, held, theirs, {})
        names = self.names(output)
        differ = [i for i, (a, b) in enumerate(zip(columns, theirs, strict=True))
                  if a.reading != b.reading]
        if not differ:
            yield from _wrapped("They read every column as the training rows do.")
            return
        last = run.last
        weights = run.weights.get(last) if last is not None and self.single else None
        which = ", ".join(
            f"{names[i]} ({columns[i].reading} in training, {theirs[i].reading} held out"
            + (f"; it ended at {number(weights[i][output], DIGITS)}" if weights else "") + ")"
            for i in differ)
        error = run.test_errors.get(last) if last is not None else None
        yield from _wrapped(
            f"They read {which} otherwise. The run follows the pressure of the rows it trains "
            "on: it fitted them without the weights that correlate in all the data, so it "
            "stops learning there — it memorised (the book's overfitting)"
            + (f"; its held-out error after pass {last} is {number(error, DIGITS)}."
               if error is not None else "."))

    def conflicting(self, output: int, i: int, tally: Tally, columns: list[Tally], run: _Run
                    ) -> Iterator[str]:
        """How the run settled a weight the data leaves balanced."""
        names = self.names(output)
        name = names[i]
        start = self.header.initial_weights[0][i][output]
        passes = sorted(run.weights)
        after = {p: run.weights[p][i][output] for p in passes}
        end = after[passes[-1]]
        carriers = [j for j, t in enumerate(columns) if t.reading == "toward 1"]
        yield from _wrapped(
            f"Conflicting pressure on {name}: the data pushes it up {_times(tally.ups)} and down "
            f"{_times(tally.downs)} a pass, yet the run took it from {number(start, DIGITS)} to "
            f"{number(end, DIGITS)}"
            + (" (toward 0)." if abs(end) < abs(start) else " (not toward 0)."))
        before = [start, *(after[p] for p in passes[:-1])]
        inward = [abs(after[p]) < abs(b) for p, b in zip(passes, before, strict=True)]
        settled = next((k for k in range(len(passes)) if all(inward[k:])), None)
        heads = ["pass", "up", "down", name, *(names[j] for j in carriers)]
        width = max(10, *(len(number(v, DIGITS)) + 2 for p in passes
                          for v in (after[p], *(run.weights[p][j][output] for j in carriers))))
        yield "".join(head.rjust(width) for head in heads)
        for k in _rows_to_show(len(passes), settled):
            if k is None:
                yield "…".rjust(width)
                continue
            p = passes[k]
            cells = [str(p), str(run.ups[p][i][output] if p in run.ups else 0),
                     str(run.downs[p][i][output] if p in run.downs else 0),
                     number(after[p], DIGITS),
                     *(number(run.weights[p][j][output], DIGITS) for j in carriers)]
            yield "".join(cell.rjust(width) for cell in cells)
        if settled is None:
            yield from _wrapped(f"No pass from some point on moved {name} toward 0 every time: "
                                f"it ended at {number(end, DIGITS)}.")
            return
        when = passes[settled]
        if not carriers:
            yield from _wrapped(
                f"From pass {when} on, every pass moved {name} toward 0, though no weight "
                "carries a correlation here: the examples' pressures on it cancel, and what it "
                "adds to a prediction is error.")
            return
        carried = ", ".join(f"{names[j]} was {number(run.weights[when][j][output], DIGITS)}"
                            for j in carriers)
        yield from _wrapped(
            f"From pass {when} on, every pass moved {name} toward 0. After pass {when}, "
            f"{carried} (the data pushes {'them' if len(carriers) > 1 else 'it'} toward 1): "
            f"{'they carry' if len(carriers) > 1 else 'it carries'} the correlation. Once the "
            f"examples whose goal is 1 are answered by {'them' if len(carriers) > 1 else 'it'}, "
            f"what {name} adds to a prediction is error, so each pass takes some of it away: "
            f"the pressure on {name} no longer balances, and the side toward 0 wins (the book: "
            "conflicting pressure is settled by the weights that do correlate).")

    def no_correlation(self, output: int, run: _Run) -> str:
        """The book's third edge case: every column balanced."""
        said = (f"Every column is conflicting: no input correlates with "
                f"{self.config.goal_name} on its own (no correlation).")
        hidden = self.config.nonlinearities[0]
        if self.single:
            last = run.last
            if last is not None:
                weights = [row[output] for row in run.weights[last]]
                error = run.errors.get(last)
                said += (f" With nothing to correlate, the weights settle where the pressures "
                         f"cancel: after pass {last} they are {matrix((tuple(weights),), DIGITS)}"
                         + (f", and the error stays at {number(error, DIGITS)}"
                            if error is not None else "") + ".")
            return (said + " The book's answer is an intermediate layer that makes correlation "
                    "out of combinations of inputs: with relu (ch06-streetlights-backprop); a "
                    "linear one adds nothing (streetlights-linear-hidden-layer).")
        if hidden == "linear":
            return (said + " This network's hidden layer is linear, so it adds nothing a single "
                    "layer could not do (the book: a linear intermediate layer does not help); "
                    "with relu it would (ch06-streetlights-backprop).")
        return (said + f" This network's hidden layer ({hidden}) is the book's answer: it makes "
                "correlation out of combinations of inputs.")

    def hidden(self, run: _Run, shown: Sequence[int]) -> Iterator[str]:
        """A network with a hidden layer: no weight joins an input to the goal."""
        hidden = self.config.layers[1]
        yield from _wrapped(
            f"The data feeds weights_0_1 ({self.config.layers[0]} inputs → a hidden layer of "
            f"{hidden}): no weight joins an input to {self.config.goal_name} directly, so no "
            "single weight reads a column of the table; each input's weights into the hidden "
            "layer:")
        for epoch in shown:
            weights = run.weights.get(epoch)
            if weights is None:
                continue
            yield f"after pass {epoch}:"
            for i, row in enumerate(weights):
                yield f"  w[{i}][·] {matrix((tuple(row),), DIGITS)}"


def _times(n: int) -> str:
    return f"{n} time" if n == 1 else f"{n} times"


def _rows_to_show(count: int, settled: int | None) -> list[int | None]:
    """The passes a conflicting weight's table shows: the first few, those around the one
    where it settled, and the last; None where passes are skipped."""
    wanted = set(range(min(SHOWN_PASSES, count))) | {count - 1}
    if settled is not None:
        wanted |= {k for k in (settled - 1, settled, settled + 1) if 0 <= k < count}
    shown: list[int | None] = []
    for k in sorted(wanted):
        if shown and shown[-1] is not None and k != shown[-1] + 1:
            shown.append(None)
        shown.append(k)
    return shown


def _wrapped(text: str, width: int = 92) -> Iterator[str]:
    """A paragraph in lines of at most ``width`` characters."""
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            yield line
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        yield line
