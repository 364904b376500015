"""The golden traces of one test session: which test claimed each, what was found and
written, which goldens no test used, and the summary printed at the end.

Under pytest-xdist each worker keeps a book of its own; the claims go through a directory
the workers share (one file per golden, created atomically, naming the test that claimed
it), and each worker's uses reach the controller's book (:meth:`GoldenBook.absorb`) for
the summary and the unused goldens. Nothing here imports pytest:
:mod:`steptrace.testing` holds the hooks. Nor anything heavy: the hooks keep a book in every
pytest session where steptrace is installed, so this module imports the standard library
alone at its start (:mod:`steptrace.goldens`, the judging, and :mod:`hashlib`, for the
claims pytest-xdist's workers share, when first needed).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

#: What became of a golden in a test: it agreed; it was written new or rewritten
#: (changed); or its test failed on it.
Outcome = Literal["agree", "new", "changed", "failed"]


@dataclass(frozen=True)
class GoldenUse:
    path: str  # absolute
    test: str  # the test's node id
    outcome: Outcome
    note: str = ""  # the comparison made (agree), the first change (changed), why (failed)


class Claims:
    """Which test uses each golden trace: one golden, one test. In one process a dict;
    across pytest-xdist's workers, files in a directory they share (hard-linked into place,
    so a claim is whole or absent, and the first claim wins)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._claimed: dict[str, str] = {}

    def claim(self, golden: Path, test: str) -> str | None:
        """Claim ``golden`` for ``test``; the other test that claimed it first, or None."""
        key = os.path.realpath(golden)
        if self.directory is None:
            return _other(self._claimed.setdefault(key, test), test)
        import hashlib

        claim = self.directory / hashlib.sha256(os.fsencode(key)).hexdigest()
        fd, name = tempfile.mkstemp(dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(test)
            os.link(name, claim)
        except FileExistsError:
            return _other(claim.read_text(encoding="utf-8"), test)
        finally:
            os.unlink(name)
        return None


def _other(claimed_by: str, test: str) -> str | None:
    return None if claimed_by == test else claimed_by  # (a test may check its golden twice)


@dataclass
class GoldenBook:
    """What a session did with golden traces."""

    claims: Claims = field(default_factory=Claims)
    uses: list[GoldenUse] = field(default_factory=list)
    deselected: int = 0
    uncollected: int = 0  # files or modules that failed to collect
    unfinished: int = 0  # tests of goldens that did not pass
    #: Filled in at the session's end: goldens no test used, and those removed.
    unused: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    not_looked_for: str = ""  # why the unused goldens were not looked for

    def note(self, golden: Path, test: str, outcome: Outcome, note: str = "") -> None:
        self.uses.append(GoldenUse(os.path.abspath(golden), test, outcome, note))

    def exported(self) -> dict[str, Any]:
        """This (worker's) book as plain data, for the controller's."""
        return {"uses": [asdict(use) for use in self.uses], "deselected": self.deselected,
                "uncollected": self.uncollected, "unfinished": self.unfinished}

    def absorb(self, data: dict[str, Any]) -> None:
        self.uses += [GoldenUse(**use) for use in data.get("uses", ())]
        self.deselected += int(data.get("deselected", 0))
        self.uncollected = max(self.uncollected, int(data.get("uncollected", 0)))
        self.unfinished += int(data.get("unfinished", 0))

    def find_unused(self, kept: Path | None = None) -> list[Path]:
        """The golden traces, in the directories of those this session used, that no test
        used: files named like a trace (``*.jsonl``, ``*.jsonl.gz``; not a kept fresh
        trace, ``*.new.jsonl``). ``kept``: the directory fresh traces are kept in (not a
        golden directory)."""
        from steptrace.goldens import is_golden_name

        used = {os.path.realpath(use.path) for use in self.uses}
        used |= {use.path for use in self.uses}
        directories = sorted({Path(use.path).parent for use in self.uses})
        skip = os.path.realpath(kept) if kept is not None else None
        found = []
        for directory in directories:
            if skip is not None and os.path.realpath(directory).startswith(skip):
                continue
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                path = directory / name
                if (is_golden_name(name) and (path.is_file() or path.is_symlink())
                        and str(path) not in used and os.path.realpath(path) not in used):
                    found.append(path)
        self.unused = found
        return found

    def summary(self, asked: bool, shown: Any = str, updating: bool = False) -> list[str]:
        """The lines printed at the session's end (none if no golden was used).
        ``asked``: the unused goldens were asked about (an update, or failing on them): a
        run that could not look for them says why. ``shown(path)``: how a path is
        printed."""
        if not self.uses and not self.unused:
            return []
        by: dict[Outcome, list[GoldenUse]] = {"agree": [], "new": [], "changed": [], "failed": []}
        for use in self.uses:
            by[use.outcome].append(use)
        ways: dict[str, int] = {}
        for use in by["agree"]:
            ways[use.note] = ways.get(use.note, 0) + 1
        lines = []
        if by["agree"]:
            lines.append(f"{'left as they were (they agree)' if updating else 'agree'}: "
                         f"{len(by['agree'])}")
            lines += [f"  {count} compared {way}" for way, count in ways.items()]
        lines += [f"written, new: {shown(Path(use.path))}" for use in by["new"]]
        lines += [f"written, changed: {shown(Path(use.path))}: {use.note}"
                  for use in by["changed"]]
        lines += [f"failed: {shown(Path(use.path))} in {use.test}: {use.note}"
                  for use in by["failed"]]
        if self.removed:
            lines += [f"unused, removed: {shown(path)}" for path in self.removed]
        kept_unused = [path for path in self.unused if path not in self.removed]
        if kept_unused:
            lines += [f"unused (no test of this run used it): {shown(path)}" for path in kept_unused]
            lines.append("  pytest --steptrace-update removes unused goldens "
                         "(--steptrace-keep-unused keeps them); --steptrace-fail-unused makes "
                         "them fail the run")
        if self.not_looked_for and asked:
            lines.append(f"unused goldens were not looked for: {self.not_looked_for}")
        return lines
