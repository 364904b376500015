"""The golden_trace fixture, run the way a plugin author's test suite runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import INSTALLED

pytest_plugins = ["pytester"]

TEST = """
from pathlib import Path

from steptrace.compare import Tolerance


def test_golden(golden_trace):
    golden_trace("ch06-streetlight-single-sample", Path("golden.jsonl"){extra})
"""


def nudge(path: Path, seq: int, field: str, factor: float) -> None:
    """Change one number of event ``seq`` in a trace file, by a relative ``factor``."""
    lines = path.read_text().splitlines()
    event = json.loads(lines[seq + 1])
    event[field][0][0] *= factor
    lines[seq + 1] = json.dumps(event, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def author(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    return pytester


def run(author: pytest.Pytester, extra: str = "", *args: str) -> pytest.RunResult:
    author.makepyfile(test_golden=TEST.format(extra=extra))
    kit = () if INSTALLED else ("-p", "steptrace.testing")  # (by entry point when installed)
    return author.runpytest_subprocess(*kit, *args)


def test_a_missing_golden_trace_is_written_and_the_test_fails(author: pytest.Pytester) -> None:
    result = run(author)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*golden trace golden.jsonl was missing: written now; look at "
                                 "it, then commit it*"])
    assert (author.path / "golden.jsonl").exists()
    run(author).assert_outcomes(passed=1)


def test_a_divergence_names_the_first_divergent_step_with_context(author: pytest.Pytester) -> None:
    run(author)
    nudge(author.path / "golden.jsonl", 7, "delta", 1 + 1e-9)
    result = run(author)
    result.assert_outcomes(failed=1)
    lines = result.stdout.lines
    start = lines.index("golden.jsonl: the run diverges from its golden trace")
    assert lines[start + 1] == "first divergence at event 7 (delta, epoch 1, samples [0], layer 1):"
    assert lines[start + 2].startswith("  field delta[0][0]: golden.jsonl -0.16000000015999993, ")
    assert lines[start + 2].endswith("fresh-golden.jsonl -0.15999999999999992 (|Δ| 1.6e-10, relative 1e-09)")
    assert lines[start + 3:start + 6] == [
        "  after event 5 (forward, epoch 1, samples [0], layer 1) (agrees)",
        "  after event 6 (error, epoch 1, samples [0], layer 1) (agrees)",
        "(rewrite it with pytest --steptrace-update if the change is intended)",
    ]


def test_a_tolerance_per_field(author: pytest.Pytester) -> None:
    run(author)
    nudge(author.path / "golden.jsonl", 7, "delta", 1 + 1e-9)
    # the delta moved, and with it the weight_delta and weights derived from it
    loose = (', fields={name: Tolerance(rtol=1e-6) for name in '
             '("delta", "weight_delta", "weights", "weighted_sum", "layer_out", "prediction", '
             '"error")}')
    run(author, loose).assert_outcomes(passed=1)
    elsewhere = ', fields={"weight_delta": Tolerance(rtol=1e-6)}'  # not all the fields that moved
    run(author, elsewhere).assert_outcomes(failed=1)


def test_update_rewrites_the_golden_trace(author: pytest.Pytester) -> None:
    run(author)
    nudge(author.path / "golden.jsonl", 7, "delta", 1 + 1e-9)
    run(author, "", "--steptrace-update").assert_outcomes(passed=1)
    run(author).assert_outcomes(passed=1)
