"""Whether an event line can be one of its trace's: the full check of an event against
the header's network (:func:`consistency_problem`, every reader's, replay's too), the
fast check worked out from it once per config and batch size (:class:`FastCheck`), by
which the reader takes most lines in Rust, and the step check (:meth:`FastCheck.step_check`),
which checks a line a view does not need without making its event. The fast checks vouch
only for what the full one takes, as the same event; anything else they leave to the full
check, which says what is wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, cast

import msgspec
from pydantic import BaseModel
from pydantic_core import SchemaValidator, core_schema

from steptrace.config import ExperimentConfig
from steptrace.trace.events import (
    EVENT_CLASSES,
    DeltaEvent,
    EpochEndEvent,
    ErrorEvent,
    Event,
    ForwardEvent,
    UpdateEvent,
    build,
)


def consistency_problem(event: Event, config: ExperimentConfig) -> str | None:
    """What makes a well-formed event impossible for the header's network, if anything:
    its epoch, samples and layer must exist, its matrices must have their shapes, and a
    pass's end holds a held-out error exactly when the config has held-out rows."""
    layers, last = config.layers, len(config.layers) - 1
    if event.epoch >= config.iterations:
        return f"epoch {event.epoch}, but the config runs {config.iterations} epoch(s)"
    if not event.samples or not all(0 <= i < len(config.inputs) for i in event.samples):
        return f"samples {list(event.samples)} are not samples of the {len(config.inputs)} inputs"
    if not 1 <= event.layer <= last:
        return f"layer {event.layer}: the network has layers 1 to {last}"
    k, rows = event.layer, len(event.samples)
    if isinstance(event, ForwardEvent | DeltaEvent) and event.nonlinearity != config.nonlinearities[k - 1]:
        return (f"{event.kind} of layer {k} by nonlinearity {event.nonlinearity!r:.60}; the config's "
                f"is {config.nonlinearities[k - 1]!r}")
    if isinstance(event, UpdateEvent) and event.alpha != config.alpha:
        return f"update with alpha {event.alpha!r}; the config's is {config.alpha!r}"
    if isinstance(event, ErrorEvent | EpochEndEvent) and k != last:
        return f"{event.kind} of layer {k}: it belongs to the output layer, {last}"
    if isinstance(event, EpochEndEvent) and (event.test_error is None) == config.held_out:
        return ("epoch_end without a held-out error (test_error), though the config has "
                "held-out rows (test_inputs)" if config.held_out else
                "epoch_end with a held-out error (test_error), though the config has no "
                "held-out rows (test_inputs)")
    shapes: dict[str, tuple[int, int]] = {}
    if isinstance(event, ForwardEvent):
        shapes = {"layer_in": (rows, layers[k - 1]), "weighted_sum": (rows, layers[k]),
                  "layer_out": (rows, layers[k])}
    elif isinstance(event, ErrorEvent):
        shapes = {"prediction": (rows, layers[last]), "goal": (rows, layers[last])}
    elif isinstance(event, DeltaEvent):
        shapes = {"derivative": (rows, layers[k]), "delta": (rows, layers[k])}
    elif isinstance(event, UpdateEvent):
        shapes = {"weight_delta": (layers[k - 1], layers[k]), "weights": (layers[k - 1], layers[k])}
    for name, (n_rows, n_cols) in shapes.items():
        matrix = getattr(event, name)
        if matrix is None:  # left out of a step-detail trace
            continue
        if len(matrix) != n_rows or any(len(row) != n_cols for row in matrix):
            return (f"{event.kind} {name} is not {n_rows}×{n_cols} for layer {k} of the network "
                    f"{list(layers)}")
    return None


class FastCheck:
    """The checks of an event line, worked out once per config and batch size: a
    pydantic-core schema without Python callbacks, by which the line is parsed, validated
    and made the event, all in Rust. It holds what :func:`consistency_problem` works out
    for every event, for each kind and layer: the config's epochs, samples, layers,
    nonlinearities and alpha, and every matrix's shape (strict numbers, no extra fields,
    as the event models check).

    It vouches only for lines that the full check (``_decode_line`` and
    :func:`consistency_problem`) takes, as the same event; for any other line it says
    nothing (None) and the full check reads it, and says what is wrong as it always did.
    The end line, a NaN or an infinity (a string in JSON; a number past a float's range),
    a packed matrix, an update by a learning rule, the first step of another batch size go
    the full check's way: they are rare."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.validators: dict[int, Callable[[bytes], Event]] = {}
        self.rows = 1  # the batch size of the latest step (the next one's, most likely)
        self.step_checks: dict[tuple[str, int, tuple[int, ...]], Callable[[bytes], StepLine]] = {}
        self.validate = self.validator(1)

    def validator(self, rows: int) -> Callable[[bytes], Event]:
        """The validator of events of batches of ``rows`` samples (and of every pass's end)."""
        found = self.validators.get(rows)
        if found is None:
            found = _validator(self.config, rows).validate_json
            if len(self.validators) < 64:  # (the batch sizes a run has, not every one made up)
                self.validators[rows] = found
        return found

    def event(self, raw: bytes, seq: int) -> Event | None:
        """The event ``raw`` holds, if it is a valid one with seq ``seq``; None if the
        full check must read it."""
        try:
            event = self.validate(raw)
        except ValueError:  # (pydantic's ValidationError is one)
            return None
        return event if event.seq == seq else None

    def step_check(self, kind: str, layer: int, samples: tuple[int, ...]) -> Callable[[bytes], StepLine]:
        """The check of a line that must be the step ``kind`` of ``layer`` for ``samples``
        (as the pass the reader holds its passes to had it), without making its event:
        msgspec decodes the line straight into a :class:`StepLine` (the reader compares
        its ``seq`` and ``epoch``), in C. It raises
        :data:`NotVouched` for a line it does not take, which then goes the fast check's
        way. What it takes, the fast check takes as the same step (a subset: no ``null``
        for a left-out matrix, no 1e400, no string for a number; ``tests/test_consistency.py``
        holds it to the fast check on mutated lines); the epoch_end of a pass is never
        checked this way (the order checks it, as an event)."""
        key = (kind, layer, samples)
        found = self.step_checks.get(key)
        if found is None:
            found = msgspec.json.Decoder(_step_struct(self.config, kind, layer, samples)).decode
            if len(self.step_checks) < 256:  # (the steps of a pass, not every one made up)
                self.step_checks[key] = found
        return found

    def learn(self, event: Event) -> None:
        """The full check took ``event``: expect its batch size from now on."""
        if event.kind != "epoch_end" and len(event.samples) != self.rows:
            self.rows = len(event.samples)
            self.validate = self.validator(self.rows)


#: What a step check raises for a line it does not vouch for (msgspec's decoding error).
NotVouched = msgspec.DecodeError


class StepLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A line its step check took: the step's fields, as its event has them (numbers as
    nested tuples of floats; a left-out matrix None), made by msgspec without a pydantic
    model. A reader of fields (:meth:`NetworkState.weights_after
    <steptrace.trace.state.NetworkState.weights_after>`) takes it as it takes the event;
    :meth:`event` makes the event."""

    seq: int
    epoch: int
    kind: str
    layer: int
    samples: tuple[int, ...]

    def event(self) -> Event:
        """The step as its event: what the fast check makes of the line (valid by
        construction: the step check takes only what the fast check takes)."""
        fields = {name: value for name in self.__struct_fields__
                  if (value := getattr(self, name)) is not None}
        return cast("Event", build(EVENT_CLASSES[self.kind], fields))


def _step_struct(config: ExperimentConfig, kind: str, k: int,
                 samples: tuple[int, ...]) -> type[StepLine]:
    """The struct of a line of step ``kind`` of layer ``k`` for ``samples``: what
    :func:`_validator` checks of such a line, in msgspec's types (``kind``, ``layer``,
    ``samples`` and the nonlinearity fixed, each matrix of its shape of strict numbers, the
    config's alpha, no other field). A left-out matrix may be absent (None), not ``null``."""
    layers, last, rows = config.layers, len(config.layers) - 1, len(samples)

    def matrix(n_rows: int, n_cols: int) -> Any:
        row = Annotated[tuple[float, ...], msgspec.Meta(min_length=n_cols, max_length=n_cols)]
        return Annotated[tuple[row, ...], msgspec.Meta(min_length=n_rows, max_length=n_rows)]

    def left_out(name: str, n_rows: int, n_cols: int) -> tuple[str, Any, None]:
        return (name, matrix(n_rows, n_cols), None)  # (None when absent; null is refused)

    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        ("epoch", Annotated[int, msgspec.Meta(ge=0, lt=config.iterations)]),  # (the config's)
        ("samples", tuple[tuple(Literal[i] for i in samples)]),  # type: ignore[misc]
        ("layer", Literal[k]),
        ("kind", Literal[kind]),
    ]
    nonlinearity = ("nonlinearity", Literal[config.nonlinearities[k - 1]])
    if kind == "forward":
        fields += [nonlinearity, ("weighted_sum", matrix(rows, layers[k])),
                   ("layer_out", matrix(rows, layers[k])), left_out("layer_in", rows, layers[k - 1])]
    elif kind == "error" and k == last:
        fields += [("error", float), left_out("prediction", rows, layers[last]),
                   left_out("goal", rows, layers[last])]
    elif kind == "delta":
        fields += [nonlinearity, ("derivative", matrix(rows, layers[k])),
                   ("delta", matrix(rows, layers[k]))]
    elif kind == "update":
        fields += [("alpha", Annotated[float, msgspec.Meta(ge=config.alpha, le=config.alpha)]),
                   left_out("weight_delta", layers[k - 1], layers[k]),
                   left_out("weights", layers[k - 1], layers[k]),
                   ("rule", None, None), ("details", None, None)]
    else:
        raise ValueError(f"no step check of a {kind} of layer {k}")
    return cast("type[StepLine]", msgspec.defstruct(
        f"{kind}_{k}", fields, bases=(StepLine,), kw_only=True, forbid_unknown_fields=True,
        gc=False))


@contextmanager
def _unbuilt(classes: Iterable[type[BaseModel]]) -> Iterator[None]:
    """While a validator is built: ``classes`` look not yet built to pydantic-core.

    For a ``model_schema`` of a class whose own validator is built (a ``__pydantic_complete__``
    in the class's ``__dict__``), pydantic-core takes that validator instead of the schema
    it is given (its "prebuilt" validators): :func:`_validator`'s checks of the config
    would silently be the event model's alone. ``tests/test_state.py`` builds the models
    first and holds the fast check to the full one."""
    hidden = [cls for cls in classes if cls.__dict__.get("__pydantic_complete__")]
    for cls in hidden:
        cls.__pydantic_complete__ = False
    try:
        yield
    finally:
        for cls in hidden:
            cls.__pydantic_complete__ = True


def _validator(config: ExperimentConfig, batch: int) -> SchemaValidator:
    """A validator of the event lines of ``config``'s trace, whose steps are of ``batch``
    samples, without Python callbacks (see :class:`FastCheck`): every line it takes,
    pydantic's models and :func:`consistency_problem` take too, as the same event; the
    rest (the end line too) it refuses."""
    layers, last = config.layers, len(config.layers) - 1
    # (an int is taken, as a float: as pydantic does; not one past a float's range, nor
    # 1e400: the full check says what an overflowing number is, the models refusing an int
    # too large for a float)
    number = core_schema.float_schema(strict=True, allow_inf_nan=False)

    def rows(n_rows: int, n_cols: int) -> core_schema.CoreSchema:
        row = core_schema.tuple_schema([number], variadic_item_index=0, min_length=n_cols,
                                       max_length=n_cols)
        return core_schema.tuple_schema([row], variadic_item_index=0, min_length=n_rows,
                                        max_length=n_rows)

    def field(schema: core_schema.CoreSchema) -> core_schema.ModelField:
        return core_schema.model_field(schema)

    def optional(schema: core_schema.CoreSchema) -> core_schema.ModelField:
        return core_schema.model_field(core_schema.with_default_schema(schema, default=None))

    def model(kind: str, k: int, **fields: core_schema.ModelField) -> core_schema.CoreSchema:
        samples = core_schema.int_schema(strict=True, ge=0, lt=len(config.inputs))
        base = {
            "seq": field(core_schema.int_schema(strict=True, ge=0)),
            "epoch": field(core_schema.int_schema(strict=True, ge=0, lt=config.iterations)),
            "samples": field(core_schema.tuple_schema(
                [samples], variadic_item_index=0, min_length=1 if kind == "epoch_end" else batch,
                max_length=None if kind == "epoch_end" else batch)),
            "layer": field(core_schema.int_schema(strict=True, ge=k, le=k)),  # (not 1.0, true)
            "kind": core_schema.model_field(core_schema.with_default_schema(
                core_schema.literal_schema([kind]), default=kind)),
        }
        return core_schema.model_schema(EVENT_CLASSES[kind], core_schema.model_fields_schema(
            {**base, **fields}, extra_behavior="forbid"))

    def by_layer(make: Callable[[int], core_schema.CoreSchema]) -> core_schema.CoreSchema:
        return core_schema.tagged_union_schema({k: make(k) for k in range(1, last + 1)},
                                               discriminator="layer")

    def nonlinearity(k: int) -> core_schema.ModelField:
        return field(core_schema.literal_schema([config.nonlinearities[k - 1]]))

    held_out = field(number) if config.held_out else optional(core_schema.none_schema())
    schema = core_schema.tagged_union_schema({
        "forward": by_layer(lambda k: model(
            "forward", k, nonlinearity=nonlinearity(k), layer_in=optional(rows(batch, layers[k - 1])),
            weighted_sum=field(rows(batch, layers[k])), layer_out=field(rows(batch, layers[k])))),
        "error": model("error", last, prediction=optional(rows(batch, layers[last])),
                       goal=optional(rows(batch, layers[last])), error=field(number)),
        "delta": by_layer(lambda k: model(
            "delta", k, nonlinearity=nonlinearity(k), derivative=field(rows(batch, layers[k])),
            delta=field(rows(batch, layers[k])))),
        "update": by_layer(lambda k: model(
            "update", k, alpha=field(core_schema.float_schema(
                strict=True, ge=config.alpha, le=config.alpha)),  # (the config's: equal)
            weight_delta=optional(rows(layers[k - 1], layers[k])),
            weights=optional(rows(layers[k - 1], layers[k])),
            rule=optional(core_schema.none_schema()),  # (a rule's update: the full check)
            details=optional(core_schema.none_schema()))),
        "epoch_end": model("epoch_end", last, error=optional(number), test_error=held_out),
    }, discriminator="kind")
    with _unbuilt(EVENT_CLASSES.values()):
        return SchemaValidator(schema)
