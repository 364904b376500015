"""Recording: run an experiment and stream every event to a trace file (and observers)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steptrace.config import ExperimentConfig
from steptrace.engine import Network
from steptrace.events import Event
from steptrace.registry import Registry
from steptrace.tracefile import Header, TraceWriter, fingerprint

#: Wraps the passes of a run, e.g. in a progress bar: (passes, count) -> passes.
Progress = Callable[[Iterator[float | None], int], Iterable[float | None]]


@dataclass(frozen=True)
class Recorded:
    path: Path
    events: int
    errors: list[float | None]  # each pass's summed error


def header_for(config: ExperimentConfig, registry: Registry, network: Network) -> Header:
    return Header(config=config, initial_weights=tuple(w.tolist() for w in network.weights),
                  fingerprint=fingerprint(registry.provenance(config)))


def record(
    config: ExperimentConfig,
    registry: Registry,
    path: Path,
    progress: Progress | None = None,
) -> Recorded:
    """Train ``config``'s network and write its trace to ``path`` (atomically); every event
    also goes to the plugins' observers."""
    plan = registry.resolve(config)
    network = Network.from_config(config, plan)
    inputs = np.array(config.inputs, dtype=np.float64)
    goals = None if config.goals is None else np.array(config.goals, dtype=np.float64)
    observer = registry.observer()
    with TraceWriter(path, header_for(config, registry, network)) as writer:
        emit: Callable[[Event], None] = writer.write
        if observer is not None:
            def emit(event: Event) -> None:
                writer.write(event)
                observer(event)
        passes = network.train(inputs, goals, config.iterations, emit)
        errors = list(progress(passes, config.iterations) if progress else passes)
    return Recorded(path, writer.events, errors)
