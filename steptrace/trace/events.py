"""The typed events of a run: one Pydantic model per kind of step.

A stochastic two-layer run yields, per sample, in the order the book computes them:
``forward`` (layer 1), ``forward`` (layer 2), ``error``, ``delta`` (layer 2),
``delta`` (layer 1), ``update`` (weights_1_2), ``update`` (weights_0_1); each pass
ends with ``epoch_end``. Under ``full`` or ``minibatch`` the same steps run once per
batch, with every sample of the batch as one row of each matrix.

Layers are numbered as the book names them: ``layer_0`` is the input,
``layer_k`` the output of ``weights_{k-1}_k``. An event's ``layer`` is the layer it
computes (forward, delta), whose error it is (error) or whose incoming weights it
changes (update). Numbers are nested float tuples, one row per sample; they compare,
hash and round-trip through JSON bit for bit. NaN and ±inf are written as the JSON
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.

A trace of ``step`` detail (the default) leaves out what earlier lines determine —
``layer_in``, an error's ``prediction`` and ``goal``, a gradient-descent update's
``weight_delta`` and every ``weights`` — and :mod:`steptrace.trace.state` puts them back
when it is read, with the same arithmetic. :mod:`steptrace.trace.emitter` makes the events
of a run from the engine's steps, at a trace's detail.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)

from steptrace.defaults import EVENT_KINDS as EVENT_KINDS
from steptrace.errors import printable
from steptrace.matrices import PACK_ABOVE, matrix_json_schema, pack, unpack


def _as_nested(value: Any) -> Any:
    """Arrays and packed matrices become nested lists of Python floats; validation then
    makes them tuples."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return unpack(value).tolist()
    return value


def _as_json(rows: tuple[tuple[float, ...], ...]) -> Any:
    """Rows of numbers, or packed when large: what the record of the event holds."""
    if sum(map(len, rows)) > PACK_ABOVE:
        return pack(np.array(rows, dtype=np.float64))
    return rows


Rows = Annotated[
    tuple[tuple[StrictFloat, ...], ...],
    BeforeValidator(_as_nested),
    PlainSerializer(_as_json, when_used="json"),
    WithJsonSchema(matrix_json_schema()),
]


class _EventBase(BaseModel):
    # Not strict=True: a strict tuple would refuse the lists the BeforeValidator passes on;
    # the numbers themselves are strict (no "1.5" strings, no booleans).
    # defer_build: the models' validators and serializers are built when first used, not on
    # import (the command line starts faster; ``--version`` never builds them).
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings",
                              defer_build=True)

    seq: StrictInt = Field(ge=0, description="position in the run, from 0, without gaps")
    epoch: StrictInt = Field(ge=0, description="the pass over the data, from 0 (the book's iteration)")
    samples: tuple[StrictInt, ...] = Field(description="indices of the samples in this step's batch")
    layer: StrictInt = Field(ge=1, description="the layer this step concerns (layer_1 is the first hidden)")


class ForwardEvent(_EventBase):
    """``layer_k = nonlinearity(layer_{k-1} · weights_{k-1}_k)``."""

    kind: Literal["forward"] = Field(default="forward", description="what step this is")
    nonlinearity: str = Field(description="the layer's nonlinearity, by name")
    layer_in: Rows | None = Field(
        default=None, description="layer_{k-1}, one row per sample (left out of step-detail "
        "traces: it is the data's rows, or the previous forward's layer_out)")
    weighted_sum: Rows = Field(description="layer_{k-1} · weights_{k-1}_k, before the nonlinearity")
    layer_out: Rows = Field(description="layer_k")


class ErrorEvent(_EventBase):
    """``error = sum((prediction - goal) ** 2)`` over the batch and the outputs."""

    kind: Literal["error"] = Field(default="error", description="what step this is")
    prediction: Rows | None = Field(
        default=None, description="the output layer (left out of step-detail traces: it is "
        "the last forward's layer_out)")
    goal: Rows | None = Field(
        default=None, description="the goal rows (left out of step-detail traces: they are "
        "in the header's data)")
    error: StrictFloat = Field(description="sum((prediction - goal) ** 2) over the batch")


class DeltaEvent(_EventBase):
    """The output layer: ``(prediction - goal) * deriv(layer)``;
    a hidden layer: ``layer_{k+1}_delta · weights_k_{k+1}ᵀ * deriv(layer_k)``.

    ``derivative`` holds ``deriv(layer_k)``, computed from the layer's output (the book's
    way), or from its weighted sum for a nonlinearity that declares
    ``derivative_of="input"`` (GELU, SiLU).
    """

    kind: Literal["delta"] = Field(default="delta", description="what step this is")
    nonlinearity: str = Field(description="the layer's nonlinearity, by name")
    derivative: Rows = Field(description="deriv(layer_k), from the layer's output (from its "
                             "weighted sum where the nonlinearity declares derivative_of="
                             "\"input\"): 0 where relu switched a node off")
    delta: Rows = Field(description="layer_k_delta, one row per sample")


class UpdateEvent(_EventBase):
    """``weights -= alpha * weight_delta`` with ``weight_delta = layer_{k-1}ᵀ · layer_k_delta``
    averaged over the batch (``+=`` in the ascent form, whose delta has the other sign).
    """

    kind: Literal["update"] = Field(default="update", description="what step this is")
    alpha: StrictFloat = Field(description="the learning rate of this update")
    weight_delta: Rows | None = Field(
        default=None, description="left out of step-detail traces when gradient descent made "
        "it: it is layer_{k-1}ᵀ · layer_k_delta, from the forward and delta events")
    weights: Rows | None = Field(
        default=None, description="weights_{k-1}_k after this update (left out of step-detail "
        "traces: the header's initial weights, minus alpha * each weight_delta)")
    rule: str | None = Field(
        default=None, description="the strategy whose own learning rule made this update "
        "(absent: the book's gradient descent)")
    details: dict[str, StrictFloat] | None = Field(
        default=None, description="the numbers that rule's decision rested on, by name")

    @field_validator("details")
    @classmethod
    def _check_names(cls, details: dict[str, float] | None) -> dict[str, float] | None:
        for name in details or ():
            printable(name)
        return details


class EpochEndEvent(_EventBase):
    """The end of a pass: ``error`` is the pass's errors summed in order (the book's
    ``layer_2_error``; absent for forward passes without goals); ``samples`` lists
    every sample of the pass. ``test_error``, when the experiment has held-out rows
    (``test_inputs``, ``test_goals``; trace schema 5 and later): their error with the
    weights at the end of the pass, learning nothing, each row's
    ``sum((prediction - goal) ** 2)`` added in order, as ``error`` adds the samples'."""

    kind: Literal["epoch_end"] = Field(default="epoch_end", description="what step this is")
    error: StrictFloat | None = Field(default=None, description="the pass's errors summed in "
                                      "order (absent without goals)")
    test_error: StrictFloat | None = Field(
        default=None, description="the held-out rows' errors summed in order, with the weights "
        "at the end of the pass (absent without held-out rows; trace schema 5 and later)")


#: each model's fields and their defaults, in order (``cls.model_fields`` is a property
#: that costs some 0.3 µs a read)
_FIELDS: dict[type[BaseModel], tuple[tuple[str, Any], ...]] = {}
E = TypeVar("E", bound=BaseModel)


def build(cls: type[E], values: dict[str, Any]) -> E:
    """An event from values that are valid by construction: what pydantic's
    ``model_construct`` does, without its per-call bookkeeping (a recording builds
    millions). Matrices must be nested tuples of floats, as validation would make them."""
    defaults = _FIELDS.get(cls)
    if defaults is None:
        defaults = _FIELDS[cls] = tuple((name, field.default)
                                        for name, field in cls.model_fields.items())
    fields = {name: values.get(name, default) for name, default in defaults}
    event = cls.__new__(cls)
    object.__setattr__(event, "__dict__", fields)
    object.__setattr__(event, "__pydantic_fields_set__", set(values))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


def tuples(rows: Any) -> Any:
    """Rows of numbers (lists, or packed) as an event holds them: nested tuples of floats."""
    if isinstance(rows, dict):  # packed (a large matrix)
        rows = unpack(rows).tolist()
    return tuple(map(tuple, rows))


def as_rows(values: np.ndarray[Any, Any]) -> tuple[tuple[float, ...], ...]:
    """A float64 array as an event's ``Rows`` (nested tuples of floats)."""
    matrix: tuple[tuple[float, ...], ...] = tuples(values.tolist())
    return matrix


def to_json(event: BaseModel) -> bytes:
    """An event as one line of JSON; fields that are absent (None) are left out."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=True)


Event = Annotated[
    ForwardEvent | ErrorEvent | DeltaEvent | UpdateEvent | EpochEndEvent,
    Field(discriminator="kind"),
]
EVENT_CLASSES: dict[str, type[_EventBase]] = {
    "forward": ForwardEvent, "error": ErrorEvent, "delta": DeltaEvent, "update": UpdateEvent,
    "epoch_end": EpochEndEvent,
}
#: The fields that hold ``Rows``.
MATRIX_FIELDS = frozenset({"layer_in", "weighted_sum", "layer_out", "prediction", "goal",
                           "derivative", "delta", "weight_delta", "weights"})
event_adapter: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(defer_build=True))
