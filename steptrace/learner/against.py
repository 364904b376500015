"""A learner's run beside a built-in experiment: the same data, weights, alpha, network,
passes and printed output as the book's?

Each thing compared is one :class:`Item`, one line: the inputs and goals (the rows the
first pass was given), the initial weights (as first assigned: the book's seeded draw, in
chapter 6), alpha, the network (sizes and nonlinearities), the strategy, the delta's form,
the number of passes, and what the script printed against what the book's program printed
(``steptrace show --view book`` of the experiment: the book's digits). Printed numbers agree
within the check's tolerance: the learner's ``np.dot`` may add in another order than the
book's machine did (see docs/exactness.md), which moves the last digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.defaults import DIGITS
from steptrace.engine.network import initial_weights
from steptrace.engine.rules import Array
from steptrace.learner.mapping import LearnerRun
from steptrace.views.text import matrix, number


@dataclass(frozen=True)
class Item:
    """One thing compared: what, whether it is the same, and how (or where it differs)."""

    what: str
    same: bool
    detail: str

    def line(self) -> str:
        return f"{self.what}: {self.detail}"


@dataclass(frozen=True)
class Comparison:
    """The run against the experiment ``experiment``, item by item."""

    experiment: str
    items: tuple[Item, ...]

    @property
    def same(self) -> bool:
        return all(item.same for item in self.items)


def compare(run: LearnerRun, config: ExperimentConfig, printed: str, book: str,
            rtol: float, atol: float) -> Comparison:
    """``run`` (which printed ``printed``) against the experiment ``config`` (whose program
    printed ``book``)."""
    items = [
        _matrices(f"inputs ({config.input_name})", run.inputs, config.inputs.array, rtol, atol),
        _matrices(f"goals ({config.goal_name})", run.goals, _goals(config), rtol, atol),
        _weights(run, config, rtol, atol),
        _values("alpha", run.alpha, config.alpha),
        _values("network", _network(list(run.shape.sizes), [n.name for n in run.nonlinearities]),
                _network(list(config.layers), list(config.nonlinearities))),
        _values("strategy", _strategy(run.strategy, run.batch_size, len(run.inputs)),
                _strategy(config.strategy.name, int(config.strategy.options.get("batch_size", 1)),
                          len(config.inputs))),
        _delta_form(run, config),
        _values("passes", run.timeline.passes, config.iterations),
        _whole_run(run),
        printout(printed, book, rtol, atol),
    ]
    return Comparison(config.name, tuple(items))


def _goals(config: ExperimentConfig) -> Array:
    return np.zeros((0, 0)) if config.goals is None else config.goals.array


def _network(sizes: list[int], nonlinearities: list[str]) -> str:
    return f"{'-'.join(map(str, sizes))}, {' then '.join(nonlinearities)}"


def _strategy(name: str, batch_size: int, samples: int) -> str:
    if name == "minibatch":
        return f"minibatch of {batch_size}"
    if name == "full" or (name != "stochastic" and batch_size == samples > 1):
        return "full"
    return name


def _whole_run(run: LearnerRun) -> Item:
    """Whether the run is one of the experiment's kind throughout: the alpha of its first
    update kept, every pass given the same rows, every step updating every layer (the items
    above compare what the run began with)."""
    if run.unlike_a_run is None:
        return Item("the run throughout", True, "the same rule at every step and pass")
    return Item("the run throughout", False, f"not as the experiment's: {run.unlike_a_run}")


def _values(what: str, yours: object, theirs: object) -> Item:
    def text(value: object) -> str:
        return number(value) if isinstance(value, float) else str(value)

    if yours == theirs:
        return Item(what, True, f"the same ({text(yours)})")
    return Item(what, False, f"yours {text(yours)}, the experiment's {text(theirs)}")


def _shape(a: Array) -> str:
    return f"{a.shape[0]} row(s) of {a.shape[1]}" if a.ndim == 2 else f"shape {a.shape}"


def _matrices(what: str, yours: Array, theirs: Array, rtol: float, atol: float) -> Item:
    if yours.shape != theirs.shape:
        return Item(what, False, f"yours are {_shape(yours)}, the experiment's {_shape(theirs)}")
    agree = np.isclose(yours, theirs, rtol=rtol, atol=atol)
    if agree.all():
        return Item(what, True, f"the same ({_shape(yours)})")
    row = int(np.argwhere(~agree)[0][0])
    return Item(what, False, f"row {row} differs: yours {matrix((tuple(yours[row].tolist()),), DIGITS)}, "
                             f"the experiment's {matrix((tuple(theirs[row].tolist()),), DIGITS)}")


def _weights(run: LearnerRun, config: ExperimentConfig, rtol: float, atol: float) -> Item:
    theirs = initial_weights(config)
    names = [run.name("weights", k) for k in range(1, len(run.initial_weights) + 1)]
    if len(theirs) != len(run.initial_weights):
        return Item("initial weights", False, f"yours are {len(run.initial_weights)} matrices, the "
                                              f"experiment's {len(theirs)}")
    how = "drawn with np.random.seed" if config.seed is not None else "given"
    for name, mine, book in zip(names, run.initial_weights, theirs, strict=True):
        if mine.shape != book.shape:
            return Item("initial weights", False,
                        f"{name}: yours {mine.shape}, the experiment's {book.shape}")
        agree = np.isclose(mine, book, rtol=rtol, atol=atol)
        if not agree.all():
            i, j = (int(n) for n in np.argwhere(~agree)[0])
            seed = (f" (the book's: np.random.seed({config.seed}), then 2*np.random.random(shape) "
                    "- 1 per layer)" if config.seed is not None else "")
            mine_ij, book_ij = number(float(mine[i, j]), DIGITS), number(float(book[i, j]), DIGITS)
            return Item("initial weights", False,
                        f"{name}[{i}][{j}]: yours {mine_ij}, the experiment's {book_ij}{seed}")
    return Item("initial weights", True, f"the same ({', '.join(names)}; {how})")


def _delta_form(run: LearnerRun, config: ExperimentConfig) -> Item:
    yours = "goal − prediction, +=" if run.ascent else "prediction − goal, -="
    theirs = "goal − prediction, +=" if config.ascent else "prediction − goal, -="
    if yours == theirs:
        return Item("delta", True, f"the same ({yours})")
    return Item("delta", False, f"yours {yours}, the experiment's {theirs} (the same numbers: the "
                                "book wrote both)")


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf")


def printout(yours: str, book: str, rtol: float, atol: float) -> Item:
    """The script's printed output against the book's, line by line; numbers within the
    tolerance."""
    mine, theirs = _lines(yours), _lines(book)
    off = 0
    for n, (a, b) in enumerate(zip(mine, theirs, strict=False), start=1):
        if a == b:
            continue
        if not _numbers_agree(a, b, rtol, atol):
            return Item("printed output", False, f"line {n} differs: yours {a[:80]!r}, the book's {b[:80]!r}")
        off += 1
    if len(mine) != len(theirs):
        return Item("printed output", False, f"yours is {len(mine)} line(s), the book's {len(theirs)}")
    if off:
        return Item("printed output", True,
                    f"the same within rtol {rtol:g}, atol {atol:g} ({len(theirs)} lines, {off} "
                    "with other last digits: np.dot adds in another order than the book's machine)")
    return Item("printed output", True, f"the same, line for line ({len(theirs)} lines)")


def _lines(text: str) -> list[str]:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _numbers_agree(a: str, b: str, rtol: float, atol: float) -> bool:
    if _NUMBER.split(a) != _NUMBER.split(b):
        return False
    x = [float(n) for n in _NUMBER.findall(a)]
    y = [float(n) for n in _NUMBER.findall(b)]
    return len(x) == len(y) and bool(np.all(np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)))
