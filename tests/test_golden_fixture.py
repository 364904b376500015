"""The golden_trace fixture, run the way a project's test suite runs it: a project of its
own (pytester), run in a subprocess, serially and under pytest-xdist's ``-n 2``. Each of
the ways a golden can fail a CI (a golden that heals itself, updates that rewrite what
agreed, two tests on one golden, a golden of less detail, a config change, blas goldens,
unused goldens, damaged goldens) is exercised, and each message is pinned."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import INSTALLED, ROOT, RunCli

pytest_plugins = ["pytester"]

EXPERIMENTS = ROOT / "plugins" / "steptrace_builtins" / "experiments"

#: The project's tests: two goldens of built-ins, and one of the project's own experiment
#: file (mine.toml), compared within a tolerance of the test's own when asked.
PROJECT = '''
from pathlib import Path

from steptrace.compare import Tolerance

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"


def test_single(golden_trace):
    golden_trace("ch06-streetlight-single-sample", GOLDEN / "single.jsonl"{single})


def test_step(golden_trace):
    golden_trace("ch05-multi-input-one-step", GOLDEN / "step.jsonl")


def test_mine(golden_trace):
    golden_trace(HERE / "mine.toml", GOLDEN / "mine.jsonl"{mine})
'''

#: Two tests that name one golden (with different experiments).
SHARING = '''
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def test_first(golden_trace):
    golden_trace("ch06-streetlight-single-sample", GOLDEN / "shared.jsonl")


def test_second(golden_trace):
    golden_trace("ch05-multi-input-one-step", GOLDEN / "shared.jsonl")
'''


class Project:
    """A project with golden traces, its suite run as its CI would run it."""

    def __init__(self, pytester: pytest.Pytester, xdist: bool, source: str | None = PROJECT) -> None:
        self.pytester = pytester
        self.xdist = xdist
        self.path = pytester.path
        self.golden = pytester.path / "golden"
        if source is not None:
            self.write(source=source)
            shutil.copy(EXPERIMENTS / "ch06-streetlight-single-sample.toml",
                        self.path / "mine.toml")

    def write(self, single: str = "", mine: str = "", source: str = PROJECT) -> None:
        self.pytester.makepyfile(test_goldens=source.format(single=single, mine=mine))

    def run(self, *args: str, apart: bool = False) -> pytest.RunResult:
        """The suite run: in this process (quick), in a process of its own (``apart``: what
        pytest prints to the terminal itself), or in pytest-xdist's two workers."""
        kit = () if INSTALLED else ("-p", "steptrace.testing")  # (by entry point when installed)
        if apart:
            return self.pytester.runpytest_subprocess(*kit, "-p", "no:xdist", *args)
        if self.xdist:
            return self.pytester.runpytest_subprocess(*kit, "-n", "2", "-p", "no:benchmark",
                                                      *args)
        return self.pytester.runpytest_inprocess(*kit, "-p", "no:xdist", "-p", "no:benchmark",
                                                 "-p", "no:hypothesispytest",
                                                 *args)

    def recorded(self) -> None:
        """Every golden written (the first run fails on each: they were missing)."""
        self.run().assert_outcomes(failed=3)
        self.run().assert_outcomes(passed=3)

    def set_alpha(self, alpha: float) -> None:
        toml = self.path / "mine.toml"
        toml.write_text(re.sub(r"(?m)^alpha = .*$", f"alpha = {alpha}", toml.read_text()))


def test_the_golden_pages_first_test_runs_as_written(pytester: pytest.Pytester, run_cli: RunCli,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/golden-traces.md's first golden test, its experiment file made as the page says,
    run twice with every warning an error (a variant made by model_copy with a dict for
    strategy made pydantic warn): the first run writes the three goldens and fails, the
    second passes and ends with the summary the page shows."""
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.delenv("CI", raising=False)
    page = (ROOT / "docs" / "golden-traces.md").read_text(encoding="utf-8")
    start = page.index("```python\n# tests/test_golden.py\n") + len("```python\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_golden.py").write_text(page[start:page.index("```", start)])
    assert "steptrace experiments --show ch06-streetlights-backprop > tests/backprop.toml" in page
    (pytester.path / "tests" / "backprop.toml").write_text(
        run_cli("experiments", "--show", "ch06-streetlights-backprop").stdout)
    kit = () if INSTALLED else ("-p", "steptrace.testing")
    # (every warning an error; not pytest-benchmark's own, which warns under this suite's -n 2)
    quiet = ("-p", "no:xdist", "-p", "no:benchmark", "-W", "error")
    first = pytester.runpytest_subprocess(*kit, *quiet, "tests")
    first.assert_outcomes(failed=3)
    assert "Warning" not in first.stdout.str()
    second = pytester.runpytest_subprocess(*kit, *quiet, "tests")
    second.assert_outcomes(passed=3)
    summary = page[page.index("The next run passes:\n\n```\n") + len("The next run passes:\n\n```\n"):]
    summary = summary[:summary.index("```")]
    assert summary in second.stdout.str() + "\n"
    assert sorted(path.name for path in (pytester.path / "tests" / "golden").iterdir()) == [
        "backprop-minibatch.jsonl", "backprop.jsonl", "book-backprop.jsonl"]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project whose suite runs serially (the cases under xdist: the last test)."""
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.delenv("CI", raising=False)  # (this suite's own CI may set it)
    return Project(pytester, xdist=False)


def nudge(path: Path, kind: str, field: str, factor: float) -> None:
    """Change the first number of the first ``kind`` event of a trace by ``factor``."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines[1:], 1):
        event = json.loads(line)
        if event["kind"] == kind:
            event[field][0][0] *= factor
            lines[i] = json.dumps(event, separators=(",", ":"))
            break
    path.write_text("\n".join(lines) + "\n")


def failure(result: pytest.RunResult, test: str) -> list[str]:
    """The lines of ``test``'s failure section (between its header and the next one)."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"_+ {test} _+", line))
    end = next(i for i, line in enumerate(lines[start + 1:], start + 1)
               if line.startswith(("___", "===")))
    return [line for line in lines[start + 1:end] if not re.match(r"\[gw\d+\] ", line)]


def summary(result: pytest.RunResult) -> list[str]:
    """The lines of the session's "steptrace golden traces" summary."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "steptrace golden traces" in line)
    end = next((i for i, line in enumerate(lines[start + 1:], start + 1)
                if line.startswith("===")), len(lines))
    return lines[start + 1:end]


# 1. A missing golden never heals itself in CI.

def test_a_missing_golden_is_written_and_its_test_fails(project: Project) -> None:
    result = project.run()
    result.assert_outcomes(failed=3)
    assert failure(result, "test_single") == [
        "golden trace golden/single.jsonl was missing: written now; look at it "
        "(steptrace show golden/single.jsonl), then commit it"]
    assert sorted(summary(result)) == [f"written, new: golden/{name}.jsonl"
                                       for name in ("mine", "single", "step")]
    assert sorted(p.name for p in project.golden.iterdir()) == ["mine.jsonl", "single.jsonl",
                                                               "step.jsonl"]
    again = project.run()
    again.assert_outcomes(passed=3)
    assert summary(again) == [
        "agree: 3", "  3 compared bit for bit (the default for exact arithmetic, as steptrace "
        "replay's)"]


@pytest.mark.parametrize("ci", [("CI", "true"), ("CI", "1"), ("flag", "--steptrace-ci")])
def test_in_ci_a_missing_golden_fails_and_nothing_is_written(
        project: Project, monkeypatch: pytest.MonkeyPatch, ci: tuple[str, str]) -> None:
    if ci[0] == "CI":
        monkeypatch.setenv("CI", ci[1])
    args = (ci[1],) if ci[0] == "flag" else ()
    why = "--steptrace-ci" if ci[0] == "flag" else f"CI={ci[1]}"
    for _ in range(2):  # a retry fails as the first run did
        result = project.run(*args)
        result.assert_outcomes(failed=3)
        assert failure(result, "test_step") == [
            f"golden trace golden/step.jsonl is missing, and nothing is written in CI mode "
            f"({why}): record it where you work with pytest --steptrace-update "
            "test_goldens.py::test_step, look at it, and commit it"]
        assert not project.golden.exists()


def test_ci_false_is_not_ci(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    project.run().assert_outcomes(failed=3)
    assert (project.golden / "step.jsonl").exists()


def test_an_update_in_ci_mode_is_refused(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``addopts = --steptrace-update`` would make every CI run green: CI mode wins."""
    monkeypatch.setenv("CI", "true")
    result = project.run("--steptrace-update", apart=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        "ERROR: --steptrace-update writes golden traces, and CI mode (CI=true) writes none: "
        "update them where you work, or, for a job meant to refresh them, run it with CI unset "
        "(CI= pytest --steptrace-update)"]
    assert not project.golden.exists()


def test_in_ci_a_missing_goldens_fresh_trace_is_kept_where_asked(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = project.run("--steptrace-keep", "fresh")
    result.assert_outcomes(failed=3)
    assert failure(result, "test_step")[0].endswith(
        "look at it, and commit it; the fresh trace is kept at fresh/golden/step.new.jsonl")
    assert not project.golden.exists()
    assert sorted(p.name for p in (project.path / "fresh" / "golden").iterdir()) == [
        "mine.new.jsonl", "single.new.jsonl", "step.new.jsonl"]


# 2. An update rewrites only what fails, and says what it wrote.

def test_update_rewrites_only_the_goldens_that_fail_and_lists_them(project: Project) -> None:
    project.write(mine=", tolerance=Tolerance(rtol=1e-9)")
    project.recorded()
    step, single, mine = (project.golden / f"{n}.jsonl" for n in ("step", "single", "mine"))
    recorded = step.read_bytes()
    nudge(step, "delta", "delta", 1 + 1e-9)  # a real change
    nudge(mine, "delta", "delta", 1 + 1e-12)  # within the test's tolerance
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (single, mine)}
    result = project.run("--steptrace-update")
    result.assert_outcomes(passed=3)
    assert sorted(summary(result)) == sorted([
        "left as they were (they agree): 2",
        "  1 compared bit for bit (the default for exact arithmetic, as steptrace replay's)",
        "  1 compared within rtol 1e-09, atol 0 (the test's tolerance)",
        "written, changed: golden/step.jsonl: first divergence at event 2 (delta, epoch 0, "
        "samples [0], layer 1)"])
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in before} == before
    assert step.read_bytes() == recorded
    project.run().assert_outcomes(passed=3)


def test_update_under_another_cpu_setting_rewrites_nothing(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.recorded()
    before = {path: path.read_bytes() for path in project.golden.iterdir()}
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")  # recorded in a fresh header
    result = project.run("--steptrace-update")
    result.assert_outcomes(passed=3)
    assert summary(result)[0] == "left as they were (they agree): 3"
    assert {path: path.read_bytes() for path in project.golden.iterdir()} == before


# 3. One golden, one test.

def test_two_tests_naming_one_golden_fail_naming_both(project: Project) -> None:
    project.write(source=SHARING)
    # missing (the first claim writes it), updated (only the first claim writes), agreed
    for run, args in enumerate(((), ("--steptrace-update",), ())):
        result = project.run(*args)
        result.assert_outcomes(passed=min(run, 1), failed=2 - min(run, 1))
        [both] = [line for line in result.stdout.lines if "is the golden trace of two" in line]
        assert re.fullmatch(
            r"golden/shared.jsonl is the golden trace of two tests, test_goldens.py::"
            r"test_(first|second) and test_goldens.py::test_(first|second): give each test a "
            r"golden file of its own", both)
        assert "test_first" in both and "test_second" in both
        assert json.loads((project.golden / "shared.jsonl").read_text().splitlines()[0])


# 4. Never compare less than the test asks.

def test_a_golden_of_the_passes_alone_fails_unless_the_test_asks_for_them(
        project: Project) -> None:
    project.write(single=', detail="epoch"')
    project.recorded()
    single = project.golden / "single.jsonl"
    assert json.loads(single.read_text().splitlines()[0])["detail"] == "epoch"
    project.write()  # the test now compares every event
    result = project.run()
    result.assert_outcomes(passed=2, failed=1)
    assert failure(result, "test_single") == [
        "golden/single.jsonl: the golden trace holds the passes' ends alone (recorded with "
        "--detail epoch), and this test compares every event: rewrite it with "
        "--steptrace-update (it records every event), or give golden_trace detail=\"epoch\" to "
        "compare the passes alone",
        "the fresh trace is kept at golden/single.new.jsonl",
        "look: steptrace show golden/single.new.jsonl",
        "if the change is intended: pytest --steptrace-update test_goldens.py::test_single "
        "rewrites it"]
    result = project.run("--steptrace-update")
    result.assert_outcomes(passed=3)
    assert "written, changed: golden/single.jsonl: held the passes alone (detail epoch)" in \
        summary(result)
    assert json.loads(single.read_text().splitlines()[0])["detail"] == "step"
    assert not (project.golden / "single.new.jsonl").exists()
    project.run().assert_outcomes(passed=3)


# 5. A failure says what changed, what was compared, and how to look.

def test_a_config_change_names_the_field_and_keeps_the_fresh_trace(
        project: Project, run_cli: RunCli) -> None:
    project.recorded()
    project.set_alpha(0.3)
    result = project.run()
    result.assert_outcomes(passed=2, failed=1)
    assert failure(result, "test_mine") == [
        "golden/mine.jsonl: the run differs from its golden trace, compared bit for bit (the "
        "default for exact arithmetic, as steptrace replay's)",
        "the headers differ in what ran:",
        "  config field alpha: golden/mine.jsonl 0.1, golden/mine.new.jsonl 0.3 "
        "(|Δ| 0.2, relative 0.667)",
        "first divergence at event 3 (update, epoch 0, samples [0], layer 1):",
        "  field alpha: golden/mine.jsonl 0.1, golden/mine.new.jsonl 0.3 (|Δ| 0.2, relative 0.667)",
        "  after event 1 (error, epoch 0, samples [0], layer 1) (agrees)",
        "  after event 2 (delta, epoch 0, samples [0], layer 1) (agrees)",
        "  likely cause: the headers differ in what ran (above)",
        "the fresh trace is kept at golden/mine.new.jsonl",
        "look: steptrace diff golden/mine.jsonl golden/mine.new.jsonl",
        "if the change is intended: pytest --steptrace-update test_goldens.py::test_mine "
        "rewrites it"]
    assert "failed: golden/mine.jsonl in test_goldens.py::test_mine: config field alpha: " \
        "golden/mine.jsonl 0.1, golden/mine.new.jsonl 0.3 (|Δ| 0.2, relative 0.667)" \
        in summary(result)
    # the command it ends with works, and says the same
    os.chdir(project.path)
    look = run_cli("diff", "golden/mine.jsonl", "golden/mine.new.jsonl")
    assert look.exit_code == 1
    assert "  config field alpha: golden/mine.jsonl 0.1, golden/mine.new.jsonl 0.3 " \
        "(|Δ| 0.2, relative 0.667)" in look.stdout.splitlines()
    # kept elsewhere when asked (a CI keeps that directory)
    kept = project.run("--steptrace-keep", "fresh")
    kept.stdout.fnmatch_lines(["look: steptrace diff golden/mine.jsonl fresh/golden/mine.new.jsonl"])
    assert (project.path / "fresh" / "golden" / "mine.new.jsonl").is_file()
    # once it agrees again, the fresh trace beside it goes
    project.set_alpha(0.1)
    project.run().assert_outcomes(passed=3)
    assert not (project.golden / "mine.new.jsonl").exists()
    assert sorted(p.name for p in project.golden.iterdir()) == ["mine.jsonl", "single.jsonl",
                                                               "step.jsonl"]


# 6. A blas golden is compared as replay compares a blas trace, and says so.

def test_a_blas_golden_is_compared_within_replays_tolerance(project: Project) -> None:
    toml = project.path / "mine.toml"
    toml.write_text(toml.read_text().replace('arithmetic = "exact"', 'arithmetic = "blas"'))
    project.recorded()
    mine = project.golden / "mine.jsonl"
    nudge(mine, "delta", "delta", 1 + 1e-14)  # a last-digits difference, as between CPUs
    result = project.run()
    result.assert_outcomes(passed=3)
    assert "  1 compared within rtol 1e-12, atol 1e-15 (the default for blas arithmetic, as " \
        "steptrace replay's)" in summary(result)
    nudge(mine, "delta", "delta", 1 + 1e-9)
    result = project.run()
    result.assert_outcomes(passed=2, failed=1)
    assert failure(result, "test_mine")[0] == (
        "golden/mine.jsonl: the run differs from its golden trace, compared within rtol "
        "1e-12, atol 1e-15 (the default for blas arithmetic, as steptrace replay's)")


# 7. Unused goldens.

def test_unused_goldens_are_reported_removed_on_update_and_can_fail_the_run(
        project: Project) -> None:
    project.recorded()
    old = project.golden / "old.jsonl"
    shutil.copy(project.golden / "step.jsonl", old)
    (project.golden / "old.new.jsonl").write_text("a kept fresh trace is not a golden\n")
    result = project.run()
    result.assert_outcomes(passed=3)
    assert summary(result)[-2:] == [
        "unused (no test of this run used it): golden/old.jsonl",
        "  pytest --steptrace-update removes unused goldens (--steptrace-keep-unused keeps "
        "them); --steptrace-fail-unused makes them fail the run"]
    assert result.ret == 0
    failing = project.run("--steptrace-fail-unused")
    failing.assert_outcomes(passed=3)
    assert failing.ret == 1
    assert summary(failing)[-1] == "the run fails: golden traces no test used " \
        "(--steptrace-fail-unused)"
    # only a whole run looks for them: a run of some tests cannot tell
    some = project.run("--steptrace-update", "test_goldens.py::test_step")
    assert summary(some)[-1] == "unused goldens were not looked for: only the tests named on " \
        "the command line ran"
    assert old.exists()
    keep = project.run("-k", "single or step or mine", "--steptrace-update")
    assert old.exists() and "-k or -m chose the tests" in summary(keep)[-1]
    project.run("--steptrace-update", "--steptrace-keep-unused").assert_outcomes(passed=3)
    assert old.exists()
    removed = project.run("--steptrace-update")
    assert summary(removed)[-1] == "unused, removed: golden/old.jsonl"
    assert not old.exists()


# 8. Damage is one failure line, and an update repairs it.

DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "empty": (lambda data: b"", "1: empty file: not a steptrace trace (record one with "
              "steptrace record)"),
    "truncated": (lambda data: data[: data.index(b"\n") + 40],  # in the first event
                  "truncated in the middle of a line; re-record the trace"),
    "gzip": (lambda data: gzip.compress(data), "1: gzip-compressed, but its name does not end "
             "in .gz: rename it step.jsonl.gz, or decompress it (gunzip -c)"),
    "schema": (lambda data: data.replace(b'"schema_version":1', b'"schema_version":99', 1),
               "1: written with trace schema 99; this steptrace"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_golden_is_one_failure_line(project: Project, damage: str) -> None:
    project.recorded()
    step = project.golden / "step.jsonl"
    damaged, reason = DAMAGE[damage]
    step.write_bytes(damaged(step.read_bytes()))
    result = project.run()
    result.assert_outcomes(passed=2, failed=1)
    assert "Traceback" not in result.stdout.str()
    lines = failure(result, "test_step")
    assert lines[0].startswith(f"the golden trace cannot be read: {step}:")
    assert reason in lines[0]
    assert lines[1:] == [
        "the fresh trace is kept at golden/step.new.jsonl",
        "look: steptrace show golden/step.new.jsonl",
        "if the change is intended: pytest --steptrace-update test_goldens.py::test_step "
        "rewrites it"]
    repaired = project.run("--steptrace-update")
    repaired.assert_outcomes(passed=3)
    assert any(line.startswith("written, changed: golden/step.jsonl: could not be read: ")
               for line in summary(repaired))
    project.run().assert_outcomes(passed=3)


def test_an_experiment_that_does_not_run_is_one_failure_line(project: Project) -> None:
    project.write(single=', plugins_dir=HERE / "nowhere"')
    (project.path / "mine.toml").write_text('name = "mine"\nlayers = [3, 1]\n')
    result = project.run()
    result.assert_outcomes(failed=3)
    assert "Traceback" not in result.stdout.str()
    assert failure(result, "test_mine") == [
        f"golden_trace('mine.toml', 'golden/mine.jsonl'): {project.path / 'mine.toml'}: "
        "nonlinearities: Field required (and 3 more problem(s))"]
    assert failure(result, "test_single") == [
        "golden_trace('ch06-streetlight-single-sample', 'golden/single.jsonl'): plugins "
        f"directory {project.path / 'nowhere'} does not exist (--plugins-dir / "
        "$STEPTRACE_PLUGINS_DIR)"]


def test_a_misused_fixture_is_one_failure_line(project: Project) -> None:
    project.write(single=', detail="passes"')
    (project.path / "mine.toml").unlink()
    project.pytester.makepyfile(test_goldens=PROJECT.format(single=', detail="passes"', mine="")
                                .replace('GOLDEN / "step.jsonl"', 'GOLDEN / "step.new.jsonl"'))
    result = project.run()
    result.assert_outcomes(failed=3)
    assert failure(result, "test_single") == [
        "golden_trace: detail='passes': give \"epoch\" (the passes' ends alone), \"all\" (every "
        "field of every event, none derived), or None (every event)"]
    assert failure(result, "test_step") == [
        "golden_trace: golden/step.new.jsonl: a name ending in .new.jsonl is a fresh trace kept "
        "beside its golden (it is removed once the golden agrees): name the golden otherwise"]
    assert not project.golden.exists()


def test_a_run_with_collection_errors_does_not_look_for_unused_goldens(project: Project) -> None:
    project.recorded()
    shutil.copy(project.golden / "step.jsonl", project.golden / "old.jsonl")
    project.pytester.makepyfile(test_broken="import a_module_that_is_not_there")
    result = project.run("--continue-on-collection-errors", "--steptrace-update")
    result.assert_outcomes(passed=3, errors=1)
    assert summary(result)[-1] == ("unused goldens were not looked for: 1 test file could not "
                                   "be collected")
    assert (project.golden / "old.jsonl").exists()


# What a maintainer trying it found (each once a way to lose or misread a golden).

def test_keeping_fresh_traces_at_the_root_never_touches_a_golden(project: Project) -> None:
    project.recorded()
    before = {path: path.read_bytes() for path in project.golden.iterdir()}
    project.run("--steptrace-keep", ".").assert_outcomes(passed=3)
    assert {path: path.read_bytes() for path in project.golden.iterdir()} == before
    project.set_alpha(0.3)
    result = project.run("--steptrace-keep", ".")
    result.assert_outcomes(passed=2, failed=1)
    assert "the fresh trace is kept at golden/mine.new.jsonl" in failure(result, "test_mine")
    assert {path: path.read_bytes() for path in before} == before


def test_an_update_keeps_the_golden_of_a_test_that_failed_before_reaching_it(
        project: Project) -> None:
    project.recorded()
    project.pytester.makepyfile(test_goldens=PROJECT.format(single="", mine="").replace(
        "def test_step(golden_trace):\n", "def test_step(golden_trace):\n    assert False\n"))
    result = project.run("--steptrace-update")
    result.assert_outcomes(passed=2, failed=1)
    assert summary(result)[-1] == (
        "unused goldens were not looked for: 1 test of golden traces did not pass (failed, "
        "skipped or errored), so may not have reached every golden")
    assert (project.golden / "step.jsonl").exists()


@pytest.mark.parametrize("args", [(".",), ("test_goldens.py",)], ids=["root", "file"])
def test_a_path_that_holds_the_whole_suite_is_a_whole_run(project: Project,
                                                          args: tuple[str, ...]) -> None:
    project.recorded()
    shutil.copy(project.golden / "step.jsonl", project.golden / "old.jsonl")
    result = project.run("--steptrace-fail-unused", *args)
    if args == (".",):
        assert result.ret == 1 and "unused (no test of this run used it): golden/old.jsonl" in \
            summary(result)
    else:  # a file names some tests, whatever it holds
        assert result.ret == 0 and summary(result)[-1] == (
            "unused goldens were not looked for: only the tests named on the command line ran")


def test_the_commands_work_from_where_pytest_was_started(
        project: Project, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pytester.makeini("[pytest]\n")  # the project's root, above where pytest starts
    tests = project.path / "tests"
    tests.mkdir()
    (project.path / "test_goldens.py").rename(tests / "test_goldens.py")
    (project.path / "mine.toml").rename(tests / "mine.toml")
    monkeypatch.chdir(tests)
    project.recorded()
    toml = tests / "mine.toml"
    toml.write_text(toml.read_text().replace("alpha = 0.1", "alpha = 0.3"))
    result = project.run()
    assert any(line.startswith("failed: golden/mine.jsonl in tests/test_goldens.py::test_mine")
               for line in summary(result))  # (its node id: from the root, a level up)
    lines = failure(result, "test_mine")
    assert lines[-2:] == [
        "look: steptrace diff golden/mine.jsonl golden/mine.new.jsonl",
        "if the change is intended: pytest --steptrace-update test_goldens.py::test_mine "
        "rewrites it"]
    assert run_cli("diff", "golden/mine.jsonl", "golden/mine.new.jsonl").exit_code == 1
    project.run("--steptrace-update", "test_goldens.py::test_mine").assert_outcomes(passed=1)
    project.run().assert_outcomes(passed=3)


def test_a_blas_goldens_look_command_compares_as_the_test_did(project: Project) -> None:
    toml = project.path / "mine.toml"
    toml.write_text(toml.read_text().replace('arithmetic = "exact"', 'arithmetic = "blas"'))
    project.recorded()
    nudge(project.golden / "mine.jsonl", "delta", "delta", 1 + 1e-9)
    project.write(mine=', fields={"weights": Tolerance(rtol=1e-6)}')
    lines = failure(project.run(), "test_mine")
    assert lines[-2] == (
        "look: steptrace diff --rtol 1e-12 --atol 1e-15 golden/mine.jsonl golden/mine.new.jsonl "
        "(it compares every field so; the test gave weights tolerances of their own)")


@pytest.mark.parametrize("what", ["link", "directory"])
def test_a_golden_that_is_a_link_or_a_directory_is_not_rewritten(project: Project,
                                                                  what: str) -> None:
    project.recorded()
    step = project.golden / "step.jsonl"
    if what == "link":
        step.rename(project.path / "elsewhere.jsonl")
        step.symlink_to(project.path / "elsewhere.jsonl")
        project.run().assert_outcomes(passed=3)  # (read through the link)
        nudge(project.path / "elsewhere.jsonl", "delta", "delta", 2.0)
        reason = ("golden/step.jsonl is a symbolic link (to "
                  f"{project.path / 'elsewhere.jsonl'}): a golden trace is not rewritten through "
                  "a link; make it a file of its own, or give the test the path it points to")
    else:
        step.unlink()
        step.mkdir()
        reason = "golden/step.jsonl is not a file (a directory?): remove it, or name another golden"
    result = project.run("--steptrace-update")
    result.assert_outcomes(passed=2, failed=1)
    assert failure(result, "test_step")[-1] == f"the golden trace is not rewritten: {reason}"


@pytest.mark.parametrize("mistake", ["fields", "name"])
def test_a_misnamed_field_or_golden_is_refused(project: Project, mistake: str) -> None:
    if mistake == "fields":
        project.write(single=', fields={"wieghts": Tolerance(rtol=1e-9)}')
        expected = ("golden_trace: fields={'wieghts': ...}: not a field of any event; the fields "
                    "are alpha, delta, derivative, details, epoch, error, goal, kind, layer, "
                    "layer_in, layer_out, nonlinearity, prediction, rule, samples, seq, "
                    "test_error, weight_delta, weighted_sum, weights")
    else:
        project.pytester.makepyfile(test_goldens=PROJECT.format(single="", mine="").replace(
            '"single.jsonl"', '"single.json"'))
        expected = ("golden_trace: golden/single.json: a golden trace's name ends in .jsonl (or "
                    ".jsonl.gz, compressed)")
    result = project.run()
    assert failure(result, "test_single") == [expected]
    assert not (project.golden / "single.json").exists()


def test_a_compressed_golden_rewritten_is_the_same_bytes(project: Project) -> None:
    project.pytester.makepyfile(test_goldens=PROJECT.format(single="", mine="").replace(
        '"single.jsonl"', '"single.jsonl.gz"'))
    project.recorded()
    single = project.golden / "single.jsonl.gz"
    recorded = single.read_bytes()
    single.unlink()
    project.run("--steptrace-update").assert_outcomes(passed=3)
    assert single.read_bytes() == recorded  # (gzip's header holds no time)


@pytest.mark.skipif(not INSTALLED, reason="the plugin is registered by its entry point "
                    "only when steptrace is installed")
def test_the_plugin_is_named_steptrace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_goldens=PROJECT.format(single="", mine=""))
    result = pytester.runpytest_subprocess("-p", "no:steptrace")
    result.stdout.fnmatch_lines(["*fixture 'golden_trace' not found*"])


# 1-8 at once, under pytest-xdist: the workers share the claims, and the controller's
# summary holds what each worker found and wrote.

EVERY_CASE = '''
from pathlib import Path

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"


def test_missing(golden_trace):
    golden_trace("ch04-hot-cold-up", GOLDEN / "missing.jsonl")


def test_agrees(golden_trace):
    golden_trace("ch06-streetlight-single-sample", GOLDEN / "agrees.jsonl")


def test_first(golden_trace):
    golden_trace("ch06-streetlight-single-sample", GOLDEN / "shared.jsonl")


def test_second(golden_trace):
    golden_trace("ch05-multi-input-one-step", GOLDEN / "shared.jsonl")


def test_epoch(golden_trace):
    golden_trace("ch06-streetlight-single-sample", GOLDEN / "epoch.jsonl")


def test_mine(golden_trace):
    golden_trace(HERE / "mine.toml", GOLDEN / "mine.jsonl")


def test_blas(golden_trace):
    golden_trace(HERE / "blas.toml", GOLDEN / "blas.jsonl")


def test_damaged(golden_trace):
    golden_trace("ch05-multi-input-one-step", GOLDEN / "damaged.jsonl")
'''


def test_every_case_under_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                run_cli: RunCli) -> None:
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.delenv("CI", raising=False)
    serial, parallel = Project(pytester, xdist=False), Project(pytester, xdist=True)
    serial.write(source=EVERY_CASE)
    blas = (EXPERIMENTS / "ch06-streetlight-single-sample.toml").read_text()
    (serial.path / "blas.toml").write_text(blas.replace('"exact"', '"blas"'))
    serial.run("--steptrace-update").assert_outcomes(passed=7, failed=1)  # (the shared one)
    golden = serial.golden
    (golden / "missing.jsonl").unlink()  # 1
    run_cli("record", "ch06-streetlight-single-sample", "--detail", "epoch", "-o",  # 4
            golden / "epoch.jsonl")
    serial.set_alpha(0.3)  # 5
    nudge(golden / "blas.jsonl", "delta", "delta", 1 + 1e-14)  # 6: within replay's tolerance
    shutil.copy(golden / "agrees.jsonl", golden / "unused.jsonl")  # 7
    damaged = golden / "damaged.jsonl"  # 8
    damaged.write_bytes(DAMAGE["truncated"][0](damaged.read_bytes()))
    untouched = {name: (golden / name).read_bytes() for name in ("agrees.jsonl", "blas.jsonl")}

    monkeypatch.setenv("CI", "true")
    result = parallel.run()
    result.assert_outcomes(passed=3, failed=5)
    assert failure(result, "test_missing")[0].startswith(
        "golden trace golden/missing.jsonl is missing, and nothing is written in CI mode (CI=true)")
    assert not (golden / "missing.jsonl").exists()
    result.stdout.fnmatch_lines(["golden/shared.jsonl is the golden trace of two tests, *"])
    assert failure(result, "test_epoch")[0].startswith(
        "golden/epoch.jsonl: the golden trace holds the passes' ends alone")
    assert "  config field alpha: golden/mine.jsonl 0.1, golden/mine.new.jsonl 0.3 (|Δ| 0.2, " \
        "relative 0.667)" in failure(result, "test_mine")
    assert "truncated in the middle of a line" in failure(result, "test_damaged")[0]
    lines = summary(result)
    assert "  1 compared within rtol 1e-12, atol 1e-15 (the default for blas arithmetic, as " \
        "steptrace replay's)" in lines

    monkeypatch.delenv("CI")
    result = parallel.run("--steptrace-update")
    result.assert_outcomes(passed=7, failed=1)
    lines = summary(result)
    assert sorted(line for line in lines if line.startswith(("written", "unused"))) == [
        "unused goldens were not looked for: 1 test of golden traces did not pass (failed, "
        "skipped or errored), so may not have reached every golden",
        "written, changed: golden/damaged.jsonl: could not be read: "
        f"{damaged}:2: truncated in the middle of a line; re-record the trace",
        "written, changed: golden/epoch.jsonl: held the passes alone (detail epoch)",
        "written, changed: golden/mine.jsonl: config field alpha: golden/mine.jsonl 0.1, the "
        "run 0.3 (|Δ| 0.2, relative 0.667)",
        "written, new: golden/missing.jsonl",
    ]
    assert "left as they were (they agree): 3" in lines  # agrees, blas, and the shared one's first
    assert {name: (golden / name).read_bytes() for name in untouched} == untouched

    parallel.write(source=EVERY_CASE.replace("def test_second", "def second"))  # one test each
    result = parallel.run("--steptrace-update")
    result.assert_outcomes(passed=7)
    assert summary(result)[-1] == "unused, removed: golden/unused.jsonl"
    assert sorted(p.name for p in golden.iterdir()) == sorted(
        ["agrees.jsonl", "blas.jsonl", "damaged.jsonl", "epoch.jsonl", "mine.jsonl",
         "missing.jsonl", "shared.jsonl"])  # (no fresh trace is left beside an agreeing one)
