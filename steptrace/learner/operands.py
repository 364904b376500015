"""A step's operands, found among the learner's own values just before an assignment.

What the book's rule for an assignment (:mod:`steptrace.learner.check`) and each common
mistake (:mod:`steptrace.learner.mistakes`) compute with: the layers, weights, deltas, goal
and alpha the learner had at that moment. A delta or weight_delta the learner did not
assign in this step (a cell that writes ``derivative = input * (pred - goal_pred)``, or an
update written in one line) is the book's, computed from the learner's values; so is a
hidden delta's weights: as they were when the step began (the book's rule: the weights
*before* this sample's update).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steptrace.engine import formulas
from steptrace.engine.rules import Array, Nonlinearity
from steptrace.learner.mapping import DOT, TOTAL, Key, LearnerRun, Moment, close


@dataclass
class Operands:
    """The learner's values at one moment of their run, as the book's rules take them."""

    run: LearnerRun
    moment: Moment

    @property
    def rows(self) -> int:
        return self.moment.given.rows

    @property
    def output(self) -> int:
        return self.run.output

    @property
    def goal(self) -> Array:
        goal = self.moment.given.goal
        assert goal is not None  # (mapping refuses a run with a step without one)
        return goal

    def value(self, key: Key) -> Array | None:
        return self.moment.before.get(key)

    def layer(self, k: int) -> Array | None:
        """``layer_k`` (``layer_0``: the input) as the learner has it now."""
        return self.value(("input", 0) if k == 0 else ("layer", k))

    def weights(self, k: int) -> Array | None:
        """``weights_{k-1}_k`` as the learner has it now."""
        return self.value(("weights", k))

    def weights_at_start(self, k: int) -> Array | None:
        """``weights_{k-1}_k`` as the step began: before this sample's updates."""
        return self.moment.at_start.get(k, self.weights(k))

    def assigned(self, kind: str, k: int) -> bool:
        """Whether the learner assigned this role in this step, before now."""
        return (kind, k) in self.moment.earlier

    def act(self, k: int) -> Nonlinearity:
        return self.run.nonlinearities[k - 1]

    @property
    def alpha(self) -> float:
        alpha = self.value(("alpha", 0))
        return float(alpha.reshape(())) if alpha is not None and alpha.size == 1 else self.run.alpha

    def name(self, kind: str, k: int = 0) -> str:
        return self.run.name("input" if kind == "layer" and k == 0 else kind, k)

    def layer_name(self, k: int) -> str:
        return self.name("input", 0) if k == 0 else self.name("layer", k)

    def derivative(self, k: int, of: Array) -> Array | None:
        """Layer k's nonlinearity's derivative at ``of`` (None where it is 1 everywhere)."""
        act = self.act(k)
        return None if act.derivative_is_one else act.derivative(of)

    def delta(self, k: int) -> Array | None:
        """``layer_k_delta``: the learner's from this step, or else the book's from the
        learner's values (None where there is nothing to compute it from)."""
        if not 0 < k <= self.output:  # (no layer has it)
            return None
        if self.assigned("delta", k):
            return self.value(("delta", k))
        prediction = self.layer(self.output)
        if prediction is None:
            return None
        if k == self.output:
            return self.output_delta(prediction)
        back, weights, layer = self.delta(k + 1), self.weights_at_start(k + 1), self.layer(k)
        if back is None or weights is None or layer is None:
            return None
        return formulas.hidden_delta(DOT, back, weights, self.derivative(k, layer))

    def output_delta(self, prediction: Array, goal: Array | None = None) -> Array:
        """The book's output delta from ``prediction`` (against this step's goal, or
        ``goal``), in the run's form: the ascent form's sign, chapter 8's batch mean."""
        goal = self.goal if goal is None else goal
        value = formulas.output_delta(prediction, goal, self.run.ascent,
                                      self.derivative(self.output, prediction))
        return formulas.batch_mean(value, self.rows) if self.run.delta_mean else value

    def averaged(self, product: Array) -> Array:
        """A batch's summed weight_delta, averaged over its rows (as the engine does),
        unless the run took the mean in the delta already (chapter 8)."""
        return product if self.run.delta_mean else formulas.batch_mean(product, self.rows)

    def weight_delta(self, k: int) -> Array | None:
        """What moves ``weights_{k-1}_k``: the learner's weight_delta from this step (if
        they summed it over a batch, averaged here: their update may divide later), else
        ``layer_{k-1}ᵀ · layer_k_delta``, averaged over the batch."""
        x, delta = self.layer(k - 1), self.delta(k)
        if self.assigned("weight_delta", k):
            theirs = self.value(("weight_delta", k))
            assert theirs is not None
            if self.rows > 1 and x is not None and delta is not None:
                try:
                    if not self.run.delta_mean and close(
                            theirs, formulas.summed_weight_delta(DOT, x, delta)):
                        return formulas.batch_mean(theirs, self.rows)
                except ValueError:
                    pass
            return theirs
        if x is None or delta is None:
            return None
        return self.averaged(formulas.summed_weight_delta(DOT, x, delta))

    def step_error(self) -> Array | None:
        """This step's error: the learner's, if they assigned one in this step, else
        ``sum((prediction - goal)²)`` from their prediction."""
        if self.assigned("error", self.output):
            theirs = self.value(("error", self.output))
            assert theirs is not None
            return np.array(TOTAL(theirs)) if theirs.ndim else theirs
        prediction = self.layer(self.output)
        if prediction is None:
            return None
        return np.array(formulas.error(TOTAL, prediction, self.goal))
