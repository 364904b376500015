"""An experiment: the data, the network, the rules by name, and how the book printed it.

An :class:`ExperimentConfig` is plain data (JSON or TOML on disk, see
``steptrace experiments --show ID``). It is checked here for everything that does
not depend on plugins (shapes, finite numbers, ranges); the rule names it uses are
checked against the loaded plugins by :func:`steptrace.plugins.registry.Registry.resolve`.
"""

from __future__ import annotations

import json
import math
import os
import string
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

import numpy as np
import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from steptrace.datafiles import DATA_FIELDS, DataFile, is_reference, read_data_file, reference_of
from steptrace.errors import ConfigError, DataFileError, control_character, printable
from steptrace.limits import MAX_EXPERIMENT_FILE, size
from steptrace.matrices import PACKED_KEY, Matrix, matrix_json_schema

#: The fields a book-view template may use, per line kind.
STEP_FIELDS = frozenset({
    "error", "prediction", "goal", "delta", "weight_delta", "weights", "new_weights",
    "epoch", "iteration", "samples",
})
EPOCH_FIELDS = frozenset({"error", "epoch", "iteration"})
#: An experiment's name: an id, and the default name of its trace file (NAME.jsonl), so a
#: plain file name: no path, no leading dot, no space or control character.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$"
#: The held-out rows' fields: left out of the config's JSON, TOML and dump when absent (not
#: written as null), so that an experiment without them is written byte for byte as before
#: they existed (every trace's header holds its config).
HELD_OUT_FIELDS = ("test_inputs", "test_goals")
#: The validation context's keys for a dataset given by reference (``{file, sha256}``):
#: the directory its path is relative to (None or absent: the current directory), and
#: what names it, for messages ("the experiment mine.toml", "the trace").
DATA_DIR, NAMED_BY = "data_dir", "data_named_by"
#: The serialization context's key that writes each field given by reference as its
#: reference (an experiment file, a trace's header); without it, a config's JSON holds the
#: numbers (a page's edit panel, ``model_dump``).
BY_REFERENCE = "data_files_by_reference"


def _data_matrix_schema() -> dict[str, Any]:
    schema = matrix_json_schema()
    schema["anyOf"].append({
        "type": "object", "additionalProperties": False, "required": ["file", "sha256"],
        "description": "by reference: a .npy, .csv or .json file, its path relative to the "
        "directory of the file that names it (or absolute), and the sha256 of its bytes",
        "properties": {"file": {"type": "string"},
                       "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}})
    return schema


#: A matrix an experiment may also give by reference (:mod:`steptrace.datafiles`).
DataMatrix = Annotated[Matrix, WithJsonSchema(_data_matrix_schema())]
#: What a nonlinearity's option may be in an experiment file (checked against what the
#: nonlinearity declares when the config's rules are looked up).
OptionValue = bool | int | float | str


def option_text(value: object) -> str:
    """An option's value as a narration or a message writes it: ``0.2``, ``true``, ``"x"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def nonlinearity_label(name: str, options: Mapping[str, Any]) -> str:
    """A layer's nonlinearity as the narration names it: ``relu``, or with the options the
    config gives, ``leaky_relu(slope 0.2)``."""
    if not options:
        return name
    return f"{name}({', '.join(f'{key} {option_text(value)}' for key, value in options.items())})"


def _split_nonlinearities(entries: Sequence[Any]) -> tuple[list[Any], tuple[dict[str, Any], ...]]:
    """``["relu", {name = "leaky_relu", slope = 0.2}]`` as the names and each layer's options
    (``{}`` for a bare name); ValueError, in one line naming the layer, for a table that is
    not a name with options of plain values. Entries neither a string nor a table are left
    for the field's own check."""
    names: list[Any] = []
    options: list[dict[str, Any]] = []
    for k, entry in enumerate(entries):
        where = f"nonlinearities[{k}] (layer_{k + 1}'s)"
        if not isinstance(entry, Mapping):
            names.append(entry)
            options.append({})
            continue
        name = entry.get("name")
        if not isinstance(name, str):
            raise ValueError(f"{where}: a table needs the nonlinearity's name: "
                             "{name = \"leaky_relu\", slope = 0.2}")
        given = {}
        for key, value in entry.items():
            if key == "name":
                continue
            if not isinstance(key, str) or not key or control_character(key) is not None:
                raise ValueError(f"{where}: an option's name must be printable text, "
                                 f"not {key!r:.40}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{where}: option {key} is {value}: it must be finite")
            if isinstance(value, str) and control_character(value) is not None:
                raise ValueError(f"{where}: option {key} holds a control character")
            if not isinstance(value, OptionValue):
                raise ValueError(f"{where}: option {key} must be a number, true/false or a "
                                 f"string, not {type(value).__name__}")
            given[key] = value
        names.append(name)
        options.append(given)
    return names, tuple(options)


def _template_fields(template: str) -> set[str]:
    """The field names of a ``str.format`` template; only bare names are allowed
    (no ``!r`` conversion, no ``:.3f`` format spec: the book printed plain ``str``)."""
    names = set()
    for _, field_name, format_spec, conversion in string.Formatter().parse(template):
        if field_name is None:
            continue
        if not field_name.isidentifier() or format_spec or conversion:
            field = field_name + (f"!{conversion}" if conversion else "") + (
                f":{format_spec}" if format_spec else "")
            raise ValueError(f"template field {{{field}}} must be a plain name, e.g. {{error}}")
        names.add(field_name)
    return names


class BookView(BaseModel):
    """How the book's program printed this run, as ``str.format`` templates.

    ``step`` is printed after each step (each sample, under ``stochastic``) with
    ``{prediction}``, ``{error}``, ``{goal}``, ``{delta}`` (the output layer's),
    ``{weight_delta}``, ``{weights}`` (before the step's update), ``{new_weights}``
    (after it), ``{epoch}`` (from 0), ``{iteration}`` (from 1) and ``{samples}``; the
    weights are the output layer's. ``epoch`` is printed at the end of every
    ``every``-th pass (the book's ``if iteration % every == every - 1``) with
    ``{error}`` (the pass's summed error), ``{epoch}`` and ``{iteration}``.

    ``numbers`` says how values print: ``python`` as the book's plain Python did (a
    number as ``str(float)``, a vector as a list ``[a, b]``, a matrix as a list of
    rows; a frozen weight's delta as the integer ``0`` the book assigned); ``numpy``
    as ``str`` of a numpy array (``[0.2135 0.145  0.5065]``); ``ipython-numpy-1.13`` as
    IPython displayed a list of numpy floats under numpy < 1.14 (17-digit reprs,
    pretty-printed). ``weights_layout``: ``inputs x outputs`` is the book's numpy
    layout (``weights_0_1[input][output]``, steptrace's own); ``outputs x inputs`` its
    plain-Python layout of chapters 3 and 5 (one row per output).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str | None = Field(default=None, description="a line printed after every update "
                             "step: \"Error:{error} Prediction:{prediction}\"")
    epoch: str | None = Field(default=None, description="a line printed at the end of every "
                              "every-th pass: \"Error:{error}\"")
    every: StrictInt = Field(default=1, ge=1, description="epoch's line every this many passes")
    numbers: Literal["python", "numpy", "ipython-numpy-1.13"] = Field(
        default="python", description="how values print: as plain Python, numpy, or IPython "
        "under numpy < 1.14 did")
    weights_layout: Literal["inputs x outputs", "outputs x inputs"] = Field(
        default="inputs x outputs", description="how {weights} print: numpy's layout or the "
        "plain-Python one of chapters 3 and 5")

    @field_validator("step")
    @classmethod
    def _check_step(cls, template: str | None) -> str | None:
        printable(template)
        if template is not None and (bad := _template_fields(template) - STEP_FIELDS):
            raise ValueError(f"unknown field(s) {sorted(bad)}; use {sorted(STEP_FIELDS)}")
        return template

    @field_validator("epoch")
    @classmethod
    def _check_epoch(cls, template: str | None) -> str | None:
        printable(template)
        if template is not None and (bad := _template_fields(template) - EPOCH_FIELDS):
            raise ValueError(f"unknown field(s) {sorted(bad)}; use {sorted(EPOCH_FIELDS)}")
        return template


class StrategySpec(BaseModel):
    """A strategy by name, plus its options (``[strategy] name = "minibatch"  batch_size = 2``)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    name: str = Field(description="a registered strategy (its options sit beside it)")

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        printable(name)
        return name

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ExperimentConfig(BaseModel):
    """Everything needed to re-run an experiment exactly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="an id, and its trace's default file "
                      "name: letters, digits, _ . + - (no path), at most 100")
    title: str = Field(default="", description="one line for listings and page titles")
    source: str = Field(default="", description="where in the book (or elsewhere) it is from")

    @field_validator("title", "source")
    @classmethod
    def _check_text(cls, text: str) -> str:
        printable(text)
        return text
    layers: tuple[StrictInt, ...] = Field(
        description="layer sizes, input first: [3, 4, 1] is 3 inputs, 4 hidden, 1 output"
    )
    nonlinearities: tuple[str, ...] = Field(
        description="one per weight layer: its name, or a table of its name and options: "
        "[\"relu\", {name = \"leaky_relu\", slope = 0.2}] (a bare name: the defaults); read "
        "from Python, the names (the options: nonlinearity_options)")
    #: each layer's nonlinearity's options as the config gives them: () when none gives any
    #: (read them through :attr:`nonlinearity_options`). Written back inside
    #: ``nonlinearities``, so a config without options is written as it always was.
    _nonlinearity_options: tuple[dict[str, Any], ...] = PrivateAttr(default=())

    @field_validator("nonlinearities")
    @classmethod
    def _check_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            printable(name)
        return names
    weights: tuple[Matrix, ...] | None = Field(
        default=None, description="initial weights_0_1, weights_1_2, ... (or give seed)"
    )
    seed: StrictInt | None = Field(
        default=None, ge=0, le=2**32 - 1,  # numpy's RandomState accepts no more
        description="np.random.seed(seed), then 2*random(shape)-1 per layer",
    )
    alpha: StrictFloat = Field(ge=0, allow_inf_nan=False, description="the learning rate")
    iterations: StrictInt = Field(ge=1, description="passes over the data")
    train: bool = Field(
        default=True, description="false: forward passes only (and errors, if goals are given)"
    )
    frozen: tuple[tuple[StrictInt, StrictInt, StrictInt], ...] = Field(
        default=(), description="[k, i, j]: weights_k_{k+1}[i][j] never moves (its delta is 0)"
    )
    strategy: StrategySpec = Field(default=StrategySpec(name="stochastic"),
                                   description="which samples make each update: name and options")
    arithmetic: Literal["exact", "blas"] = Field(
        default="exact", description="exact: the same bits on every machine; blas: np.dot's")
    delta: Literal["prediction - goal", "goal - prediction"] = Field(
        default="prediction - goal",
        description="the book's descent form (weights -= ...) or its ascent form (weights += ...)",
    )
    input_name: str = Field(default="inputs", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                            description="the dataset's name in the narration: streetlights")
    goal_name: str = Field(default="goals", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                           description="the goals' name in the narration: walk_vs_stop")
    inputs: DataMatrix = Field(description="the dataset: one row per sample (or a data file: "
                               "{file = \"inputs.npy\", sha256 = \"...\"})")
    goals: DataMatrix | None = Field(default=None, description="one row per input row")
    test_inputs: DataMatrix | None = Field(
        default=None, description="held-out rows, never trained on: after every pass the "
        "network is run forward on them and their error recorded (the pass's test_error)")
    test_goals: DataMatrix | None = Field(
        default=None, description="one goal row per test_inputs row (give both or neither)")
    book_view: BookView = Field(default=BookView(epoch="Error:{error}"),
                                description="what the book's program printed, for show --view book")
    #: the fields given by reference (a data file and its sha256), by name: their numbers
    #: are the fields' values as usual; written back as the references where asked
    #: (:data:`BY_REFERENCE`: an experiment file, a trace's header).
    _data_files: dict[str, DataFile] = PrivateAttr(default_factory=dict)

    def _repr_html_(self) -> str:
        """Jupyter: the experiment as a table of its network and settings."""
        import html

        def row(name: str, value: object) -> str:
            return f"<tr><th style='text-align:left'>{name}</th><td>{html.escape(str(value))}</td></tr>"

        goals = "none (forward passes only)" if self.goals is None else f"{len(self.goals)} rows"
        rows = [row("experiment", f"{self.name}: {self.title}"), row("source", self.source),
                row("layers", " → ".join(map(str, self.layers))),
                row("nonlinearities", ", ".join(self.nonlinearity_label(k) for k in
                                                  range(1, len(self.nonlinearities) + 1))),
                row("strategy", " ".join([self.strategy.name, *(
                    f"{k}={v}" for k, v in self.strategy.options.items())])),
                row("alpha", self.alpha), row("iterations", self.iterations),
                row("arithmetic", self.arithmetic),
                row("weights", "given" if self.weights is not None else f"drawn with seed {self.seed}"),
                row(self.input_name, f"{len(self.inputs)} rows of {self.layers[0]}"
                    + self._from_file("inputs")),
                row(self.goal_name, goals + self._from_file("goals"))]
        if self.test_inputs is not None:
            rows.append(row("held-out rows", f"{len(self.test_inputs)} (test_inputs, test_goals)"))
        if self.frozen:
            rows.append(row("frozen", ", ".join(f"weights_{k}_{k + 1}[{i}][{j}]"
                                                for k, i, j in self.frozen)))
        return f"<table>{''.join(rows)}</table>"

    def _from_file(self, name: str) -> str:
        found = self._data_files.get(name)
        return "" if found is None else f" (from {found.file}, sha256 {found.sha256[:12]}…)"

    @property
    def data_files(self) -> dict[str, DataFile]:
        """The fields given by reference, by name (empty: the config holds all its numbers)."""
        return dict(self._data_files)

    def data_files_named_from(self, directory: Path | None) -> Self:
        """This config, its data files named from ``directory`` (a trace's: relative to it,
        or absolute if given so; None, a trace in memory: the current directory), as a trace
        written there records them. The numbers are the same."""
        if not self._data_files:
            return self
        copy = self.model_copy()
        copy._data_files = {name: found.named_from(directory)
                            for name, found in self._data_files.items()}
        return copy

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (pydantic's); a data field given a new value in ``update`` is no longer
        the file's."""
        copy = super().model_copy(update=update, deep=deep)
        if update and self._data_files and set(update) & set(self._data_files):
            copy._data_files = {name: found for name, found in self._data_files.items()
                                if name not in update}
        return copy

    @model_validator(mode="wrap")
    @classmethod
    def _take_nonlinearity_options(
        cls, data: Any, handler: ModelWrapValidatorHandler[ExperimentConfig]
    ) -> ExperimentConfig:
        """A layer's nonlinearity given as a table (its name and options): the name to the
        ``nonlinearities`` field, the options kept beside it."""
        options: tuple[dict[str, Any], ...] = ()
        entries = data.get("nonlinearities") if isinstance(data, dict) else None
        if isinstance(entries, list | tuple) and any(isinstance(e, Mapping) for e in entries):
            names, options = _split_nonlinearities(entries)
            data = {**data, "nonlinearities": names}
        config = handler(data)
        if any(options):
            config._nonlinearity_options = options
        return config

    @model_validator(mode="wrap")
    @classmethod
    def _read_data_files(cls, data: Any, handler: ModelWrapValidatorHandler[Any],
                         info: ValidationInfo) -> Any:  # (typed loosely: mypy's overloads)
        """Each matrix field given by reference (``{file, sha256}``): the file read, its hash
        checked and its rows put in the field's place (DataFileError, one line, if it cannot
        be); the reference kept beside them (:attr:`data_files`)."""
        found: dict[str, DataFile] = {}
        if isinstance(data, dict) and any(is_reference(data.get(name)) for name in DATA_FIELDS):
            context = info.context if isinstance(info.context, dict) else {}
            directory, named_by = context.get(DATA_DIR), context.get(NAMED_BY, "the experiment")
            data = dict(data)
            for name in DATA_FIELDS:
                if is_reference(data.get(name)):
                    found[name] = reference_of(name, data[name], directory)
                    data[name] = Matrix._of(read_data_file(name, found[name], named_by))
        config = handler(data)
        if found:
            config._data_files = found
        return config

    @property
    def nonlinearity_options(self) -> tuple[dict[str, Any], ...]:
        """Each layer's nonlinearity's options as the config gives them (``{}``: a bare
        name, the defaults), layer_1's first; checked against what each nonlinearity
        declares when the config's rules are looked up."""
        if self._nonlinearity_options:
            return tuple(dict(options) for options in self._nonlinearity_options)
        return tuple({} for _ in self.nonlinearities)

    def nonlinearity_label(self, k: int) -> str:
        """Layer k's nonlinearity (from 1) as the narration names it: ``leaky_relu(slope 0.2)``."""
        return nonlinearity_label(self.nonlinearities[k - 1], self.nonlinearity_options[k - 1])

    @model_serializer(mode="wrap")
    def _leave_out_absent_held_out_rows(self, handler: SerializerFunctionWrapHandler,
                                        info: SerializationInfo) -> Any:
        """The config's fields, without ``test_inputs`` and ``test_goals`` when absent, and
        each nonlinearity given options written as the table it was given as; each field
        given by reference written as its reference, in its place, when the context asks
        (:data:`BY_REFERENCE`; :func:`by_reference` leaves the numbers unwritten)."""
        data = handler(self)
        if isinstance(data, dict) and self._data_files and isinstance(info.context, dict) \
                and info.context.get(BY_REFERENCE):
            data = {name: self._data_files[name].reference() if name in self._data_files
                    else data[name] for name in type(self).model_fields
                    if name in data or name in self._data_files}
        if isinstance(data, dict):
            for name in HELD_OUT_FIELDS:
                if name in data and data[name] is None:
                    del data[name]
            if self._nonlinearity_options and "nonlinearities" in data:
                written = [{"name": name, **options} if options else name for name, options
                           in zip(self.nonlinearities, self._nonlinearity_options, strict=True)]
                data["nonlinearities"] = (tuple(written) if isinstance(data["nonlinearities"], tuple)
                                          else written)
        return data

    @property
    def held_out(self) -> bool:
        """Whether the experiment has held-out rows (``test_inputs``, ``test_goals``)."""
        return self.test_inputs is not None

    @property
    def ascent(self) -> bool:
        """The book's ascent form: ``delta = goal - prediction`` and ``weights +=``."""
        return self.delta == "goal - prediction"

    @model_validator(mode="after")
    def _check_shapes(self) -> ExperimentConfig:
        layers = self.layers
        if len(layers) < 2:
            raise ValueError("layers needs at least an input and an output size, e.g. [3, 1]")
        if any(size < 1 for size in layers):
            raise ValueError(f"layers {list(layers)}: every size must be at least 1")
        if len(self.nonlinearities) != len(layers) - 1:
            raise ValueError(
                f"nonlinearities has {len(self.nonlinearities)} name(s); layers {list(layers)} "
                f"has {len(layers) - 1} weight layer(s): give one per weight layer"
            )
        _check_matrix("inputs", self.inputs, None, layers[0])
        if self.goals is not None:
            _check_matrix("goals", self.goals, len(self.inputs), layers[-1])
        elif self.train:
            raise ValueError("goals are missing: training needs one goal row per input row "
                             "(or set train = false for forward passes only)")
        if self.test_inputs is not None and self.test_goals is None:
            raise ValueError("test_goals are missing: the held-out rows test_inputs need one "
                             "goal row each (or leave test_inputs out)")
        if self.test_goals is not None and self.test_inputs is None:
            raise ValueError("test_inputs are missing: test_goals are the goals of held-out "
                             "rows, one per test_inputs row (or leave test_goals out)")
        if self.test_inputs is not None and self.test_goals is not None:
            _check_matrix("test_inputs", self.test_inputs, None, layers[0])
            _check_matrix("test_goals", self.test_goals, len(self.test_inputs), layers[-1])
        for k, i, j in self.frozen:
            if not (0 <= k < len(layers) - 1 and 0 <= i < layers[k] and 0 <= j < layers[k + 1]):
                raise ValueError(f"frozen weight [{k}, {i}, {j}] is not in the network {list(layers)}")
        if (self.weights is None) == (self.seed is None):
            raise ValueError("give exactly one of 'weights' (explicit) and 'seed' (drawn)")
        if self.weights is not None:
            check_weights("weights", self.weights, layers)
        return self


def check_weights(
    field: str, weights: tuple[Matrix, ...], layers: tuple[int, ...], label: str = ""
) -> None:
    """One matrix per weight layer, each of the shape its two layers give."""
    if len(weights) != len(layers) - 1:
        raise ValueError(f"{field} has {len(weights)} matri(ces); layers {list(layers)} "
                         f"need {len(layers) - 1}")
    for k, matrix in enumerate(weights):
        _check_matrix(f"{label}weights_{k}_{k + 1}", matrix, layers[k], layers[k + 1])


def _check_matrix(name: str, matrix: Matrix, rows: int | None, cols: int) -> None:
    n_rows, n_cols = matrix.shape  # rectangular: Matrix checks that
    if n_rows == 0:
        raise ValueError(f"{name} is empty: give at least one row")
    if rows is not None and n_rows != rows:
        raise ValueError(f"{name} has {n_rows} row(s), expected {rows}")
    if n_cols != cols:
        raise ValueError(f"{name}[0] has {n_cols} value(s), expected {cols}")
    finite = np.isfinite(matrix.array)
    if not finite.all():
        r, c = (int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{name}[{r}][{c}] is {matrix.array[r, c]}: data must be finite")


def describe(error: ValidationError) -> str:
    """One line for a pydantic ValidationError: the first problem and where it is."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    text = f"{where}: {message}" if where else message
    if "input" in first and first["type"] not in {"value_error", "missing"} and where:
        text += f" (got {first['input']!r:.60})"
    more = error.error_count() - 1
    return text + (f" (and {more} more problem(s))" if more else "")


def parse_config(data: Any, source: str, directory: Path | None = None) -> ExperimentConfig:
    """Validate already-parsed data as a config; ``source`` names it in errors; a data file
    it gives by reference is relative to ``directory`` (None: the current directory)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: an experiment must be a table/object, not {type(data).__name__}")
    try:
        return ExperimentConfig.model_validate(
            data, context={DATA_DIR: directory, NAMED_BY: source})
    except ValidationError as error:
        raise ConfigError(f"{source}: {describe(error)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be an experiment") from None
    except DataFileError as error:
        raise DataFileError(f"{source}: {error}") from None


C = TypeVar("C", bound=ExperimentConfig)


def by_reference(config: ExperimentConfig) -> dict[str, Any]:
    """The serializer's arguments that write ``config``'s data files as their references
    (the numbers are not written at all): ``config.model_dump_json(**by_reference(config))``."""
    return {"context": {BY_REFERENCE: True},
            "exclude": set(config.data_files) if config.data_files else None}


def keeping_data_files(config: C, source: ExperimentConfig) -> C:
    """``config``, validated from ``source``'s numbers (``model_dump()``), with
    ``source``'s data files kept: the same numbers, read from the same files."""
    if source.data_files:
        config._data_files = source.data_files
    return config


def load_config(path: Path) -> ExperimentConfig:
    """Read an experiment file: ``.toml`` as TOML, anything else as JSON; refused beyond
    ``MAX_EXPERIMENT_FILE`` bytes (before reading more than that)."""
    try:
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_size > MAX_EXPERIMENT_FILE:  # (a device says 0)
                raise ConfigError(f"{path}: larger than {size(MAX_EXPERIMENT_FILE)}, the most "
                                  "an experiment file may be (is this an experiment?)")
            raw = file.read(MAX_EXPERIMENT_FILE + 1)
        text = raw.decode("utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not an experiment file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected TOML or JSON)") from None
    if len(raw) > MAX_EXPERIMENT_FILE:
        raise ConfigError(f"{path}: larger than {size(MAX_EXPERIMENT_FILE)}, the most an "
                          "experiment file may be (is this an experiment?)")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else _parse_json(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path}:{error.lineno}: not valid JSON: {error.msg} (name TOML files *.toml)"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be an experiment") from None
    return parse_config(data, str(path), path.parent)


def _parse_json(text: str) -> Any:
    try:
        return pydantic_core.from_json(text)  # Rust: 3x faster on a file holding a large dataset
    except ValueError:
        return json.loads(text)  # raises, saying where and what was expected


def dump_json(config: ExperimentConfig) -> str:
    """The config as indented JSON."""
    return config.model_dump_json(indent=2, exclude_defaults=False, **by_reference(config)) + "\n"


def dump_toml(config: ExperimentConfig, notes: Mapping[str, Sequence[str]] | None = None) -> str:
    """The config as TOML, in the order a reader wants: the network, then the data;
    ``notes`` are comment lines to write at the end of a table, or after a value (by the
    table's or the value's name)."""
    data = config.model_dump(mode="json", **by_reference(config))

    def is_table(value: Any) -> bool:  # a packed matrix, a data file: a value (an inline table)
        return isinstance(value, dict) and PACKED_KEY not in value and not is_reference(value)

    scalars = {k: v for k, v in data.items() if not is_table(v) and v is not None}
    tables = {k: v for k, v in data.items() if is_table(v)}
    lines = [line for key, value in scalars.items() for line in (
        f"{key} = {_toml_value(value)}", *(f"# {note}" for note in (notes or {}).get(key, ())))]
    for key, table in tables.items():
        lines += ["", f"[{key}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
        lines += [f"# {note}" for note in (notes or {}).get(key, ())]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        if value and isinstance(value[0], list | dict):
            inner = ",\n".join("  " + _toml_value(item) for item in value)
            return "[\n" + inner + ",\n]"
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):  # a packed matrix (steptrace.matrices), as an inline table
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
