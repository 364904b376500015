"""Up and down pressure, as the book argues it (ch. 6): it comes from the data alone.

For each training example and each weight: ``+`` when the weight's input is 1 and the goal
is 1 (the example pushes the weight toward 1), ``−`` when the input is 1 and the goal is 0
(toward 0), ``0`` when the input is 0 (that weight cannot be blamed: it had no say in the
prediction). Read down a column: mostly ``+``, the weight goes toward 1; mostly ``−``,
toward 0; as many of each, conflicting pressure. The book reads data of 0s and 1s (lights
on or off, walk or stop); other data has no such table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Sign = Literal["+", "−", "0"]
Reading = Literal["toward 1", "toward 0", "conflicting", "no pressure"]


def pushes(input_value: float, goal: float) -> Sign:
    """How one example presses on the weight from an input to a goal."""
    if input_value == 0:
        return "0"
    return "+" if goal == 1 else "−"


def pressure(inputs: Sequence[Sequence[float]], goals: Sequence[Sequence[float]], output: int = 0
             ) -> list[list[Sign]]:
    """The book's table for one goal (output): a row per example, a sign per input."""
    return [[pushes(x, goal_row[output]) for x in row] for row, goal_row in zip(inputs, goals,
                                                                               strict=True)]


def not_binary(rows: Sequence[Sequence[float]]) -> float | None:
    """The first value that is neither 0 nor 1 (None: the rows are 0s and 1s)."""
    return next((x for row in rows for x in row if x not in (0, 1)), None)


@dataclass(frozen=True)
class Tally:
    """A column of the table: how many examples push its weight up, down, or not at all."""

    ups: int
    downs: int
    zeros: int

    @classmethod
    def of(cls, column: Sequence[Sign]) -> Tally:
        return cls(column.count("+"), column.count("−"), column.count("0"))

    @property
    def reading(self) -> Reading:
        """The book's reading of the column."""
        if self.ups == self.downs == 0:
            return "no pressure"
        if self.ups == self.downs:
            return "conflicting"
        return "toward 1" if self.ups > self.downs else "toward 0"


def tallies(table: Sequence[Sequence[Sign]]) -> list[Tally]:
    """Each column's tally."""
    return [Tally.of(column) for column in zip(*table, strict=True)]


@dataclass(frozen=True)
class Fit:
    """The best one weight layer can do on some data (linear, least squares): its weights,
    the error they leave (summed over the rows, as a pass's error is), and whether they are
    the only weights that do so (the inputs' columns independent)."""

    weights: tuple[float, ...]
    error: float
    unique: bool

    @property
    def exact(self) -> bool:
        """Whether the data is fitted exactly (its error is 0, to rounding)."""
        return self.error < 1e-20


def least_squares(inputs: Sequence[Sequence[float]], goals: Sequence[Sequence[float]],
                  output: int = 0) -> Fit:
    """The least-squares fit of one goal column by one linear layer: what the book's
    gradient descent on a single layer approaches when it converges (a yardstick for the
    run, not a step of it)."""
    x = np.asarray(inputs, dtype=np.float64)
    y = np.asarray([row[output] for row in goals], dtype=np.float64)
    weights, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    left = y - x @ weights
    return Fit(tuple(float(w) for w in weights), float(left @ left), int(rank) == x.shape[1])


def twins(inputs: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Pairs of inputs whose columns are the same in every row: every update moves their
    weights by the same amount, so their difference never changes."""
    columns = list(zip(*inputs, strict=True))
    return [(i, j) for i in range(len(columns)) for j in range(i + 1, len(columns))
            if columns[i] == columns[j]]
