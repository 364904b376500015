"""The lines around a trace's events: the header (line 1) and the end line (last).

A trace is JSON Lines: the :class:`Header` (format name, schema version, the complete
config, the initial weights, a :class:`Fingerprint`; in the trace of a learner's script,
what the script printed, :class:`Printed`), one event per line
(:mod:`steptrace.trace.events`), then an :class:`End` line with the event count.
A name ending in ``.gz`` is gzip-compressed. Floats are written in their shortest
round-tripping form, so they read back bit for bit; NaN and ±inf are the JSON strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``. :func:`trace_schema` is the JSON Schema of a line.
"""

from __future__ import annotations

import functools
import os
import platform
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate, pairwise
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, field_validator, model_validator

from steptrace import __version__
from steptrace.config import BY_REFERENCE, ExperimentConfig, check_weights
from steptrace.errors import MAX_MESSAGE, control_character, escaped, printable
from steptrace.limits import MAX_PRINTED
from steptrace.matrices import PACK_ABOVE, Matrix

FORMAT = "steptrace-trace"
#: How much of a run a trace holds: ``step``, every event, without what earlier lines
#: determine; ``epoch``, the passes' ends alone; ``all``, every field of every event.
#: ``full`` is ``all``'s name before trace schema 3 (the strategy ``full`` is another
#: thing): read as ``all``, and written when asked for, for steptrace versions that read
#: schemas 1 and 2 only. :mod:`steptrace.trace.emitter` makes the events of each.
Detail = Literal["step", "epoch", "all", "full"]
DETAILS: tuple[Detail, ...] = ("step", "epoch", "all")  # (full: all's old name)


def holds_passes_only(detail: Detail) -> bool:
    """Whether a trace of ``detail`` holds the passes' ends alone (no step's events)."""
    return detail == "epoch"


def holds_every_field(detail: Detail) -> bool:
    """Whether a trace of ``detail`` holds every field of its events (none derived)."""
    return detail in ("all", "full")


def largest_event_matrix(layers: Sequence[int], largest_batch: int) -> int:
    """How many numbers an event's largest matrix may hold: a batch's rows by a layer's
    width, or a weight matrix (more than PACK_ABOVE: written packed)."""
    return max(largest_batch * max(layers), *(a * b for a, b in pairwise(layers)))


#: The newest trace schema this steptrace reads and writes. 2 added packed matrices
#: (:mod:`steptrace.matrices`), in the header and in events; 3 named the detail level
#: ``all`` (``full`` before); 4 added the header's ``printed`` (:class:`Printed`: what a
#: traced script printed); 5 added held-out rows: the config's ``test_inputs`` and
#: ``test_goals``, and each ``epoch_end``'s ``test_error``; 6, data files: a config's
#: matrix given by reference, ``{"file": ..., "sha256": ...}``. A trace is written with the
#: lowest schema that can hold it (:meth:`Header.lowest_schema_version`), so older
#: steptrace versions read what they can. 6 also added checkpoints (the header's
#: ``checkpoint_every``, :class:`Checkpoint` lines, the end line's ``index``): a trace
#: that holds them can be read from any pass without reading the passes before it.
SCHEMA_VERSION = 6
OLDEST_SCHEMA_VERSION = 1
#: The schema that added :attr:`Header.printed`. A header that holds it says at least this,
#: so that a steptrace from before it says to upgrade (not that the header is damaged).
PRINTED_SCHEMA_VERSION = 4
#: The schema that added held-out rows (the config's ``test_inputs`` and ``test_goals``, the
#: ``epoch_end`` events' ``test_error``). A header whose config holds them says at least
#: this, so that a steptrace from before it says to upgrade.
HELD_OUT_SCHEMA_VERSION = 5
#: The schema that added checkpoints (:attr:`Header.checkpoint_every`, :class:`Checkpoint`,
#: :attr:`End.index`). A header that states ``checkpoint_every`` says at least this.
CHECKPOINT_SCHEMA_VERSION = 6
#: About how many events apart a trace's checkpoints are (:func:`checkpoint_every`), and
#: the most checkpoints a trace holds (a few thousand: the end line's index stays small).
CHECKPOINT_EVENTS = 1000
MAX_CHECKPOINTS = 4000
#: A run of at most this many events has no checkpoint (read whole in a tenth of a second,
#: its trace is written as before checkpoints existed).
CHECKPOINT_ABOVE = 100_000


def checkpoint_every(events_per_pass: int, iterations: int) -> int | None:
    """K, the passes from one checkpoint to the next: a checkpoint about every
    :data:`CHECKPOINT_EVENTS` events (K = ceil(1000 / events per pass), at least 1), at most
    :data:`MAX_CHECKPOINTS` of them; None when the run makes at most
    :data:`CHECKPOINT_ABOVE` events, or has no pass K (the trace holds no checkpoint: it is
    written as before checkpoints existed)."""
    if events_per_pass * iterations <= CHECKPOINT_ABOVE:
        return None
    k = max(1, -(-CHECKPOINT_EVENTS // max(events_per_pass, 1)), -(-iterations // MAX_CHECKPOINTS))
    return k if iterations > k else None
#: The schema that added data files: the config's ``inputs``, ``goals``, ``test_inputs`` or
#: ``test_goals`` given by reference (a file and its sha256, :mod:`steptrace.datafiles`)
#: instead of the numbers. A header holding one says at least this.
DATA_FILES_SCHEMA_VERSION = 6


class Printed(BaseModel):
    """What a traced script printed (its standard output, captured as it ran), line by line:
    the book view of its trace (``steptrace trace``; absent from a recorded experiment's
    trace, whose book view its config's ``book_view`` templates make). The trace keeps whole
    lines, at most :data:`~steptrace.limits.MAX_PRINTED` characters with their newlines
    (:meth:`of`); ``left_out`` counts the lines the script printed after those. Each control
    character the script printed (ESC, a carriage return) is kept escaped (``\\x1b``), so
    that printing the lines cannot act on a terminal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lines: tuple[str, ...] = Field(
        max_length=MAX_PRINTED, description="each line the script printed, without its newline "
        f"(no control characters; at most {MAX_PRINTED:,} characters in all, newlines counted)")
    left_out: StrictInt = Field(
        default=0, ge=0, le=2**53, description="how many lines the script printed after these, "
        "which the trace does not keep (0: it keeps all it printed)")

    @field_validator("lines")
    @classmethod
    def _check_lines(cls, lines: tuple[str, ...]) -> tuple[str, ...]:
        """One line each (no line break), no control character, at most MAX_PRINTED
        characters in all: checked on the lines joined (a million lines in 20 ms), the line
        at fault found only when one is."""
        text = "\n".join(lines)
        if len(text) + 1 > MAX_PRINTED and lines:
            raise ValueError(f"more than {MAX_PRINTED:,} characters, the most a trace keeps of "
                             "what a script printed")
        if text.count("\n") > max(len(lines) - 1, 0):
            at = next(i for i, line in enumerate(lines) if "\n" in line)
            raise ValueError(f"line {at} holds a line break: each item is one line of what was "
                             "printed")
        if (found := control_character(text)) is not None:
            at = next(i for i, line in enumerate(lines) if control_character(line) is not None)
            raise ValueError(f"line {at} holds the control character {found!r}, which a trace "
                             "never holds (tracing escapes those a script prints: \\x1b)")
        return lines

    @classmethod
    def of(cls, text: str) -> Printed:
        """What a script printed (``text``), as its trace keeps it: split at each newline
        (the last line need not end with one), each control character escaped, whole lines
        while they fit in ``MAX_PRINTED`` characters, and how many lines were left out."""
        # A line kept lies within the first MAX_PRINTED characters (escaping only lengthens
        # a line): the rest is counted, not split (8 MiB of short lines would weigh 300 MB).
        lines = escaped(text[:MAX_PRINTED]).split("\n")
        if len(text) > MAX_PRINTED or not lines[-1]:
            lines.pop()  # a line the cut went through (or the nothing after the last newline)
        fits = bisect_right(list(accumulate(len(line) + 1 for line in lines)), MAX_PRINTED)
        printed = text.count("\n") + (bool(text) and not text.endswith("\n"))
        return cls(lines=tuple(lines[:fits]), left_out=printed - fits)

    def cut(self) -> str | None:
        """What a view of these lines leaves out, said in one line (None: nothing)."""
        if not self.left_out:
            return None
        return (f"the script printed {self.left_out:,} more line(s) after these, which its "
                f"trace does not keep (a trace keeps the first {MAX_PRINTED:,} characters a "
                "script printed, in whole lines)")


class Fingerprint(BaseModel):
    """Where a trace was recorded: versions that can move the last digits, and the
    plugin (and its version) behind every rule the run used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steptrace: str
    python: str
    numpy: str
    blas: str
    machine: str
    environment: dict[str, str] = Field(
        description="BLAS- and CPU-feature-related environment variables, if set")
    rules: dict[str, str] = Field(description='{"nonlinearity:relu": "plugin version", ...}')
    revisions: dict[str, int] = Field(
        default_factory=dict,
        description='{"nonlinearity:tanh": 2, ...}: the revision of each rule\'s numbers (its '
                    "plugin bumps it when they change); a rule not listed is revision 1")
    distributions: dict[str, str] = Field(
        default_factory=dict,
        description='{"extras": "steptrace-extras", ...}: the distribution each plugin of the '
                    "rules came from (to name what to install)")


#: What a fingerprint says of where a run was computed that can move a blas run's last
#: digits (an exact run's do not move).
WHERE_COMPUTED = ("numpy", "blas", "machine")


def computed_elsewhere(a: Fingerprint, b: Fingerprint) -> list[tuple[str, str, str]]:
    """``(what, a's, b's)`` for each of :data:`WHERE_COMPUTED` in which the two differ."""
    return [(what, getattr(a, what), getattr(b, what)) for what in WHERE_COMPUTED
            if getattr(a, what) != getattr(b, what)]


def plugin_of(provider: str) -> str:
    """The plugin of a fingerprint's provider, ``"PLUGIN VERSION"``: a rule's revisions
    compare only between releases of the same plugin."""
    return provider.rpartition(" ")[0] or provider


#: A traced script's config's ``source`` (``steptrace trace``): ``traced from SCRIPT (a
#: learner's own run)``, SCRIPT as the user named it (:attr:`Header.traced_script`).
TRACED_FROM = ("traced from ", " (a learner's own run)")


class Header(BaseModel):
    """The first line of a trace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["header"] = "header"
    format: Literal["steptrace-trace"] = "steptrace-trace"
    schema_version: int = SCHEMA_VERSION
    detail: Detail = Field(
        default="full", description="step: every step, derivable fields left out; epoch: "
        "the passes only; all: every field of every step (full: its name before schema 3)")
    config: ExperimentConfig
    initial_weights: tuple[Matrix, ...]
    fingerprint: Fingerprint
    printed: Printed | None = Field(
        default=None, description="what a traced script printed (steptrace trace), shown as "
        "its book view; absent (not null) from a recorded experiment's trace, whose book view "
        f"is its config's book_view. Schema {PRINTED_SCHEMA_VERSION} and later")
    checkpoint_every: StrictInt | None = Field(
        default=None, ge=1, description="K: a checkpoint line (the weights) comes before "
        "every K-th pass (K, 2K, ...), and the end line indexes them; absent (not null) from "
        f"a trace without checkpoints. Schema {CHECKPOINT_SCHEMA_VERSION} and later")

    @property
    def traced_script(self) -> str | None:
        """The script a learner's trace (``steptrace trace``) was traced from, as its config's
        source names it ("" when the source does not: a traced script's by what it printed
        alone); None for a recorded experiment's trace. A traced script's trace holds what
        it printed (:attr:`printed`), from the schema that added it on; one from before,
        its source alone tells."""
        source, (start, end) = self.config.source, TRACED_FROM
        named = (source[len(start):-len(end)] if source.startswith(start)
                 and source.endswith(end) and len(source) > len(start + end) else None)
        if self.printed is not None:
            return named or ""
        return named if self.schema_version < PRINTED_SCHEMA_VERSION else None

    def matrices(self) -> list[Matrix]:
        config = self.config
        return [*self.initial_weights, *(config.weights or ()), config.inputs,
                *(() if config.goals is None else (config.goals,)),
                *(() if config.test_inputs is None else (config.test_inputs,)),
                *(() if config.test_goals is None else (config.test_goals,))]

    def lowest_schema_version(self, largest_batch: int) -> int:
        """The schema a reader needs for this trace: 6 if it holds checkpoints or its config
        names a data file; else 5 if its config has held-out rows
        (and its passes' ends their error); else 4 if it holds what a traced script
        printed; else 3 if its detail is named ``all``; else 2 if the header or an event may
        hold a packed matrix; else 1."""
        later = self._of_later_schemas()
        if later:
            return max(version for version, _ in later)
        if self.detail == "all":
            return 3
        largest = largest_event_matrix(self.config.layers, largest_batch)
        packed = largest > PACK_ABOVE or any(m.packed for m in self.matrices())
        return 2 if packed else 1

    @model_validator(mode="after")
    def _check_initial_weights(self) -> Header:
        check_weights("initial_weights", self.initial_weights, self.config.layers, "initial ")
        return self

    def _of_later_schemas(self) -> list[tuple[int, str]]:
        """What this header holds that the first trace schemas could not: (the schema it
        belongs to, from that one on; what it is, as a message names it, with its verb)."""
        config, found = self.config, []
        if self.printed is not None:
            found.append((PRINTED_SCHEMA_VERSION, "printed belongs"))
        if config.data_files:
            found.append((DATA_FILES_SCHEMA_VERSION, f"data files (config."
                          f"{next(iter(config.data_files))} by reference) belong"))
        if config.held_out:
            found.append((HELD_OUT_SCHEMA_VERSION, "held-out rows (config.test_inputs, "
                          "config.test_goals) belong"))
        if self.checkpoint_every is not None:
            found.append((CHECKPOINT_SCHEMA_VERSION, "checkpoint_every belongs"))
        return found

    @model_validator(mode="after")
    def _check_schema(self) -> Header:
        for version, what in self._of_later_schemas():
            if self.schema_version < version:
                raise ValueError(f"{what} to trace schema {version} and later; this header "
                                 f"says schema {self.schema_version}")
        if self.checkpoint_every is not None and holds_passes_only(self.detail):
            raise ValueError("checkpoint_every in a trace of epoch detail, which holds no weights "
                             "to restart from")
        return self

    def to_json(self) -> bytes:
        """The header's line (without its newline). ``printed`` and ``checkpoint_every`` are
        left out when absent, so a trace without them is byte for byte what steptrace wrote
        before they existed; a data file of the config is written as its reference, its
        numbers not at all."""
        exclude: dict[str, Any] = {name: True for name in ("printed", "checkpoint_every")
                                   if getattr(self, name) is None}
        if self.config.data_files:
            exclude["config"] = set(self.config.data_files)
        return self.__pydantic_serializer__.to_json(
            self, exclude=exclude or None, context={BY_REFERENCE: True})


class End(BaseModel):
    """The last line of a trace: how many events it holds, and whether the run is all
    there (``complete: false`` when the recording was interrupted, with the reason)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["end"] = "end"
    events: StrictInt = Field(ge=0, description="how many events the trace holds")
    complete: bool = Field(default=True, description="false: the recording stopped early")
    reason: str | None = Field(default=None, max_length=2 * MAX_MESSAGE,
                               description="why an incomplete recording stopped")
    index: tuple[tuple[StrictInt, StrictInt, StrictInt], ...] | None = Field(
        default=None, max_length=MAX_CHECKPOINTS, description="[epoch, seq, offset] of each "
        "checkpoint line, in order: its pass, the seq of the pass's first event, and the byte "
        "where the line starts (in a .gz trace: where its gzip member starts); absent from a "
        f"trace without checkpoints (schema {CHECKPOINT_SCHEMA_VERSION} and later)")
    gzip: Literal[True] | None = Field(
        default=None, description="true: the index's offsets are of gzip members in a .gz file "
        "(absent: of lines after the header in a plain one). A trace compressed or "
        "decompressed since has an index of the other kind: it is read whole")
    nonfinite: StrictInt | None = Field(
        default=None, ge=0, description="in a trace with an index: the seq of the first event "
        "whose line holds a number that is not finite (NaN, ±Infinity); absent when none does "
        "(a reader that starts at a checkpoint after it still warns of it)")

    @field_validator("reason")
    @classmethod
    def _check_reason(cls, reason: str | None) -> str | None:
        return printable(reason)


class Checkpoint(BaseModel):
    """A line between a trace's events, before the first event of every K-th pass
    (:attr:`Header.checkpoint_every`): the weights at that moment (the end of the pass
    before), so that a reader can start there. Not an event: ``seq`` is the next event's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["checkpoint"] = "checkpoint"
    epoch: StrictInt = Field(ge=1, description="the pass that starts after this line")
    seq: StrictInt = Field(ge=0, description="the seq of that pass's first event")
    weights: tuple[Matrix, ...] = Field(description="every weight matrix at that moment")


#: How a checkpoint line starts (the writer writes ``kind`` first; an event starts ``{"seq"``).
CHECKPOINT_PREFIX = b'{"kind":"checkpoint"'


if TYPE_CHECKING:
    from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent

    Line = Annotated[
        ForwardEvent | ErrorEvent | DeltaEvent | UpdateEvent | EpochEndEvent | End,
        Field(discriminator="kind"),
    ]


def _line() -> Any:
    """:data:`Line`, a line after the header (an event or the end), made when first needed:
    importing this module builds no event model and no adapter (the command line starts
    sooner)."""
    from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent

    return Annotated[
        ForwardEvent | ErrorEvent | DeltaEvent | UpdateEvent | EpochEndEvent | End,
        Field(discriminator="kind"),
    ]


@functools.cache
def line_adapter() -> TypeAdapter[Line]:
    """Validates a line after the header: built on first use, then kept."""
    return TypeAdapter(_line())


def trace_schema() -> dict[str, Any]:
    """The JSON Schema of one line of a trace: a header, an event, or the end."""
    union: Any = Annotated[Header | Checkpoint | _line(), Field(discriminator="kind")]
    schema = TypeAdapter(union).json_schema()
    schema["title"] = f"{FORMAT} line, schema version {SCHEMA_VERSION}"
    schema["description"] = (
        "A steptrace trace is JSON Lines: one header line, one line per event in seq order "
        "(with a checkpoint line before every K-th pass, K the header's checkpoint_every), "
        "one end line. NaN and infinities are the strings \"NaN\", \"Infinity\", \"-Infinity\"."
    )
    return schema


def fingerprint(rules: dict[str, str], revisions: dict[str, int] | None = None,
                distributions: dict[str, str] | None = None) -> Fingerprint:
    try:
        blas_info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas_info.get('name', '?')} {blas_info.get('version', '?')}"
    except Exception:  # numpy's config report is informative only
        blas = "unknown"
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "NPY_DISABLE_CPU_FEATURES")
    return Fingerprint(
        steptrace=__version__,
        python=platform.python_version(),
        numpy=np.__version__,
        blas=blas,
        machine=platform.machine(),
        environment={name: os.environ[name] for name in names if name in os.environ},
        rules=rules,
        revisions=revisions or {},
        distributions=distributions or {},
    )
