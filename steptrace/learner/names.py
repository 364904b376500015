"""The names the book gives its variables, and the part each plays in a step.

Chapter 6's two-layer network names its layers, deltas and weights by number —
``layer_0`` (the input), ``layer_1``, ``layer_2``, ``layer_2_delta``, ``layer_1_delta``,
``weights_0_1``, ``weights_1_2`` — for any depth here (``layer_3``, ``weights_2_3``, ...).
The one-weight-layer programs of chapters 4 to 6 say ``input``, ``prediction`` (or
``pred``), ``error``, ``delta``, ``weights`` (or ``weight``) and ``weight_delta(s)``
(``derivative`` and ``direction_and_amount`` in two of chapter 4's cells). The goal is
``goal_pred``, ``goal_prediction`` or ``true``; the data ``streetlights`` and
``walk_vs_stop``; an error summed over a pass ``layer_2_error`` or
``error_for_all_lights``. Any other name is not followed.

This module is imported by the child process that runs a learner's script
(:mod:`steptrace.learner.capture`): standard library only.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

Kind = Literal["input", "layer", "delta", "weights", "weight_delta", "error", "accumulator",
               "goal", "alpha", "inputs", "goals"]

#: ``layer`` of a role that is the output layer's, whatever the network's depth
OUTPUT = -1


class Role(NamedTuple):
    """What a name holds: its ``kind`` and the layer it belongs to (``layer_k`` is layer k;
    ``weights_{k-1}_k`` and its weight_delta belong to layer k, whose input they weigh;
    :data:`OUTPUT` for the output layer's, 0 where no layer applies)."""

    kind: Kind
    layer: int
    numbered: bool  # a chapter-6 name (layer_1, weights_0_1): the network is named by layer


_FIXED: dict[str, Role] = {
    "input": Role("input", 0, False),
    "prediction": Role("layer", OUTPUT, False),
    "pred": Role("layer", OUTPUT, False),
    "delta": Role("delta", OUTPUT, False),
    "weights": Role("weights", 1, False),
    "weight": Role("weights", 1, False),
    "weight_delta": Role("weight_delta", 1, False),
    "weight_deltas": Role("weight_delta", 1, False),
    "derivative": Role("weight_delta", 1, False),
    "direction_and_amount": Role("weight_delta", 1, False),
    "error": Role("error", OUTPUT, False),
    "error_for_all_lights": Role("accumulator", OUTPUT, False),
    "goal_pred": Role("goal", 0, False),
    "goal_prediction": Role("goal", 0, False),
    "true": Role("goal", 0, False),
    "alpha": Role("alpha", 0, False),
    "streetlights": Role("inputs", 0, False),
    "walk_vs_stop": Role("goals", 0, False),
}

_LAYER = re.compile(r"layer_(\d{1,2})")
_DELTA = re.compile(r"layer_(\d{1,2})_delta")
_ERROR = re.compile(r"layer_(\d{1,2})_error")
_WEIGHTS = re.compile(r"weights_(\d{1,2})_(\d{1,2})")
_WEIGHT_DELTA = re.compile(r"weight_deltas?_(\d{1,2})_(\d{1,2})")


def role_of(name: str) -> Role | None:
    """The role of a variable named ``name``, or None for a name the book does not use."""
    fixed = _FIXED.get(name)
    if fixed is not None:
        return fixed
    if name.startswith("layer_"):
        if found := _LAYER.fullmatch(name):
            k = int(found[1])
            return Role("input", 0, True) if k == 0 else Role("layer", k, True)
        if found := _DELTA.fullmatch(name):
            return Role("delta", int(found[1]), True) if int(found[1]) > 0 else None
        if found := _ERROR.fullmatch(name):
            return Role("accumulator", int(found[1]), True)
        return None
    if (found := _WEIGHTS.fullmatch(name)) or (found := _WEIGHT_DELTA.fullmatch(name)):
        a, b = int(found[1]), int(found[2])
        if b != a + 1:
            return None
        return Role("weights" if name.startswith("weights_") else "weight_delta", b, True)
    return None


_WATCHED: dict[str, bool] = {}


def is_watched(name: str) -> bool:
    """Whether assignments to ``name`` are recorded (cached: it runs on every traced line)."""
    found = _WATCHED.get(name)
    if found is None:
        found = _WATCHED[name] = role_of(name) is not None
    return found


#: The names looked for, as a message lists them.
LOOKED_FOR = ("layer_0, layer_1, layer_2, layer_2_delta, layer_1_delta, weights_0_1, "
              "weights_1_2, alpha, streetlights, walk_vs_stop, layer_2_error (chapter 6); "
              "input, prediction/pred, error, delta, weights/weight, weight_delta(s), "
              "goal_pred/goal_prediction/true (chapters 4-6)")
