"""Recording: run an experiment and stream every event to a trace file (and observers)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.engine import Network
from steptrace.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, SteptraceError, Stopped
from steptrace.events import Event
from steptrace.registry import Registry
from steptrace.tracefile import Detail, Header, Terminated, TraceWriter, fingerprint

#: Wraps the passes of a run, e.g. in a progress bar: (passes, count) -> passes.
Progress = Callable[[Iterator[float | None], int], Iterable[float | None]]


@dataclass(frozen=True)
class Recorded:
    path: Path
    events: int
    errors: list[float | None]  # each pass's summed error


def header_for(config: ExperimentConfig, registry: Registry, network: Network,
               detail: Detail = "step") -> Header:
    # Built without validating again what is valid already (pydantic would re-run the
    # config's checks: for a dataset of 10^6 numbers that is most of a short recording).
    return Header.model_construct(
        config=config, detail=detail,
        initial_weights=tuple(tuple(map(tuple, w.tolist())) for w in network.weights),
        fingerprint=fingerprint(registry.provenance(config)))


def network_for(config: ExperimentConfig, registry: Registry, detail: Detail) -> Network:
    """The network that records (or replays) ``config`` at ``detail``."""
    network = Network.from_config(config, registry.resolve(config))
    network.lean = detail != "full"
    return network


def at_detail(detail: Detail, emit: Callable[[Event], None]) -> Callable[[Event], None]:
    """``emit``, handed only the events a trace of ``detail`` holds (``epoch``: the
    passes, numbered from 0)."""
    if detail != "epoch":
        return emit

    def passes_only(event: Event) -> None:
        if event.kind == "epoch_end":
            emit(event.model_copy(update={"seq": event.epoch}))

    return passes_only


def record(
    config: ExperimentConfig,
    registry: Registry,
    path: Path,
    progress: Progress | None = None,
    detail: Detail = "step",
) -> Recorded:
    """Train ``config``'s network and write its trace to ``path`` (atomically) at
    ``detail``; every event written also goes to the plugins' observers."""
    network = network_for(config, registry, detail)
    inputs = np.array(config.inputs, dtype=np.float64)
    goals = None if config.goals is None else np.array(config.goals, dtype=np.float64)
    observer = registry.observer()
    writer = TraceWriter(path, header_for(config, registry, network, detail))
    try:
        with writer:
            emit: Callable[[Event], None] = writer.write
            if observer is not None:
                def emit(event: Event) -> None:
                    writer.write(event)
                    observer(event)
            emit = at_detail(detail, emit)
            passes = network.train(inputs, goals, config.iterations, emit)
            errors = list(progress(passes, config.iterations) if progress else passes)
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
    return Recorded(path, writer.events, errors)


@contextmanager
def sigterm_stops_recording() -> Iterator[None]:
    """While recording, SIGTERM (``kill PID``) stops the run the way Ctrl-C does: what was
    recorded is kept, marked incomplete. Only in the main thread (where signals go)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
