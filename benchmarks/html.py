"""``steptrace html``'s own work against the floor of reading: ``python -m benchmarks.html
TRACE [--repeat N]``.

Prints, as medians of CPU seconds over N rounds (each round runs every contender once,
side by side, so a noisy machine slows them alike), and as ratios to the floor:

- **floor**: every line of the trace parsed with ``pydantic_core.from_json``, nothing else;
- **fill**: the trace read (from memory) and its events completed by a
  :class:`~steptrace.trace.state.NetworkState` as the page's writer completes them (the
  reader's steps, ``NetworkState.stepped``);
- **page**: the page written (``write_page``, to memory) of the same trace read from memory:
  reading and filling in, then html's own work (its recipes, rows, numbers and blocks);
- **html's own**: page − fill, each round's (what issue 28 asks be at most 2× the floor).

Each round reads the trace's bytes, held in memory, again (the page's writer fills in the
events it reads in place: events read once and handed out each round would come filled in).
The whole command, from the file, is timed by ``python -m benchmarks.reading --only html``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pydantic_core


def floor(data: bytes) -> None:
    for line in io.BytesIO(data):
        pydantic_core.from_json(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from steptrace.plugins.loaded import registry
    from steptrace.trace.events import Event
    from steptrace.trace.reader import TraceReader
    from steptrace.trace.state import NetworkState
    from steptrace.views.html import write_page

    rules = registry()
    data = args.trace.read_bytes()
    if data[:2] == b"\x1f\x8b":
        raise SystemExit(f"{args.trace}: give an uncompressed trace")
    size = count = 0

    def fill() -> None:
        nonlocal count
        with TraceReader(io.BytesIO(data), args.trace, data_dir=args.trace.parent) as reader:
            steps = cast("Iterator[Event]", reader.steps(("epoch_end",)))
            count = len(list(NetworkState(reader.header, fresh=True).stepped(steps)))

    def page() -> None:
        nonlocal size
        out = io.BytesIO()
        with TraceReader(io.BytesIO(data), args.trace, data_dir=args.trace.parent) as reader:
            write_page(reader, out, rules, spill=io.BytesIO)
        size = out.tell()

    def floor_of() -> None:
        floor(data)

    times: dict[str, list[float]] = {"floor": [], "fill": [], "page": []}
    for _ in range(args.repeat):
        for name, run in (("floor", floor_of), ("fill", fill), ("page", page)):
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    own = [p - f for p, f in zip(times["page"], times["fill"], strict=True)]
    base = statistics.median(times["floor"])
    print(f"{args.trace} ({count} events; the page {size / 1e6:.2f} MB), "
          f"median of {args.repeat} rounds, CPU seconds:")
    for name, measured in (*times.items(), ("html's own", own)):
        median = statistics.median(measured)
        print(f"  {name:10s} {median:8.3f} s  {median / base:6.2f} × the floor"
              f"  ({median / count * 1e6:.2f} µs an event)")


if __name__ == "__main__":
    main()
