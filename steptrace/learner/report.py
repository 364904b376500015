"""What ``steptrace check`` says about a learner's script: as text, and as JSON.

A :class:`CheckReport` is truthy when the script follows the book's rules at every step
(and, with ``against``, agrees with the experiment in everything compared). Its text
names the first step that departs from the book — the variable, the script's line, the
learner's value, the book's formula with their operands plugged in and the value it gives,
and the likely mistake; its JSON (:meth:`CheckReport.to_dict`, ``"format":
"steptrace-check"``, ``"version": 1``) holds the same, for teachers' tools.
docs/check-your-code.md documents every key. A notebook cell's report also names what it
took from earlier cells (``%%steptrace_check``: :mod:`steptrace.learner.handover`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from steptrace.defaults import CHECK_RTOL, EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK
from steptrace.engine.rules import Array
from steptrace.learner.against import Comparison
from steptrace.learner.check import Lockstep
from steptrace.learner.mapping import LearnerRun
from steptrace.learner.prelude import PRELUDE_LINE
from steptrace.learner.rules import shown

FORMAT, VERSION = "steptrace-check", 1


def _json_numbers(value: Array) -> Any:
    """A value as JSON numbers (a number, or nested lists), NaN and infinities as the
    strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (as a trace writes them)."""
    def one(x: float) -> Any:
        if math.isfinite(x):
            return x
        return "NaN" if math.isnan(x) else "Infinity" if x > 0 else "-Infinity"

    listed = value.tolist()
    if not isinstance(listed, list):
        return one(listed)
    return [[one(x) for x in row] if isinstance(row, list) else one(row) for row in listed]


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 step``, ``240 steps``, ``1,680 assignments``."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


@dataclass(frozen=True)
class CheckReport:
    """A checked script: what it is, what was found, how it compares with an experiment."""

    script: str
    rtol: float
    atol: float
    run: LearnerRun | None = None
    lockstep: Lockstep | None = None
    against: Comparison | None = None
    error: str | None = None  # why the script could not be checked (it failed, ...)
    #: the names a notebook cell was handed from earlier cells (a script: none)
    from_earlier_cells: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``match``, ``diverged`` (or differs from the experiment), or ``failed``."""
        if self.error is not None or self.lockstep is None:
            return "failed"
        if self.lockstep.divergence is not None or (self.against is not None and not self.against.same):
            return "diverged"
        return "match"

    @property
    def exit_code(self) -> int:
        """The command line's: 0 match, 1 a divergence or a difference, 2 failed."""
        return {"match": EXIT_OK, "diverged": EXIT_MISMATCH, "failed": EXIT_BAD_INPUT}[self.status]

    def __bool__(self) -> bool:
        return self.status == "match"

    @property
    def tolerance(self) -> str:
        return f"within rtol {self.rtol:g}, atol {self.atol:g}"

    def network(self) -> str:
        """``3-4-1, relu then linear, alpha 0.2, stochastic, 60 passes of 4 samples``."""
        run = self.run
        assert run is not None
        strategy = run.strategy if run.strategy != "minibatch" else f"minibatch of {run.batch_size}"
        form = ", delta = goal − prediction with +=" if run.ascent else ""
        if run.delta_mean:
            form += ", the batch's mean taken in the delta (chapter 8)"
        text = (f"{'-'.join(map(str, run.shape.sizes))}, "
                f"{' then '.join(n.name for n in run.nonlinearities)}, alpha {run.alpha:g}, "
                f"{strategy}{form}, {plural(run.timeline.passes, 'pass', 'passes')} of "
                f"{plural(len(run.inputs), 'sample')}")
        # (what the run began with; where it changes course, say so)
        return text if run.unlike_a_run is None else f"{text} at first ({run.unlike_a_run})"

    def lines(self, with_error: bool = True) -> list[str]:
        """The report's text, line by line (``with_error``: the line saying why a failed script
        failed first, which the command line prints on stderr instead)."""
        if self.error is not None and self.lockstep is None:
            return ([self.error] if with_error else []) + self._taken()
        assert self.lockstep is not None and self.run is not None
        lockstep, steps = self.lockstep, len(self.run.timeline.steps)
        found = lockstep.divergence
        if found is None:
            lines = [f"{self.script} follows the book's rules: all {plural(lockstep.checked, 'assignment')} "
                     f"of its {plural(steps, 'step')} agree ({self.tolerance})",
                     f"  network: {self.network()}"]
        else:
            where = (f"sample {found.samples[0]}" if len(found.samples) == 1
                     else f"samples {found.samples[0]}-{found.samples[-1]}")
            head = f"{self.script} departs from the book at pass {found.epoch}, {where} (step " \
                   f"{found.step + 1} of {steps:,}), {self.run.captured.script.place(found.line)}:"
            expected = found.expected
            indent = " " * len(f"  the book:  {found.variable} ")
            lines = [head, f"    {found.statement}"]
            if found.shows_at is not None and self.run is not None:
                shows = self.run.captured.script.statement(found.shows_at)
                lines.append(f"  it shows at line {found.shows_at}: {shows}")
            if found.told is not None:  # the run as a whole: what it did, what the book's does
                lines += [f"  yours:     {found.told}", f"  the book:  {expected.formula}"]
            else:
                lines += [f"  yours:     {found.variable} = {shown(found.value)}",
                          f"  the book:  {expected.formula}",
                          f"{indent}= {expected.plugged}",
                          f"{indent}= {shown(expected.value)}"]
            if found.mistake is not None:
                also = (f" (the same numbers come from: {'; '.join(found.mistake.also)})"
                        if found.mistake.also else "")
                lines.append(f"  likely mistake: {found.mistake.title}: {found.mistake.detail}{also}")
            else:
                lines.append("  likely mistake: none of the common ones gives your value (see "
                             "`steptrace trace` to look at every step)")
                if found.difference is not None:
                    lines.append(f"  how it differs: {found.difference}")
                if (gap := _relative_gap(found.value, expected.value)) is not None and gap < 1e-4:
                    lines.append(f"  note: yours and the book's differ by {gap:.1e} of their size "
                                 "at most, past the digits shown: float32 numbers (the book's "
                                 "are float64)? If that is meant, loosen the check: --rtol "
                                 f"{max(10 ** (math.ceil(math.log10(gap)) + 1), CHECK_RTOL):g}")
            if found.note is not None:
                lines.append(f"  note: {found.note}")
            lines.append(f"  before it: {plural(found.step, 'step')} and "
                         f"{plural(lockstep.checked, 'assignment')} agree "
                         f"({self.tolerance}); "
                         f"network: {self.network()}")
        lines += self._taken()
        if self.error is not None:  # it failed, and had departed from the book before
            lines[0] = lines[0].replace(" departs from the book", " had departed from the book", 1)
            if with_error:
                lines.insert(0, self.error)
        if self.against is not None:
            verdict = "the same" if self.against.same else "differs"
            lines.append(f"against {self.against.experiment}: {verdict}")
            lines += [f"  {item.line()}" for item in self.against.items]
        return lines

    def _taken(self) -> list[str]:
        """The line naming what a notebook cell took from earlier cells (if anything)."""
        if not self.from_earlier_cells:
            return []
        return [f"  taken from earlier cells: {', '.join(self.from_earlier_cells)}"]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the text
        printer.text(str(self))

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON data (see docs/check-your-code.md)."""
        data: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "script": self.script, "status": self.status,
            "tolerance": {"rtol": self.rtol, "atol": self.atol}, "error": self.error,
            "network": None, "checked": None, "divergence": None, "against": None,
            "from_earlier_cells": list(self.from_earlier_cells)}
        if self.run is not None:
            run = self.run
            data["network"] = {
                "layers": list(run.shape.sizes), "nonlinearities": [n.name for n in run.nonlinearities],
                "alpha": run.alpha, "strategy": run.strategy, "batch_size": run.batch_size,
                "delta": "goal - prediction" if run.ascent else "prediction - goal",
                "delta_mean": run.delta_mean, "passes": run.timeline.passes, "samples": len(run.inputs),
                "steps": len(run.timeline.steps)}
        if self.lockstep is not None:
            data["checked"] = {"assignments": self.lockstep.checked, "steps": self.lockstep.steps}
            found = self.lockstep.divergence
            if found is not None:
                mistake = found.mistake
                data["divergence"] = {
                    "pass": found.epoch, "samples": list(found.samples), "step": found.step,
                    "kind": found.kind, "layer": found.layer, "variable": found.variable,
                    "line": None if found.line == PRELUDE_LINE else found.line, "statement": found.statement,
                    "value": None if found.told is not None else _json_numbers(found.value),
                    "formula": found.expected.formula, "plugged_in": found.expected.plugged,
                    "expected": None if found.told is not None else _json_numbers(found.expected.value),
                    "yours": found.told, "difference": found.difference, "note": found.note,
                    "shows_at": found.shows_at,
                    "mistake": None if mistake is None else {
                        "name": mistake.name, "title": mistake.title, "detail": mistake.detail,
                        "also": list(mistake.also)}}
        if self.against is not None:
            data["against"] = {"experiment": self.against.experiment, "same": self.against.same,
                               "items": [{"what": i.what, "same": i.same, "detail": i.detail}
                                         for i in self.against.items]}
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def _relative_gap(value: Array, expected: Array) -> float | None:
    """The largest |yours - the book's| / |the book's| over the entries, when every entry is
    finite and the book's non-zero (else None)."""
    with np.errstate(all="ignore"):
        a, b = np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
            return None
        scale = np.abs(b)
        if (scale == 0).any():
            return None
        return float(np.max(np.abs(a - b) / scale)) if a.size else None
