"""``steptrace html``'s own work against the floor of reading: ``python -m benchmarks.html
TRACE [--repeat N]``.

Prints, as medians of CPU seconds over N rounds (each round runs every contender once,
side by side, so a noisy machine slows them alike), and as ratios to the floor:

- **floor**: every line of the trace parsed with ``pydantic_core.from_json``, nothing else;
- **fill**: the trace's events (read beforehand) completed one by one by a
  :class:`~steptrace.trace.state.NetworkState`, as the page's writer completes them;
- **page**: the page written (``write_page``, to memory) of the same events read beforehand:
  filling them in, then html's own work (its recipes, rows, numbers and blocks);
- **html's own**: page − fill, each round's (what issue 28 asks be at most 2× the floor).

The events are held in memory: give it a trace of some 10⁵ events (the 10⁶-event one needs
some 2 GB). The whole command, reading included, is timed by ``python -m benchmarks.reading
--only html``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic_core


def floor(path: Path) -> None:
    with open(path, "rb") as lines:
        for line in lines:
            pydantic_core.from_json(line)


class Read:
    """A reader's stand-in that hands out events read beforehand."""

    def __init__(self, header: Any, events: list[Any], incomplete: str | None) -> None:
        self.header, self.events, self.incomplete = header, events, incomplete

    def __iter__(self) -> Iterator[Any]:
        return iter(self.events)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from steptrace.plugins.loaded import registry
    from steptrace.trace.reader import open_trace
    from steptrace.trace.state import NetworkState
    from steptrace.views.html import write_page

    rules = registry()
    with open_trace(args.trace) as reader:
        header = reader.header
        events = list(reader)
        incomplete = reader.incomplete
    size = 0

    def fill() -> None:
        state = NetworkState(header)
        for event in events:
            state.complete(event)

    def page() -> None:
        nonlocal size
        out = io.BytesIO()
        write_page(Read(header, events, incomplete), out, rules, spill=io.BytesIO)  # type: ignore[arg-type]
        size = out.tell()

    times: dict[str, list[float]] = {"floor": [], "fill": [], "page": []}
    for _ in range(args.repeat):
        for name, run in (("floor", lambda: floor(args.trace)), ("fill", fill), ("page", page)):
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    own = [p - f for p, f in zip(times["page"], times["fill"], strict=True)]
    base = statistics.median(times["floor"])
    print(f"{args.trace} ({len(events)} events; the page {size / 1e6:.2f} MB), "
          f"median of {args.repeat} rounds, CPU seconds:")
    for name, measured in (*times.items(), ("html's own", own)):
        median = statistics.median(measured)
        print(f"  {name:10s} {median:8.3f} s  {median / base:6.2f} × the floor"
              f"  ({median / len(events) * 1e6:.2f} µs an event)")


if __name__ == "__main__":
    main()
