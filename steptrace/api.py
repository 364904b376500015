"""steptrace from Python: record an experiment, load a trace, and look at it.

::

    import steptrace

    trace = steptrace.record("ch06-streetlights-backprop")   # in memory
    trace.errors[-1]                 # the last pass's summed error
    print(trace.show(epoch=0))       # the first pass, step by step, in the book's terms
    trace.events.filter(kind="update", layer=2)[0].weights
    trace                            # in Jupyter: the step-through viewer, inline

    config = steptrace.experiment("ch06-streetlights-backprop")
    config.alpha = 0.5               # checked as it is set
    steptrace.record(config).errors[-1]

A learner's own script, traced and checked against the book::

    steptrace.check_script("my_backprop.py")            # a report: truthy when it agrees
    steptrace.trace_script("my_backprop.py")            # their run as a Trace

These are the names the package exports (``steptrace.record``, ``steptrace.load``,
``steptrace.experiments``, ``steptrace.experiment``, ``steptrace.trace_script``,
``steptrace.check_script``, ``Trace``, ``Experiment``, ``Check``);
the command line is a thin layer over the same functions. Errors are steptrace's own
exceptions (:mod:`steptrace.errors`), with the command line's one-line messages.
"""

from __future__ import annotations

import gzip
import html
import io
import re
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, overload

from pydantic import ConfigDict, ValidationError

from steptrace.compare import Tolerance, given
from steptrace.config import ExperimentConfig, describe, keeping_data_files
from steptrace.defaults import CHECK_ATOL, CHECK_RTOL, TIMEOUT
from steptrace.engine.rules import Array
from steptrace.errors import BadInput, ConfigError, Mismatch, TraceFormatError
from steptrace.outputs import atomic_write, check_output
from steptrace.plugins.loaded import registry
from steptrace.recording import recordable, resolve_experiment
from steptrace.trace.events import EpochEndEvent, Event
from steptrace.trace.header import Detail, End, Header, holds_passes_only
from steptrace.trace.reader import TraceReader, open_trace
from steptrace.trace.seek import seek_to_pass, started_at, through_pass
from steptrace.trace.state import NetworkState
from steptrace.views.lines import SEEKING_VIEWS, view_lines

if TYPE_CHECKING:
    from steptrace.learner.report import CheckReport

__all__ = ["Check", "Events", "Experiment", "Page", "Trace", "check_script", "experiment", "experiments",
           "load", "playground", "record", "trace_script"]

#: The most events a trace shows inline in Jupyter (its page embedded in the notebook).
INLINE_EVENTS = 100_000
#: The inline page's frame's height where a notebook runs no script in outputs (where it
#: does, the frame grows to the page): the whole page, at 780 pixels wide.
FRAME_HEIGHT = 1100


def experiments(*, plugins_dir: Path | str | None = None,
                plugins: Sequence[object] = ()) -> list[str]:
    """The ids of the experiments: the book's, and those plugins add."""
    return sorted(registry(plugins_dir, plugins).experiments)


def experiment(name: str, *, plugins_dir: Path | str | None = None,
               plugins: Sequence[object] = ()) -> Experiment:
    """A built-in experiment by id, or an experiment file by path, as an :class:`Experiment`
    to change and record (``config.alpha = 0.5``; ``steptrace.record(config)``)."""
    config, _ = resolve_experiment(registry(plugins_dir, plugins), name)
    return keeping_data_files(Experiment.model_validate(config.model_dump()), config)


class Experiment(ExperimentConfig):
    """An experiment's config that can be changed: each assignment is checked with the
    whole config (``config.alpha = 0.5``, ``config.iterations = 100``), and a bad one raises
    :class:`~steptrace.errors.ConfigError` and changes nothing."""

    model_config = ConfigDict(frozen=False, extra="forbid")

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # pydantic's own: the layers' options, kept beside the names
            super().__setattr__(name, value)
            return
        if name == "nonlinearity_options":
            raise ConfigError("a layer's options are set in nonlinearities, as a table: "
                              "config.nonlinearities = [{'name': 'leaky_relu', 'slope': 0.2}, "
                              "'linear']")
        if name not in type(self).model_fields:
            raise ConfigError(f"an experiment has no setting {name!r} (its settings: "
                              f"{', '.join(type(self).model_fields)})")
        try:
            checked = ExperimentConfig.model_validate({**self.model_dump(), name: value})
        except ValidationError as error:
            raise ConfigError(describe(error)) from None
        self.__dict__.update(checked.__dict__)
        super().__setattr__("_nonlinearity_options", checked._nonlinearity_options)
        # (a data field assigned numbers is no longer its file's; one assigned a file is)
        super().__setattr__("_data_files", {
            **{field: found for field, found in self._data_files.items() if field != name},
            **checked._data_files})


def record(
    experiment: str | Path | ExperimentConfig,
    *,
    arithmetic: str | None = None,
    detail: Detail = "step",
    output: Path | str | None = None,
    plugins_dir: Path | str | None = None,
    plugins: Sequence[object] = (),
    progress: Callable[[int, int, int], None] | None = None,
) -> Trace:
    """Train an experiment and trace it: ``experiment`` is an id, the path of an experiment
    file, or a config (an :class:`Experiment`); ``arithmetic`` overrides its ``exact`` or
    ``blas``; ``detail`` is what the trace holds (``step``, ``epoch`` or ``all``). The
    trace is kept in memory, or written to ``output`` (atomically; ``.gz`` compresses).
    ``progress(passes_done, passes, steps_per_pass)`` is told after every pass.
    ``plugins``: modules or objects with ``@hookimpl`` functions (or ``(name, plugin)``
    pairs), registered beside the built-ins as the test kit registers them, for a plugin
    that is not installed (its tests, a notebook); the trace keeps them for ``replay``,
    ``show`` and ``html``. :func:`load`, :func:`experiment`, :func:`experiments`,
    :func:`playground`, :func:`trace_script` and :func:`check_script` take them too."""
    from steptrace.recording import record as record_to

    rules = registry(plugins_dir, plugins)
    config, inputs = recordable(rules, experiment, arithmetic, detail)
    if output is not None:
        record_to(config, rules, Path(output), progress, detail, inputs)
        return load(output, plugins_dir=plugins_dir, plugins=plugins)
    lines = io.BytesIO()
    record_to(config, rules, lines, progress, detail, inputs)
    return _in_memory(lines.getvalue(), plugins_dir, plugins)


def playground(experiment: str | Path | ExperimentConfig, *,
               plugins_dir: Path | str | None = None, plugins: Sequence[object] = ()) -> Page:
    """The step-through page of ``experiment`` (an id, a file, or a config), ready to edit:
    recorded in exact arithmetic, with the edit panel (see :meth:`Trace.html`). In Jupyter
    it shows inline; ``.save("page.html")`` writes it."""
    return record(experiment, arithmetic="exact", detail="all",
                  plugins_dir=plugins_dir, plugins=plugins).page(edit=True)


@dataclass(frozen=True)
class Page:
    """A step-through page: ``html``, the self-contained document; shown inline in Jupyter
    in a frame of its own; :meth:`save` writes it."""

    html: str
    name: str

    def save(self, path: Path | str) -> Path:
        """Write the page to ``path`` (atomically, as every output is); returns it."""
        path = Path(path)
        with atomic_write(path) as out:  # (it checks the output first)
            out.write(self.html.encode("utf-8"))
        return path

    def _repr_html_(self) -> str:
        return framed(self.html, self.name)


def framed(page: str, name: str) -> str:
    """A page inline in a notebook: in a sandboxed frame of its own (its script and styles
    cannot meet another page's, or the notebook's) that grows to the page's height: the
    page posts its height to its parent whenever it changes, and a small script beside the
    frame (``steptrace/views/page/frame.html``) sets that frame's height from it, and no
    other's. Where a front end runs no script in outputs, the frame is ``FRAME_HEIGHT``
    pixels high (the whole page at 780 pixels wide)."""
    from steptrace.views.page import FRAME

    holes = {"ID": f"steptrace-{uuid.uuid4().hex}", "TITLE": html.escape(name, quote=True),
             "HEIGHT": str(FRAME_HEIGHT), "SRCDOC": html.escape(page, quote=True)}
    return re.sub(r"@(ID|TITLE|HEIGHT|SRCDOC)@", lambda hole: holes[hole[1]], FRAME)  # (in one pass)


def load(path: Path | str, *, plugins_dir: Path | str | None = None,
         plugins: Sequence[object] = ()) -> Trace:
    """Read a trace (every line checked) into memory, every event complete, whatever the
    trace's detail: what a ``step`` trace leaves out is derived back. A trace whose end
    line indexes its checkpoints (a long run's, trace schema 6) is not read into memory:
    its events are read from the file as they are asked for, each pass from the checkpoint
    before it (``trace.events.filter(epoch=N)`` reads pass N, not the passes before), every
    line checked as it is read; the file may not change while the trace is used."""
    path = Path(path)
    with open_trace(path, keep=True) as reader:
        source = _Source.of(path, reader)
        if source is not None:
            return Trace(reader.header, _SoughtEvents(source), [], source.end_incomplete(), path,
                         plugins_dir, plugins=plugins, source=source)
        return _read(reader, path, plugins_dir, plugins)


def _in_memory(lines: bytes, plugins_dir: Path | str | None, plugins: Sequence[object]) -> Trace:
    """The trace whose lines are ``lines`` (as a recording in memory wrote them)."""
    with TraceReader(io.BytesIO(lines), "this trace", keep=True) as reader:
        return _read(reader, None, plugins_dir, plugins)


def _read(reader: TraceReader, path: Path | None, plugins_dir: Path | str | None,
          plugins: Sequence[object] = ()) -> Trace:
    """A trace from ``reader`` (made with ``keep``): its events completed, its lines kept."""
    state = NetworkState(reader.header)
    events = tuple(map(state.complete, reader))
    weights = [w.copy() for w in state.weights]
    return Trace(reader.header, Events(events), weights, reader.incomplete, path, plugins_dir,
                 lines=reader.lines, plugins=plugins)


def trace_script(script: Path | str, output: Path | str | None = None, *,
                 timeout: float = TIMEOUT, plugins_dir: Path | str | None = None,
                 plugins: Sequence[object] = ()) -> Trace:
    """Run a learner's own numpy script (it *is run*, in a process of its own, for at most
    ``timeout`` seconds) and trace what it computed under the book's names as an ordinary
    trace, with what it printed (``show("book")``; ``header.printed``): kept in memory, or
    written to ``output``. Raises
    :class:`~steptrace.learner.runner.ScriptError` (a :class:`BadInput`) when the script
    fails or is not one steptrace can follow."""
    from steptrace.learner.services import trace_file

    rules, script = registry(plugins_dir, plugins), Path(script)
    if output is not None:
        trace_file(script, Path(output), rules, timeout)
        return load(output, plugins_dir=plugins_dir, plugins=plugins)
    lines = io.BytesIO()
    trace_file(script, lines, rules, timeout)
    return _in_memory(lines.getvalue(), plugins_dir, plugins)


def check_script(script: Path | str, against: str | None = None, *, rtol: float = CHECK_RTOL,
                 atol: float = CHECK_ATOL, timeout: float = TIMEOUT,
                 plugins_dir: Path | str | None = None,
                 plugins: Sequence[object] = ()) -> CheckReport:
    """Run a learner's own numpy script (it *is run*, in a process of its own) and check
    each of its steps against the book's rules, recomputed from the learner's own values
    before it; with ``against`` (an experiment's id or file), also compare its data,
    initial weights, alpha, network and printed output with that experiment's. The
    :class:`~steptrace.learner.report.CheckReport` is truthy when everything agrees; its
    ``status`` is ``match``, ``diverged`` or ``failed`` (the script raised, ran past
    ``timeout``, or is not one steptrace can follow: ``report.error`` says why)."""
    from steptrace.learner.services import check_file

    return check_file(Path(script), registry(plugins_dir, plugins), against, rtol=rtol, atol=atol,
                      timeout=timeout)


@dataclass(frozen=True)
class Check:
    """What a replay or a diff found: truthy when everything compared matches; ``lines``
    say what was compared, and where it diverged if it did."""

    matched: bool
    lines: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.matched

    def __str__(self) -> str:
        return "\n".join(self.lines)


class Events(Sequence[Event]):
    """A trace's events, in order: index them, slice them, or :meth:`filter` them."""

    def __init__(self, events: Sequence[Event]) -> None:
        self._events = tuple(events)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Events: ...

    def __getitem__(self, index: int | slice) -> Event | Events:
        if isinstance(index, slice):
            return Events(self._events[index])
        return self._events[index]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def filter(self, *, epoch: int | Iterable[int] | None = None,
               sample: int | Iterable[int] | None = None,
               kind: str | Iterable[str] | None = None,
               layer: int | Iterable[int] | None = None) -> Events:
        """The events of these passes (``epoch``), steps with these samples, kinds and layers
        (each one value or several; None: any)."""
        epochs, samples, kinds, layers = map(_one_or_many, (epoch, sample, kind, layer))
        return Events([e for e in self._events
                       if (epochs is None or e.epoch in epochs)
                       and (samples is None or not samples.isdisjoint(e.samples))
                       and (kinds is None or e.kind in kinds)
                       and (layers is None or e.layer in layers)])

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for event in self._events:
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
        return f"Events({len(self)}: {', '.join(f'{n} {k}' for k, n in kinds.items()) or 'none'})"


class _Source:
    """A trace file whose end line indexes its checkpoints, read a part at a time: from the
    checkpoint before the pass wanted (:func:`~steptrace.trace.seek.seek_to_pass`)."""

    def __init__(self, path: Path, header: Header, end: End, stamp: tuple[int, int]) -> None:
        self.path, self.header, self.end, self._stamp = path, header, end, stamp
        index = end.index or ()
        #: the seq of each checkpoint's pass's first event, and that pass (0 from the start)
        self.seqs = [0, *(seq for _, seq, _ in index)]
        self.epochs = [0, *(epoch for epoch, _, _ in index)]

    @classmethod
    def of(cls, path: Path, reader: TraceReader) -> _Source | None:
        """The file at ``path`` (``reader`` just opened on it) read a part at a time, or
        None: it has no index to trust (it is read whole)."""
        if reader.header.checkpoint_every is None:
            return None
        stamp = _stamp(path)
        try:
            if seek_to_pass(reader, 0) is False or reader.end is None:
                return None
        except TraceFormatError:  # (an index that cannot be right: read whole, in memory,
            return None  # where a whole read says how it differs from the checkpoints)
        return cls(path, reader.header, reader.end, stamp)

    def past(self, epoch: int, at: int) -> bool:
        """Whether pass ``epoch``'s checkpoint (the one before it) comes after pass ``at``."""
        return self.epochs[bisect_right(self.epochs, epoch) - 1] > at

    def end_incomplete(self) -> str | None:
        if self.end.complete:
            return None
        return self.end.reason or "stopped early"

    def open(self) -> TraceReader:
        """A reader of the file from its first event; BadInput if it changed since."""
        if _stamp(self.path) != self._stamp:
            raise BadInput(f"{self.path} changed since it was loaded: load it again")
        return open_trace(self.path)

    @contextmanager
    def seek(self, epoch: int) -> Iterator[tuple[Header, TraceReader]]:
        """A reader of the file from the checkpoint before pass ``epoch`` (the first event
        when there is none), and the header to complete its events with (the checkpoint's
        weights as the initial ones)."""
        with self.open() as reader:
            start = seek_to_pass(reader, epoch) if epoch else False
            yield started_at(reader.header, start), reader

    def read(self, epoch: int = 0, seq: int | None = None) -> Iterator[Event]:
        """Every event, complete, from pass ``epoch`` (or the pass of event ``seq``) on,
        read from the checkpoint before it; the rest of the file up to the end line."""
        if seq is not None:
            epoch = self.epochs[bisect_right(self.seqs, seq) - 1]
        with self.seek(epoch) as (header, reader):
            yield from map(NetworkState(header).complete, reader)


def _stamp(path: Path) -> tuple[int, int]:
    found = path.stat()
    return found.st_size, found.st_mtime_ns


class _SoughtEvents(Events):
    """A trace's events read from its file as asked for (:class:`_Source`): ``len``,
    indexing, slicing and iteration as :class:`Events`; :meth:`filter` by ``epoch`` reads
    only from the checkpoint before each pass asked for."""

    def __init__(self, source: _Source) -> None:  # (no events kept)
        self._source = source

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Events: ...

    def __getitem__(self, index: int | slice) -> Event | Events:
        seqs = range(len(self))[index]  # (IndexError, as a tuple's, past either end)
        if isinstance(seqs, int):
            return next(e for e in self._source.read(seq=seqs) if e.seq == seqs)
        if not seqs:
            return Events(())
        low, high = min(seqs), max(seqs)
        found: list[Event] = []
        for event in self._source.read(seq=low):
            if event.seq >= low:
                found.append(event)
            if event.seq >= high:
                break
        return Events([found[seq - low] for seq in seqs])

    def __len__(self) -> int:
        events: int = self._source.end.events
        return events

    def __iter__(self) -> Iterator[Event]:
        return self._source.read()

    def filter(self, *, epoch: int | Iterable[int] | None = None,
               sample: int | Iterable[int] | None = None,
               kind: str | Iterable[str] | None = None,
               layer: int | Iterable[int] | None = None) -> Events:
        epochs, samples, kinds, layers = map(_one_or_many, (epoch, sample, kind, layer))
        if epochs is None:
            return Events(self).filter(sample=sample, kind=kind, layer=layer)
        found: list[Event] = []
        wanted = sorted(e for e in epochs if 0 <= e < self._source.header.config.iterations)
        while wanted:  # (from the checkpoint before the first pass wanted, on; again from
            again = False  # the checkpoint before the next, when it is past the pass read)
            for event in self._source.read(wanted[0]):
                if event.epoch in epochs and ((samples is None or not samples.isdisjoint(
                        event.samples)) and (kinds is None or event.kind in kinds)
                        and (layers is None or event.layer in layers)):
                    found.append(event)
                if event.kind == "epoch_end" and event.epoch >= wanted[0]:
                    wanted = [e for e in wanted if e > event.epoch]
                    if not wanted:
                        break
                    if self._source.past(wanted[0], event.epoch):
                        again = True
                        break
            if not again:
                break
        return Events(found)

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for event in self:
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
        return f"Events({len(self)}: {', '.join(f'{n} {k}' for k, n in kinds.items()) or 'none'})"


def _one_or_many(value: Any) -> set[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return {value}
    return set(value)


class Trace:
    """A recorded run: its header (the config and initial weights), every event, complete,
    and what the run ended with. Made by :func:`record` and :func:`load`."""

    def __init__(self, header: Header, events: Events, weights: list[Array],
                 incomplete: str | None, path: Path | None, plugins_dir: Path | str | None,
                 *, lines: bytes = b"", plugins: Sequence[object] = (),
                 source: _Source | None = None) -> None:
        #: the file it is read from a part at a time (None: its lines are in memory)
        self._source = source
        self._errors: list[EpochEndEvent] | None = None  # (the passes' ends, once read)
        self.header = header
        self.events = events
        self._weights = weights
        #: why the recording stopped early, or None when the run is all there
        self.incomplete = incomplete
        #: the file the trace was read from or written to, or None for one made in memory
        self.path: Path | None = path
        #: the trace's lines, as recorded (uncompressed): what replay, diff, html, plot and
        #: save read, never a file
        self._lines = lines
        self._plugins_dir = plugins_dir
        #: the plugins given in this process (modules or objects), beside plugins_dir's
        self._plugins = tuple(plugins)

    @property
    def weights(self) -> list[Array]:
        """The weights at the end of the run (``weights[k]`` is ``weights_k_{k+1}``). A
        trace of the passes alone (``--detail epoch``) of a run that learned does not hold
        them: BadInput, saying so."""
        if holds_passes_only(self.header.detail) and self.header.config.train \
                and self.header.config.iterations > 0:
            raise BadInput("this trace holds the passes' ends alone (recorded with --detail "
                           "epoch): the weights the run ended with are not in it; record it with "
                           "detail=\"step\"")
        if self._source is not None and not self._weights:  # (from the last checkpoint)
            epochs = self._source.epochs
            with self._source.open() as reader:
                start = seek_to_pass(reader, epochs[-1]) if len(epochs) > 1 else False
                state = NetworkState(started_at(reader.header, start) if start is not False
                                     else reader.header)
                for _ in map(state.complete, reader):
                    pass
            self._weights = [w.copy() for w in state.weights]
        return self._weights

    @property
    def config(self) -> ExperimentConfig:
        """The experiment that ran (the header's config)."""
        return self.header.config

    @property
    def errors(self) -> list[float | None]:
        """Each pass's summed error, in order (None for a pass without goals)."""
        return [event.error for event in self._ends]

    @property
    def _ends(self) -> list[EpochEndEvent]:
        """The passes' ends (read once from a trace read a part at a time)."""
        if self._errors is None:
            ends = [e for e in self.events if isinstance(e, EpochEndEvent)]
            if self._source is None:
                return ends
            self._errors = ends
        return self._errors

    @property
    def test_errors(self) -> list[float]:
        """Each pass's error on the held-out rows (the config's ``test_inputs`` and
        ``test_goals``) with the weights the pass ended with, in order; empty when the
        experiment has none."""
        return [event.test_error for event in self._ends if event.test_error is not None]

    def _reader(self, name: str | None = None) -> TraceReader:
        """A reader of the trace's lines, named ``name`` in messages (by default its file
        as the user gave it, or its name, in memory)."""
        if name is None:
            name = str(self.path) if self.path is not None else f"{self.config.name} (in memory)"
        if self._source is not None:
            reader = self._source.open()
            reader.name = name
            return reader
        return TraceReader(io.BytesIO(self._lines), name,
                           data_dir=self.path.parent if self.path is not None else None)

    @property
    def _named(self) -> str:
        """What a comparison calls this trace: its file, or "this trace"."""
        return str(self.path) if self.path is not None else "this trace"

    def show(self, view: str = "literate", *, epoch: int | Iterable[int] | None = None,
             sample: int | Iterable[int] | None = None, kind: str | Iterable[str] | None = None,
             layer: int | Iterable[int] | None = None, digits: int | None = None,
             exact: bool = False) -> str:
        """The run as text: ``literate`` (every step in the book's terms, numbers plugged
        in, rounded to 4 significant digits, or ``digits``, or every digit when ``exact``;
        filtered by epoch, sample, kind, layer), ``book`` (what the book's program printed;
        for a traced script, :func:`trace_script`, what the script printed), ``pressure``
        (the book's up and down pressure table, from the data, beside the weights after the
        last pass or each ``epoch``; how the run settled each conflicting weight) or
        ``moves`` (which way each update moved each weight, a table per ``epoch``)."""
        from steptrace.views.text import Filters

        epochs, samples, kinds, layers = (_one_or_many(v) or set()
                                          for v in (epoch, sample, kind, layer))
        filters = Filters(epochs, samples, kinds, layers, python=True)
        rules = registry(self._plugins_dir, self._plugins)
        if self._source is not None and epochs and view in SEEKING_VIEWS:
            try:  # (from the checkpoint before the first pass asked for, to the last's end)
                with self._source.seek(min(epochs)) as (header, reader):
                    return "\n".join(view_lines(header, through_pass(iter(reader), max(epochs)),
                                                view, filters, digits, rules, exact=exact))
            except BadInput as error:  # nothing matches: said of the whole trace, below
                if type(error) is not BadInput:
                    raise
        if self._source is None:
            return "\n".join(view_lines(self.header, iter(self.events), view, filters, digits,
                                        rules, exact=exact))
        with self._source.open() as whole:
            return "\n".join(view_lines(whole.header, whole, view, filters, digits, rules,
                                        exact=exact))

    def save(self, path: Path | str) -> Path:
        """Write the trace to ``path`` (atomically: a file there is replaced only when the
        new one is whole); it is the trace as recorded, line for line, byte for byte
        (gzip-compressed when ``path`` ends in ``.gz``); but for the data files it names
        (a dataset by reference), named from ``path``'s directory."""
        path = Path(path)
        inputs = [self.path] if self.path is not None else []
        check_output(path, inputs)
        header = None
        if self.config.data_files:  # named from the new place (the events are the same)
            named = self.header.model_copy(update={
                "config": self.config.data_files_named_from(path.parent)})
            header = named.to_json() + b"\n"
        with atomic_write(path, inputs=inputs) as out:
            if path.suffix == ".gz":
                import gzip

                with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as packed:
                    self._copy(packed, header)
            else:
                self._copy(out, header)
        return path

    def _copy(self, out: IO[bytes] | gzip.GzipFile, header: bytes | None = None) -> None:
        """The trace's lines (uncompressed) to ``out``, its header line replaced by ``header``
        when given; from its file, a piece at a time."""
        if self._source is None:
            if header is None:
                out.write(self._lines)
            else:
                out.write(header)
                out.write(self._lines.partition(b"\n")[2])
            return
        import shutil

        self._source.open().close()  # (the file as it was loaded, or BadInput)
        path = self._source.path
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as lines:
            if header is not None:
                lines.readline()  # (the file's header: its data files named from its place)
                out.write(header)
            shutil.copyfileobj(lines, out, 1 << 20)

    def replay(self, *, rtol: float = 0.0, atol: float = 0.0, ignore_versions: bool = False) -> Check:
        """Run the trace's config again and compare every event (exact traces bit for bit,
        blas ones within rtol 1e-12, atol 1e-15 unless told): a :class:`Check`, truthy on a
        match, saying where it diverged otherwise."""
        from steptrace.replay import replay as replay_file

        reader = self._reader()
        try:  # (0 is "not given": the arithmetic's tolerance, as when neither is)
            result = replay_file(reader, registry(self._plugins_dir, self._plugins),
                                 given(rtol or None, atol or None), ignore_versions=ignore_versions)
        except Mismatch as mismatch:
            return Check(False, (str(mismatch),))
        return Check(True, (*result.warnings, *result.describe(reader.name).splitlines()))

    def diff(self, other: Trace | Path | str, *, rtol: float = 0.0, atol: float = 0.0,
             events_only: bool = False) -> Check:
        """Compare with another trace: the configs, then every event (bit for bit unless
        ``rtol``/``atol``): a :class:`Check`, truthy when they agree."""
        from steptrace.diff import diff as diff_files

        theirs = (other._reader(str(other.path) if other.path is not None else "the other trace")
                  if isinstance(other, Trace) else Path(other))
        report = diff_files(self._reader(self._named), theirs, Tolerance(rtol, atol),
                            events_only=events_only)
        return Check(report.same, tuple(report.lines()))

    def html(self, *, edit: bool = False) -> str:
        """The step-through page (one self-contained HTML document, nothing fetched).
        ``edit``: with the edit panel (``steptrace html --edit``): the learner changes the
        experiment and the page computes the run again, bit for bit with :func:`record`."""
        from steptrace.views.html import write_page

        page = io.BytesIO()
        with self._reader() as reader:
            write_page(reader, page, registry(self._plugins_dir, self._plugins), edit=edit, spill=io.BytesIO)
        return page.getvalue().decode("utf-8")

    def page(self, *, edit: bool = False) -> Page:
        """The step-through page as a :class:`Page`: shown inline in Jupyter, written by
        ``save``. ``edit`` as for :meth:`html`."""
        return Page(self.html(edit=edit), self.config.name)

    def _repr_html_(self) -> str:
        """Jupyter: the step-through page inline, in a frame of its own that grows to the
        page (:func:`framed`). A run of more than
        ``INLINE_EVENTS`` events shows its summary instead (the page, some 20 bytes an event,
        would be kept in the notebook): ``trace.save(...)`` and ``steptrace html`` make it."""
        if len(self.events) > INLINE_EVENTS:
            return (f"<p>{html.escape(repr(self))}: too many events to step through inline "
                    f"(more than {INLINE_EVENTS:,}); save it and write its page with "
                    "<code>steptrace html</code>, or look at a part with <code>trace.show(epoch=...)"
                    "</code>.</p>")
        return framed(self.html(), self.config.name)

    def plot(self) -> Any:
        """The error per pass and each layer's weights over time, a matplotlib ``Figure``
        (``pip install 'steptrace[plot]'``)."""
        from steptrace.views.plot import figure

        return figure(self._reader())

    def to_pandas(self) -> Any:
        """One row per event (``seq``, ``epoch``, ``samples``, ``layer``, ``kind``, then its
        fields; matrices as numpy arrays; ``test_error`` only where the experiment has
        held-out rows), a pandas ``DataFrame`` (with pandas installed)."""
        try:
            import pandas
        except ImportError:
            raise BadInput("Trace.to_pandas needs pandas: pip install pandas") from None
        import numpy as np

        left_out = () if self.config.held_out else ("test_error",)  # (as before it existed)
        rows = [{name: np.array(value) if isinstance(value, tuple) and value
                 and isinstance(value[0], tuple) else value for name, value in event
                 if name not in left_out}
                for event in self.events]
        return pandas.DataFrame(rows)

    def __repr__(self) -> str:
        errors = [e for e in self.errors if e is not None]
        final = f", final error {errors[-1]!r}" if errors else ""
        if self.test_errors:
            final += f", held-out {self.test_errors[-1]!r}"
        where = f" in {self.path}" if self.path is not None else ""
        return (f"<Trace {self.config.name}: {len(self.events)} events, "
                f"{len(self.errors)} pass(es){final} ({self.config.arithmetic}){where}>")
