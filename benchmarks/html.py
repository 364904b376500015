"""``steptrace html``'s own work against the floor of reading: ``python -m benchmarks.html
TRACE [--repeat N]``.

Prints, as medians of CPU seconds over N rounds (each round runs every contender once,
side by side, so a noisy machine slows them alike), and as ratios to the floor:

- **floor**: every line of the trace parsed with ``pydantic_core.from_json``, nothing else;
- **read**: the trace read (from memory) as the page's writer reads it (the reader's
  steps: a repeating pass's as step lines), nothing else;
- **page**: the page written (``write_page``, to memory) of the same trace read from memory;
- **html's own**: page − read, each round's: filling in the state and html's own work (its
  recipes, columns, rows and blocks).

Each round reads the trace's bytes, held in memory, again (the page's writer fills in the
events it reads in place: events read once and handed out each round would come filled in).
The whole command, from the file, is timed by ``python -m benchmarks.reading --only html``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

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
    from steptrace.trace.reader import TraceReader
    from steptrace.views.html import write_page

    rules = registry()
    data = args.trace.read_bytes()
    if data[:2] == b"\x1f\x8b":
        raise SystemExit(f"{args.trace}: give an uncompressed trace")
    size = count = 0

    def read() -> None:
        nonlocal count
        with TraceReader(io.BytesIO(data), args.trace, data_dir=args.trace.parent) as reader:
            count = sum(1 for _ in reader.steps(("epoch_end",)))

    def page() -> None:
        nonlocal size
        out = io.BytesIO()
        with TraceReader(io.BytesIO(data), args.trace, data_dir=args.trace.parent) as reader:
            write_page(reader, out, rules, spill=io.BytesIO)
        size = out.tell()

    def floor_of() -> None:
        floor(data)

    times: dict[str, list[float]] = {"floor": [], "read": [], "page": []}
    for _ in range(args.repeat):
        for name, run in (("floor", floor_of), ("read", read), ("page", page)):
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    own = [p - r for p, r in zip(times["page"], times["read"], strict=True)]
    base = statistics.median(times["floor"])
    print(f"{args.trace} ({count} events; the page {size / 1e6:.2f} MB), "
          f"median of {args.repeat} rounds, CPU seconds:")
    for name, measured in (*times.items(), ("html's own", own)):
        median = statistics.median(measured)
        print(f"  {name:10s} {median:8.3f} s  {median / base:6.2f} × the floor"
              f"  ({median / count * 1e6:.2f} µs an event)")


if __name__ == "__main__":
    main()
