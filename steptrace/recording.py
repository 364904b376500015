"""Recording: run an experiment and stream every event to a trace file (and observers);
and which experiment a name given to ``record`` means."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from steptrace.compare import Difference, Tolerance, differences
from steptrace.config import ExperimentConfig, keeping_data_files, load_config
from steptrace.defaults import EXIT_INTERRUPTED, EXIT_TERMINATED
from steptrace.engine.network import Network, Step, held_out_data, training_data
from steptrace.engine.plan import Plan
from steptrace.errors import (
    ConfigError,
    SteptraceError,
    Stopped,
    Terminated,
    one_line,
)
from steptrace.matrices import Matrix
from steptrace.outputs import STOPPING, handling
from steptrace.plugins.registry import Registry
from steptrace.trace.emitter import Emitter, Record, typed
from steptrace.trace.events import Event
from steptrace.trace.header import (
    Detail,
    Header,
    Printed,
    checkpoint_every,
    fingerprint,
    holds_every_field,
    holds_passes_only,
)
from steptrace.trace.writer import TraceWriter

#: Told after every pass: (passes done, passes, update steps per pass).
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Recorded:
    path: Path | None  # None: written to a stream
    events: int
    errors: list[float | None]  # each pass's summed error
    test_errors: list[float]  # each pass's held-out error (none without held-out rows)


def header_for(config: ExperimentConfig, registry: Registry, network: Network,
               detail: Detail = "step", printed: Printed | None = None,
               checkpoints: bool = True) -> Header:
    """The header of a trace of ``network`` running ``config`` at ``detail``; ``printed``:
    what a traced script printed (a learner's trace: its book view), if it is one;
    ``checkpoints``: whether its trace holds checkpoints where the run is long enough."""
    # Built without validating again what is valid already (pydantic would re-run the
    # config's checks: for a dataset of 10^6 numbers that is most of a short recording).
    header = Header.model_construct(
        config=config, detail=detail, initial_weights=tuple(Matrix(w) for w in network.weights),
        fingerprint=fingerprint(provenance(config, registry), registry.revisions(config),
                                registry.distributions(config)), printed=printed,
        checkpoint_every=None if holds_passes_only(detail) or not checkpoints else checkpoint_every(
            events_per_pass(config, network.plan), config.iterations))
    largest_batch = max(map(len, network.plan.batches))
    return header.model_copy(update={"schema_version": header.lowest_schema_version(largest_batch)})


def events_per_pass(config: ExperimentConfig, plan: Plan) -> int:
    """About how many events a pass of ``config``'s run makes at step detail (a learning
    rule may ask for the deltas more than once): what the distance between checkpoints is
    chosen from (:func:`steptrace.trace.header.checkpoint_every`)."""
    layers = len(config.layers) - 1
    per_step = layers + (config.goals is not None)
    if config.train:
        per_step += layers + (0 if plan.strategy.own_rule else layers)
    return len(plan.batches) * per_step + 1


def provenance(config: ExperimentConfig, registry: Registry) -> dict[str, str]:
    """The plugin (and version) behind every rule ``config`` uses; and, when ``config`` is
    a registered experiment's (whatever its arithmetic), that experiment's, so that replay
    can hold the header to it."""
    rules = registry.provenance(config)
    registered = registry.experiments.get(config.name)
    if registered is not None and unlike_registered(config, registry) is None:
        rules[f"experiment:{config.name}"] = registered.label
    return rules


def unlike_registered(config: ExperimentConfig, registry: Registry,
                      name: str | None = None) -> Difference | None:
    """The first way ``config`` differs from the registered experiment ``name`` (default:
    the config's own name), the arithmetic aside (``record --arithmetic`` may change it);
    None when it does not, or nothing is registered under that name."""
    registered = registry.experiments.get(config.name if name is None else name)
    if registered is None:
        return None
    rule = registered.rule.model_copy(update={"arithmetic": config.arithmetic})
    if config == rule:  # (the same fields, bit for bit: no difference to look for)
        return None
    return differences(config.model_dump(), rule.model_dump(), Tolerance())


def train_at_detail(
    network: Network,
    config: ExperimentConfig,
    detail: Detail,
    emit: Callable[[Record], None],
    progress: Progress | None = None,
    observe: Callable[[Event], None] | None = None,
    test_errors: list[float] | None = None,
    checkpoint: Callable[[Record], None] | None = None,
    checkpoint_every: int | None = None,
) -> list[float | None]:
    """Run ``network`` on ``config``'s data, handing ``emit`` the records a trace of
    ``detail`` holds, and ``observe`` (if given) every event complete, typed, after
    ``emit`` has its record; each pass ends with the error on the held-out rows, when the
    config has them (appended to ``test_errors``, if given); returns each pass's summed
    error; when ``checkpoint_every`` is K, ``checkpoint`` has the record of a checkpoint
    (the network's weights) after every pass whose next is a multiple of K. Recording and
    replay both run this, so they cannot differ in what they produce."""
    inputs, goals = training_data(config)
    emitters = []
    checkpoints = None if checkpoint is None or checkpoint_every is None else (
        checkpoint_every, lambda: network.weights, checkpoint)
    if observe is not None and holds_every_field(detail):  # the same records serve both
        def emit_and_observe(record: Record, write: Callable[[Record], None] = emit,
                             see: Callable[[Event], None] = observe) -> None:
            write(record)
            see(typed(record))
        emitters.append(Emitter(config, network.plan, detail, emit_and_observe, checkpoints))
    else:
        emitters.append(Emitter(config, network.plan, detail, emit, checkpoints))
        if observe is not None:  # a second stream, complete, for the observers
            def observe_complete(record: Record, see: Callable[[Event], None] = observe) -> None:
                see(typed(record))
            emitters.append(Emitter(config, network.plan, "all", observe_complete))
    emitter = emitters[0]
    steps = len(network.plan.batches)

    def each_step(epoch: int, samples: tuple[int, ...], step: Step) -> None:
        for each in emitters:
            each.step(epoch, samples, step)

    def pass_end(epoch: int, error: float | None, test_error: float | None) -> None:
        for each in emitters:
            each.pass_end(epoch, error, test_error)
        if test_errors is not None and test_error is not None:
            test_errors.append(test_error)
        if progress is not None:
            progress(epoch + 1, config.iterations, steps)

    return network.train(inputs, goals, config.iterations,
                         emitter.step if len(emitters) == 1 else each_step, pass_end,
                         held_out_data(config))


def run(config: ExperimentConfig, plan: Plan, emit: Callable[[Event], None] | None = None,
        detail: Detail = "all") -> Network:
    """Train a config's network to the end, handing every event, typed, to ``emit`` (at
    ``detail``: by default every field of every event); returns the trained network."""
    network = Network.from_config(config, plan)
    if emit is None:  # no events wanted: none made
        network.train(*training_data(config), config.iterations)
    else:
        train_at_detail(network, config, detail, lambda record: emit(typed(record)))
    return network


def record(
    config: ExperimentConfig,
    registry: Registry,
    path: Path | IO[bytes],
    progress: Progress | None = None,
    detail: Detail = "step",
    inputs: Sequence[Path] = (),
) -> Recorded:
    """Train ``config``'s network and write its trace to ``path`` (atomically), or to a
    binary stream (``io.BytesIO()``: in memory), at ``detail``; the plugins' observers are
    told the run starts, see every event (complete, whatever ``detail``) and are told it
    finished (:class:`RunObservers`). ``inputs`` are the files the config came from:
    ``path`` may not be one of them. A data file the config names is named in the trace
    relative to ``path``'s directory (absolute if the config gives it so, or in a stream)."""
    network = Network.from_config(config, registry.resolve(config))
    observers = registry.observers()
    test_errors: list[float] = []
    named = config.data_files_named_from(path.parent if isinstance(path, Path) else None)
    writer = TraceWriter(path, header_for(named, registry, network, detail),
                         [*inputs, *(found.path for found in config.data_files.values())])
    try:
        with signals_stop_between_lines(writer), writer:
            if observers is not None:
                observers.started(config)
            observe = observers.event if observers is not None and observers.watching else None
            errors = train_at_detail(network, config, detail, writer.write, progress, observe,
                                     test_errors, writer.checkpoint,
                                     writer.header.checkpoint_every)
    except BaseException as stop:
        if writer.saved_incomplete is None:
            raise
        kept = (f"the {writer.events} events recorded so far are in {writer.saved_incomplete} "
                "(marked incomplete)")
        if isinstance(stop, KeyboardInterrupt):
            raise Stopped(f"interrupted (Ctrl-C): {kept}", EXIT_INTERRUPTED) from None
        if isinstance(stop, Terminated):
            raise Stopped(f"terminated (SIGTERM): {kept}", EXIT_TERMINATED) from None
        if isinstance(stop, SteptraceError):
            stop.args = (f"{stop}; {kept}",)
            raise
        stop.add_note(kept)
        raise
    if observers is not None:
        observers.finished(config, errors, writer.events)
    return Recorded(writer.path, writer.events, errors, test_errors)


@contextmanager
def signals_stop_between_lines(writer: TraceWriter) -> Iterator[None]:
    """While ``writer`` records, Ctrl-C and SIGTERM (``kill PID``) stop the run at the next
    line, never in the middle of one: the handler only asks, and the writer stops before
    its next event line (:meth:`TraceWriter.write`), so the kept trace's end line counts
    exactly the lines it holds."""

    def ask(signum: int, frame: Any) -> None:
        writer.stop_requested = signum

    with handling(STOPPING, ask):
        yield


def recordable(registry: Registry, experiment: str | Path | ExperimentConfig,
               arithmetic: str | None = None, detail: str = "step"
               ) -> tuple[ExperimentConfig, list[Path]]:
    """What ``record`` (the command and :func:`steptrace.record` alike) runs: the config of
    ``experiment`` (an id, the path of an experiment file, or a config), its arithmetic
    made ``arithmetic`` when given; and the files it came from (the ``inputs`` of
    :func:`record`, which its trace may not overwrite). ConfigError for an arithmetic or a
    ``detail`` that does not exist."""
    source: Path | None = None
    if isinstance(experiment, ExperimentConfig):
        config = keeping_data_files(  # (an Experiment's)
            ExperimentConfig.model_validate(experiment.model_dump()), experiment)
    else:
        config, source = resolve_experiment(registry, str(experiment), stacklevel=4)
    if arithmetic is not None:
        if arithmetic not in ("exact", "blas"):
            raise ConfigError(f"arithmetic {arithmetic!r}: give 'exact' or 'blas'")
        config = config.model_copy(update={"arithmetic": arithmetic})
    if detail not in ("step", "epoch", "all", "full"):
        raise ConfigError(f"detail {detail!r}: give 'step', 'epoch' or 'all'")
    return config, [source] if source is not None else []


def resolve_experiment(registry: Registry, name: str, stacklevel: int = 3
                       ) -> tuple[ExperimentConfig, Path | None]:
    """A built-in experiment by id, or an experiment file by path (and the file, which a
    recording may not overwrite). A bare name that is both a registered experiment and a
    file in the current directory is the experiment (``./NAME`` is the file): a warning
    says so, as does a file named like a registered experiment that is not it
    (``stacklevel``: the warnings' own, pointing at the caller's caller)."""
    path = Path(name)
    is_path = path.suffix in {".toml", ".json"} or "/" in name or name.startswith(".")
    if name in registry.refused and not is_path:  # a plugin's experiment that cannot record
        raise ConfigError(registry.refused[name])
    if name in registry.experiments and not is_path:
        if path.exists():
            warnings.warn(f"{one_line(name)} is both a registered experiment and a file here: "
                          f"recording the experiment (give ./{one_line(name)} to record the file)",
                          stacklevel=stacklevel)
        return registry.experiment(name), None
    if is_path or path.exists():
        config = load_config(path)
        try:
            registry.resolve(config)  # unknown rules and bad options, named with the file
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
        if (unlike := unlike_registered(config, registry)) is not None:
            warnings.warn(one_line(
                f"{path} is named {config.name!r} like a registered experiment, but is not it "
                f"({unlike.describe('ours', 'registered')}): its trace is a config of its own; "
                "give it a name of its own"), stacklevel=stacklevel)
        return config, path
    try:
        registry.experiment(name)
    except ConfigError as error:
        raise ConfigError(f"{error}; or give the path of a .toml/.json experiment file") from None
    raise AssertionError("unreachable")
