"""``python -m benchmarks.reading_core [--repeat N] [TRACE]``: the reading core's speed,
side by side with the floor of any reader, in one run.

Rows (each timed in this process but the last; a trace of step detail, by default the
issue's ``/work/big/big.jsonl``, else the golden ch. 6 backprop trace):

- ``floor``: every line read and parsed (``pydantic_core.from_json``), nothing else;
- ``checked``: ``for event in reader: pass``: every event read and checked (well formed,
  consistent with the header, in order; the end line's count);
- ``checked+filled``: ``for event in complete_events(reader.header, reader): pass``: and
  every field a step trace leaves out filled in (what literate ``show``, ``html``,
  ``plot`` and ``diff`` read);
- ``book view``: ``book_lines(header, reader)``, every line made (what ``steptrace show
  TRACE --view book`` prints, without the command's start);
- ``steptrace show --view book``: the command, a process of its own (its start too), its
  output to /dev/null.

After one untimed round (the disk cache), each row runs once a round, ``--repeat`` rounds
(3 by default), in an order shuffled every round; each ratio is the median over the rounds
of the row's time divided by the floor's in the same round, so that a noisy shared
machine hits all alike. Nothing is asserted; the targets are printed beside the ratios.

``--row NAME`` runs one row once and prints its time (for ``/usr/bin/time -f %M``, the peak
memory of that row alone: ``/usr/bin/time -f %M python -m benchmarks.reading_core --row
checked+filled TRACE``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pydantic_core

from steptrace.trace.reader import open_trace
from steptrace.trace.state import complete_events
from steptrace.views.book import book_lines

BIG = Path("/work/big/big.jsonl")
GOLDEN = Path(__file__).resolve().parents[1] / "traces" / "ch06-streetlights-backprop.jsonl"
#: row: the issue's target, as a multiple of the floor
TARGETS = {"checked+filled": 2.5, "book view": 2.0, "steptrace show --view book": 2.0}


def floor(path: Path) -> None:
    parse = pydantic_core.from_json
    with open(path, "rb") as file:
        for line in file:
            parse(line)


def checked(path: Path) -> None:
    with open_trace(path) as reader:
        for _ in reader:
            pass


def filled(path: Path) -> None:
    with open_trace(path) as reader:
        for _ in complete_events(reader.header, reader):
            pass


def book(path: Path) -> None:
    with open_trace(path) as reader:
        for _ in book_lines(reader.header, reader):
            pass


def command(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "steptrace", "show", str(path), "--view", "book"],
                   check=True, stdout=subprocess.DEVNULL)


ROWS: dict[str, Callable[[Path], None]] = {
    "floor": floor, "checked": checked, "checked+filled": filled, "book view": book,
    "steptrace show --view book": command,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("trace", nargs="?", type=Path, default=BIG if BIG.exists() else GOLDEN)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--row", choices=list(ROWS), help="run this row once, print its time")
    args = parser.parse_args(argv)
    if args.row:
        start = time.perf_counter()
        ROWS[args.row](args.trace)
        print(f"{args.row}: {time.perf_counter() - start:.3f} s")
        return
    for run in ROWS.values():  # (untimed: the disk cache, the command's bytecode)
        run(args.trace)
    times: dict[str, list[float]] = {name: [] for name in ROWS}
    for _ in range(args.repeat):
        order = list(ROWS)
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            ROWS[name](args.trace)
            times[name].append(time.perf_counter() - start)
    print(f"{args.trace}: medians of {args.repeat} rounds, ratios to the floor of the same round")
    for name, spent in times.items():
        ratio = statistics.median(t / f for t, f in zip(spent, times["floor"], strict=True))
        target = f"   (target <= {TARGETS[name]}x)" if name in TARGETS else ""
        print(f"  {name:28} {statistics.median(spent):8.2f} s  {ratio:5.2f}x{target}")


if __name__ == "__main__":
    main()
