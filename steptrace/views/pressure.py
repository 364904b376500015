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
from typing import TypeVar, cast

from steptrace.defaults import DIGITS
from steptrace.engine.pressure import Fit, Tally, least_squares, not_binary, pressure, tallies, twins
from steptrace.errors import BadInput
from steptrace.trace.events import EpochEndEvent, Event, UpdateEvent
from steptrace.trace.header import Header, holds_passes_only
from steptrace.trace.state import complete_events
from steptrace.views.text import matrix, number

LEGEND = (
    "Up and down pressure, from the data (the book's table): for each example and each "
    "weight, + when the input is 1 and the goal is 1 (pushed toward 1), − when the input is 1 "
    "and the goal is 0 (pushed toward 0), 0 when the input is 0 (that weight is not to blame). "
    "Read down a column: mostly + → toward 1, mostly − → toward 0, as many of each → "
    "conflicting.")
_N = TypeVar("_N", int, float)
SHOWN_PASSES = 6  # the first passes a conflicting weight's table shows before it skips


@dataclass
class PressureRun:
    """What the view needs of the run, pass by pass: the first weight layer after each pass
    (every pass for a network of one weight layer, whose conflicting weights are followed;
    else only the passes shown), each weight's moves up and down in the pass, its error."""

    every_pass: bool
    shown: set[int]
    weights: dict[int, list[list[float]]] = field(default_factory=dict)  # pass -> after it
    ups: dict[int, list[list[int]]] = field(default_factory=dict)  # pass -> per weight
    downs: dict[int, list[list[int]]] = field(default_factory=dict)
    up_by: dict[int, list[list[float]]] = field(default_factory=dict)  # summed moves up
    down_by: dict[int, list[list[float]]] = field(default_factory=dict)  # summed moves down
    errors: dict[int, float | None] = field(default_factory=dict)  # pass -> its error (those kept)
    test_errors: dict[int, float | None] = field(default_factory=dict)  # on held-out rows
    last: int | None = None
    updates: int = 0

    current: list[list[float]] = field(default_factory=list)  # the weights so far

    def add(self, event: Event) -> None:
        """Take in one event of the run, complete (:mod:`steptrace.trace.state`): the page
        hands in those it already completed, so the trace is read once."""
        kind = event.kind  # (an update may be a reader's step line: its fields, as the event's)
        if kind == "update" and (update := cast(UpdateEvent, event)).layer == 1 \
                and update.weights is not None:
            after = [list(row) for row in update.weights]
            if self.every_pass:  # (the moves are followed for one weight layer only)
                shape = (len(after), len(after[0]))
                ups = self.ups.setdefault(event.epoch, _zeros(shape, 0))
                downs = self.downs.setdefault(event.epoch, _zeros(shape, 0))
                up_by = self.up_by.setdefault(event.epoch, _zeros(shape, 0.0))
                down_by = self.down_by.setdefault(event.epoch, _zeros(shape, 0.0))
                for i, (old, new) in enumerate(zip(self.current, after, strict=True)):
                    for j, (a, b) in enumerate(zip(old, new, strict=True)):
                        ups[i][j] += b > a
                        downs[i][j] += b < a
                        up_by[i][j] += max(b - a, 0.0)
                        down_by[i][j] += max(a - b, 0.0)
            self.current = after
            self.updates += 1
        elif kind == "epoch_end":
            end = cast(EpochEndEvent, event)
            self.weights[end.epoch] = self.current
            self.errors[end.epoch] = end.error
            self.test_errors[end.epoch] = end.test_error
            self.last = end.epoch
            if event.epoch - 1 not in self.shown:  # (kept: the last pass's, those shown)
                self.errors.pop(event.epoch - 1, None)  # (the report says the last pass's)
                self.test_errors.pop(event.epoch - 1, None)
                if not self.every_pass:
                    self.weights.pop(event.epoch - 1, None)


def _zeros(shape: tuple[int, int], zero: _N) -> list[list[_N]]:
    return [[zero] * shape[1] for _ in range(shape[0])]


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
        if holds_passes_only(header.detail):
            raise BadInput("--view pressure follows the run's updates, and this trace holds the "
                           "passes' ends alone (recorded with --detail epoch): record it with "
                           "--detail step")
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

    def follow(self, epochs: set[int] | None = None) -> PressureRun:
        """What the view keeps of a run, to be handed its events (complete) one by one."""
        return PressureRun(self.single, set(epochs or ()),
                    current=[list(row) for row in self.header.initial_weights[0]])

    def lines(self, events: Iterable[Event], epochs: set[int]) -> Iterator[str]:
        run = self.follow(epochs)
        for event in complete_events(self.header, events):
            run.add(event)
        yield from self.report(run, epochs)

    def report(self, run: PressureRun, epochs: set[int]) -> Iterator[str]:
        """The view's lines, once ``run`` has been handed every event."""
        shown = sorted(epochs) if epochs else [] if run.last is None else [run.last]
        yield from _wrapped(LEGEND)
        for output in range(self.outputs):
            table = pressure(self.inputs, self.goals, output)
            columns = tallies(table)
            yield ""
            if self.outputs > 1:
                yield f"goal column {output} of {self.config.goal_name}:"
            yield from self.table(output, self.inputs, self.goals, table, columns,
                                  self.ended(output, run, shown))
            fit = least_squares(self.inputs, self.goals, output)
            if self.single and run.last is not None:
                yield from self.against_the_reading(output, columns, run, fit)
            correlated = any(t.reading in ("toward 1", "toward 0") for t in columns)
            if self.single and run.updates and any(t.reading == "toward 1" for t in columns):
                for i, tally in enumerate(columns):
                    if tally.reading == "conflicting":
                        yield ""
                        yield from self.conflicting(output, i, tally, columns, run, fit)
            if not correlated:
                yield ""
                yield from _wrapped(self.no_correlation(output, run, fit))
            if self.held_out is not None:
                yield ""
                yield from self.overfitting(output, columns, run)
        if not self.single:
            yield ""
            yield from self.hidden(run, shown)

    def ended(self, output: int, run: PressureRun, shown: Sequence[int]) -> dict[str, list[str]]:
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

    def against_the_reading(self, output: int, columns: list[Tally], run: PressureRun, fit: Fit
                            ) -> Iterator[str]:
        """A weight the run took away from its column's reading, and why that can be."""
        assert run.last is not None
        names, end = self.names(output), run.weights[run.last]
        away = []
        for i, tally in enumerate(columns):
            start, ended = self.header.initial_weights[0][i][output], end[i][output]
            if (tally.reading == "toward 0" and abs(ended) > abs(start)) or (
                    tally.reading == "toward 1" and abs(ended - 1) > abs(start - 1)):
                away.append(f"{names[i]} away from its reading ({tally.reading}, yet "
                            f"{number(start, DIGITS)} → {number(ended, DIGITS)})")
        if not away:
            return
        yield ""
        why = ("many weights fit this data exactly, and the run stops at the first it reaches"
               if fit.exact and not fit.unique else
               f"the data is fitted exactly by w = {_weights(fit)}" if fit.exact else
               f"no weights fit this data exactly; the best one layer can do is w = "
               f"{_weights(fit)}")
        yield from _wrapped(
            f"The run took {' and '.join(away)}. The table says how each example presses a weight "
            "on its own; the run moves all the weights together, and stops where the data is "
            f"fitted as a whole ({why}).")

    def conflicting(self, output: int, i: int, tally: Tally, columns: list[Tally], run: PressureRun,
                    fit: Fit) -> Iterator[str]:
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
            f"{number(end, DIGITS)}. How the run moved it, pass by pass (its updates, as "
            "--view moves counts them, and by how much in all):")
        before = [start, *(after[p] for p in passes[:-1])]
        inward = [abs(after[p]) < abs(b) for p, b in zip(passes, before, strict=True)]
        settled = next((k for k in range(len(passes)) if all(inward[k:])), None)

        def moved(table: dict[int, list[list[_N]]], p: int) -> _N | int:
            return table[p][i][output] if p in table else 0

        heads = ["pass", "ups", "up by", "downs", "down by", name, *(names[j] for j in carriers)]
        rows = [[str(p), str(moved(run.ups, p)), number(float(moved(run.up_by, p)), DIGITS),
                 str(moved(run.downs, p)), number(float(moved(run.down_by, p)), DIGITS),
                 number(after[p], DIGITS),
                 *(number(run.weights[p][j][output], DIGITS) for j in carriers)] for p in passes]
        width = max(10, *(len(cell) + 2 for row in rows for cell in row))
        yield "".join(head.rjust(width) for head in heads)
        for k in _rows_to_show(len(passes), settled):
            yield "…".rjust(width) if k is None else "".join(c.rjust(width) for c in rows[k])
        went_to_zero = abs(end) <= 0.1 * abs(start) or abs(end) < 1e-3
        if settled is None or not went_to_zero:
            yield from _wrapped(f"It did not go to 0 in this run: it ended at {number(end, DIGITS)}."
                                + self.twin_note(output, i, run))
            return
        side = (" (from below here, so its moves up outweigh its moves down)" if start < 0 else
                " (from above here, so its moves down outweigh its moves up)")
        carried = " and ".join(names[j] for j in carriers)
        if fit.exact and fit.unique and abs(fit.weights[i]) < 1e-9:
            reason = (f"The data is fitted exactly by w = {_weights(fit)}, and only by it: once "
                      f"{carried} {'do' if len(carriers) > 1 else 'does'} the job of "
                      f"{'their inputs' if len(carriers) > 1 else 'its input'}, anything {name} "
                      "adds to a prediction is error on every row where its input is on, so "
                      f"each pass takes some of it away, and it goes to 0{side}.")
        else:
            reason = (f"Once {carried} (pushed toward 1) answer the rows whose goal is 1, what "
                      f"{name} adds to a prediction is error, and the run takes it to 0{side}.")
        yield from _wrapped(f"From pass {passes[settled]} on, every pass moved {name} toward 0. "
                            + reason + " (The book: conflicting pressure is settled by the "
                            "weights that do correlate.)")

    def twin_note(self, output: int, i: int, run: PressureRun) -> str:
        """Why a weight could not go where its pressure points: an input that is always the
        same as another's, so the two weights move together."""
        names = self.names(output)
        assert run.last is not None
        end = run.weights[run.last]
        for a, b in twins(self.inputs):
            if i in (a, b):
                j = b if i == a else a
                gap = self.header.initial_weights[0][i][output] - \
                    self.header.initial_weights[0][j][output]
                return (f" Its input is the same as input {j}'s in every row, so every update "
                        f"moves {names[i]} and {names[j]} by the same amount: their difference "
                        f"stays {number(gap, DIGITS)} (they ended at "
                        f"{number(end[i][output], DIGITS)} and {number(end[j][output], DIGITS)}),"
                        " whatever the pressure.")
        return ""

    def no_correlation(self, output: int, run: PressureRun, fit: Fit) -> str:
        """The book's third edge case: every column balanced."""
        said = (f"Every column is conflicting: no input correlates with "
                f"{self.config.goal_name} on its own (no correlation).")
        last = run.last
        error = run.errors.get(last) if last is not None else None
        now = (f" After pass {last} the run's error is {number(error, DIGITS)}."
               if error is not None else "")
        best = ("" if fit.exact else
                f" No linear network does better than an error of {number(fit.error, DIGITS)} "
                f"on this data (the least-squares fit, w = {_weights(fit)}).")
        hidden = self.config.nonlinearities[0]
        if self.single:
            return (said + best + now + " The book's answer is an intermediate layer that makes "
                    "correlation out of combinations of inputs: with relu "
                    "(ch06-streetlights-backprop); a linear one adds nothing "
                    "(streetlights-linear-hidden-layer).")
        if hidden == "linear":
            return (said + best + now + " This network's hidden layer is linear, so it can do no "
                    "better than one layer (the book: a linear intermediate layer does not "
                    "help); with relu it can (ch06-streetlights-backprop).")
        return (said + best + now + f" This network's hidden layer ({hidden}) is the book's "
                "answer: it makes correlation out of combinations of inputs.")

    def overfitting(self, output: int, columns: list[Tally], run: PressureRun) -> Iterator[str]:
        """The held-out rows' own table, the columns it reads otherwise than the training
        rows, and whether the run fitted the rows it saw and not the others (the book's
        overfitting)."""
        assert self.held_out is not None
        inputs, goals = self.held_out
        held = pressure(inputs, goals, output)
        theirs = tallies(held)
        yield ("Held-out rows (test_inputs, test_goals: the run never trained on them), the "
               "same rule:")
        yield from self.table(output, inputs, goals, held, theirs, {})
        names = self.names(output)
        last = run.last
        end = run.weights.get(last) if last is not None and self.single else None
        said = []
        differ = [i for i, (a, b) in enumerate(zip(columns, theirs, strict=True))
                  if a.reading != b.reading]
        for i in differ:
            said.append(f"The held-out rows disagree about {names[i]}: the training rows read it "
                        f"{columns[i].reading}, the held-out rows {theirs[i].reading}"
                        + (f"; it ended at {number(end[i][output], DIGITS)}." if end else "."))
        every = least_squares([*self.inputs, *inputs], [*self.goals, *goals], output)
        if end and every.exact and every.unique:
            said.append(f"All the rows together are fitted exactly by w = {_weights(every)}; "
                        "the run, which saw only the training rows, ended at "
                        f"{_weights_of([row[output] for row in end])}.")
        for a, b in twins(self.inputs):
            if end and (a, b) not in twins([*self.inputs, *inputs]):
                gap = (self.header.initial_weights[0][a][output]
                       - self.header.initial_weights[0][b][output])
                said.append(f"In the training rows inputs {a} and {b} are the same in every "
                            f"row, so every update moves {names[a]} and {names[b]} by the same "
                            f"amount: they keep their starting difference "
                            f"({number(gap, DIGITS)}) and end at "
                            f"{number(end[a][output], DIGITS)} and "
                            f"{number(end[b][output], DIGITS)}.")
        trained = run.errors.get(last) if last is not None else None
        tested = run.test_errors.get(last) if last is not None else None
        if trained is not None and tested is not None:
            per_row_trained = trained / len(self.inputs)
            per_row_tested = tested / len(inputs)
            numbers = (f"after pass {last} the training error is {number(trained, DIGITS)}, "
                       f"the held-out error {number(tested, DIGITS)}")
            if per_row_trained <= 1e-6 and per_row_tested >= 0.01:
                said.append(f"It fits the rows it trained on and not the others ({numbers}): "
                            "it memorised (the book's overfitting).")
            elif per_row_tested < 0.01:
                said.append(f"It does well on the rows it never saw ({numbers}).")
            else:
                said.append(numbers[0].upper() + numbers[1:] + ".")
        if said:
            yield from _wrapped(" ".join(said))

    def hidden(self, run: PressureRun, shown: Sequence[int]) -> Iterator[str]:
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
                yield f"  weights_0_1[{i}] {matrix((tuple(row),), DIGITS)}"


def _weights(fit: Fit) -> str:
    return _weights_of(list(fit.weights))


def _weights_of(weights: Sequence[float]) -> str:
    """Weights as the view prints them: 4 significant digits, rounding's dust shown as 0."""
    return matrix((tuple(round(w, 9) + 0.0 for w in weights),), DIGITS)


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
