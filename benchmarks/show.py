"""``steptrace show`` against the floor of reading: ``python -m benchmarks.show TRACE
[--view literate|pressure|moves] [--repeat N]``.

Prints, as medians of CPU seconds over N rounds (each round runs every contender once,
side by side, so a noisy machine slows them alike), and as ratios to the floor:

- **floor**: every line of the trace parsed with ``pydantic_core.from_json``, nothing else;
- **view**: the view's own cost, over the trace's events read and completed beforehand
  (``view_lines`` over a list of complete events: numbers, text, the state's moves);
- **show**: ``steptrace show TRACE > /dev/null`` end to end, as a new process (its CPU time,
  user and system, so its startup is in it).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pydantic_core


def floor(path: Path) -> None:
    with open(path, "rb") as lines:
        for line in lines:
            pydantic_core.from_json(line)


def show(path: Path, view: str) -> float:
    """CPU seconds of ``steptrace show`` as a child process (its output to /dev/null)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.devnull, "w") as null:
        subprocess.run([sys.executable, "-m", "steptrace", "show", str(path), "--view", view],
                       stdout=null, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--view", default="literate", choices=("literate", "pressure", "moves"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-show", action="store_true", help="time the view alone")
    args = parser.parse_args(argv)

    from steptrace.plugins.loaded import registry
    from steptrace.trace.reader import open_trace
    from steptrace.trace.state import complete_events
    from steptrace.views.lines import view_lines
    from steptrace.views.text import Filters

    rules = registry()
    with open_trace(args.trace) as reader:
        header = reader.header
        events = list(complete_events(header, reader))

    def view() -> None:
        for _ in view_lines(header, iter(events), args.view, Filters(), None, rules):
            pass

    times: dict[str, list[float]] = {"floor": [], "view": [], "show": []}
    for _ in range(args.repeat):
        for name, run in (("floor", lambda: floor(args.trace)), ("view", view)):
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
        if not args.no_show:
            times["show"].append(show(args.trace, args.view))
    base = statistics.median(times["floor"])
    print(f"{args.trace} ({len(events)} events), --view {args.view}, "
          f"median of {args.repeat} rounds, CPU seconds:")
    for name, measured in times.items():
        if measured:
            median = statistics.median(measured)
            print(f"  {name:6s} {median:8.3f} s  {median / base:6.2f} × the floor"
                  f"  ({median / len(events) * 1e6:.2f} µs an event)")


if __name__ == "__main__":
    main()
