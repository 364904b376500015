"""A learner's own script, traced and checked: the book's programs check clean and agree
with their built-in experiments; the trace is an ordinary one; the command line's exit
codes, its JSON report, the course's pytest helper, and both ways of tracing Python."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import steptrace
from steptrace.learner.runner import LIMITS, ScriptError, capture
from steptrace.testing import check_script
from tests.book_programs import (
    BATCHED,
    CH04_HOT_AND_COLD_LEARNING,
    CH06_STREETLIGHTS_BACKPROP,
    PROGRAMS,
    STREETLIGHTS_MINIBATCH,
)
from tests.conftest import TRACES, RunCli, book_cells
from tests.test_learner_mistakes import line_of, variant

#: The book's cell displays its weights (an execute_result), which a script does not print.
PRINTS_NOTHING = {"ch05-multi-input-multi-output-one-step"}
AFTER_UPDATE = variant(CH06_STREETLIGHTS_BACKPROP, (
    "      layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)\n\n"
    "      weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)\n",
    "      weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)\n"
    "      layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)\n\n"))


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in plugins alone, as the command line's tests run (STEPTRACE_PLUGINS="")."""
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.setattr("steptrace.plugins.loaded._REGISTRIES", {})


def script(tmp_path: Path, source: str, name: str = "mine.py") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


@pytest.mark.parametrize("name", [*PROGRAMS, *BATCHED])
def test_the_books_programs_check_clean_and_agree_with_their_experiments(
        tmp_path: Path, name: str) -> None:
    program = {**PROGRAMS, **BATCHED}[name]
    path = script(tmp_path, program, f"{name.replace('-', '_')}.py")
    report = steptrace.check_script(path, against=name)
    assert report.lockstep is not None and report.lockstep.divergence is None, str(report)
    assert report.against is not None
    differing = [item.what for item in report.against.items if not item.same]
    assert differing == (["printed output"] if name in PRINTS_NOTHING else []), str(report)
    assert report.status == ("diverged" if name in PRINTS_NOTHING else "match")


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_the_programs_print_what_the_book_printed(tmp_path: Path, name: str) -> None:
    """The transcription is the book's: run plainly, each prints the book's output (chapter
    6's backprop as re-run on this machine's np.dot, whose last digits move)."""
    path = script(tmp_path, PROGRAMS[name])
    printed = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                             check=True).stdout
    cell = book_cells(int(name[2:4]))[name]
    if "backprop" in name:
        assert printed in (cell["stdout"], cell["reproduced_stdout"])
    else:
        assert printed == cell["stdout"]


def test_the_report_of_a_clean_run_says_what_it_checked(tmp_path: Path) -> None:
    report = steptrace.check_script(script(tmp_path, CH06_STREETLIGHTS_BACKPROP))
    assert bool(report) and report.exit_code == 0
    assert str(report) == (
        f"{tmp_path / 'mine.py'} follows the book's rules: all 1,680 assignments of its 240 steps "
        "agree (within rtol 1e-09, atol 1e-12)\n"
        "  network: 3-4-1, relu then linear, alpha 0.2, stochastic, 60 passes of 4 samples")


def test_a_divergence_is_told_with_the_books_formula_and_the_learners_numbers(tmp_path: Path) -> None:
    report = steptrace.check_script(script(tmp_path, AFTER_UPDATE))
    line = AFTER_UPDATE.splitlines().index(
        "      layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)") + 1
    assert str(report).splitlines()[:8] == [
        f"{tmp_path / 'mine.py'} departs from the book at pass 0, sample 0 (step 1 of 240), line {line}:",
        "    layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)",
        "  yours:     layer_1_delta = [0, -0.4982, 0, -0]",
        "  the book:  layer_1_delta = layer_2_delta · weights_1_2ᵀ * relu2deriv(layer_1)",
        "                           = -0.6081 · [[-0.5911], [ 0.7562], [-0.9452], [ 0.3409]]ᵀ * "
        "relu2deriv([-0, 0.5183, -0, -0])",
        "                           = [0, -0.4598, 0, -0]",
        f"  likely mistake: weights after their update: weights_1_2 was already updated (line "
        f"{line - 1}) when this line used it; the hidden delta takes the weights before this "
        "sample's update: compute layer_1_delta before updating weights_1_2",
        "  before it: 0 steps and 5 assignments agree (within rtol 1e-09, atol 1e-12); network: "
        "3-4-1, relu then linear, alpha 0.2, stochastic, 60 passes of 4 samples"]
    assert not report and report.exit_code == 1


def test_the_text_and_the_json_count_the_same_agreed_assignments(tmp_path: Path) -> None:
    """A step that skips an update departs with no assignment of its own: every assignment
    before it agreed (the first step's 7, the second's 6), in the text and in --json."""
    skipping = variant(CH06_STREETLIGHTS_BACKPROP, (
        "      weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)",
        "      if i % 2 == 0:\n          weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)"))
    report = steptrace.check_script(script(tmp_path, skipping))
    assert report.lockstep is not None and report.lockstep.divergence is not None
    assert report.lockstep.divergence.kind == "update"
    assert str(report).splitlines()[-1].startswith(
        "  before it: 1 step and 13 assignments agree (within rtol 1e-09, atol 1e-12); ")
    assert json.loads(report.to_json())["checked"] == {"assignments": 13, "steps": 1}


def test_the_trace_is_an_ordinary_trace_of_the_learners_own_numbers(tmp_path: Path) -> None:
    right = steptrace.trace_script(script(tmp_path, CH06_STREETLIGHTS_BACKPROP), tmp_path / "right.jsonl")
    assert right.config.layers == (3, 4, 1) and right.config.arithmetic == "blas"
    assert right.header.detail == "all" and len(right.events) == 1740
    golden = steptrace.load(TRACES / "ch06-streetlights-backprop.jsonl")
    assert np.allclose(right.weights[0], golden.weights[0], rtol=1e-9)
    assert right.replay()
    assert right.diff(golden, rtol=1e-9, events_only=True)
    assert "layer_1 = relu(layer_0 · weights_0_1)" in right.show(epoch=0, sample=0)
    wrong = steptrace.trace_script(script(tmp_path, AFTER_UPDATE, "wrong.py"))
    first = wrong.events.filter(kind="delta", layer=1)[0]
    assert first.kind == "delta"
    assert first.delta[0][1] == pytest.approx(-0.49815893110603, rel=1e-12)  # theirs, not the book's
    replayed = wrong.replay()
    assert not replayed
    assert "replay diverges at event 4 (delta, epoch 0, samples [0], layer 1)" in str(replayed)


def test_replay_of_a_learners_diverging_trace_blames_the_script_and_points_to_check(
        tmp_path: Path, run_cli: RunCli) -> None:
    """Not "a rule's code changed without a new revision": the trace's numbers are the
    script's, and check names the line that computes them otherwise."""
    path = script(tmp_path, AFTER_UPDATE, "wrong.py")
    trace = tmp_path / "wrong.jsonl"
    assert run_cli("trace", path, "-o", trace).exit_code == 0
    header = steptrace.load(trace).header
    assert header.traced_script == str(path)
    replayed = run_cli("replay", trace)
    assert replayed.exit_code == 1
    assert replayed.stderr == (
        f"Error: {trace}: replay diverges at event 4 (delta, epoch 0, samples [0], layer 1): "
        "field delta[0][1]: recorded -0.498158931106032, recomputed -0.4598337066238415 "
        f"(|Δ| 0.0383, relative 0.0769); the trace is of {path}, a learner's script: its events "
        "are the script's own numbers, and its code computes this step otherwise than the "
        f"book; `steptrace check {path}` names the line\n")
    # a header that says only what the script printed: the script is not named
    unnamed = header.model_copy(update={"config": header.config.model_copy(update={"source": ""})})
    assert unnamed.traced_script == ""
    # before schema 4 a traced script's trace held nothing printed: its source tells
    assert header.model_copy(update={"printed": None, "schema_version": 3}).traced_script == str(path)
    # a recorded experiment's trace (nothing printed) is not a script's, whatever its source
    assert header.model_copy(update={"printed": None}).traced_script is None
    recorded = steptrace.load(TRACES / "ch06-streetlights-backprop.jsonl").header
    assert recorded.traced_script is None


def test_a_run_a_trace_cannot_hold_is_still_checked(tmp_path: Path, run_cli: RunCli) -> None:
    turning = "[(i + iteration) % 4:][:1]"  # each pass starts one sample later
    shuffled = variant(CH06_STREETLIGHTS_BACKPROP,
                       ("layer_0 = streetlights[i:i+1]", f"layer_0 = streetlights{turning}"),
                       ("walk_vs_stop[i:i+1]) ** 2", f"walk_vs_stop{turning}) ** 2"),
                       ("layer_2 - walk_vs_stop[i:i+1])", f"layer_2 - walk_vs_stop{turning})"))
    path = script(tmp_path, shuffled)
    traced = run_cli("trace", path, "-o", tmp_path / "t.jsonl")
    assert traced.exit_code == 2
    assert traced.stderr == (f"Error: {path}: pass 1 is given other rows (or goals) than pass 0, "
                             "which a trace cannot describe (steptrace check still checks it)\n")
    # every step follows the book's rules, but the passes give the samples out of the book's
    # order: the run as a whole departs, at the loop that gives them
    checked = steptrace.check_script(path)
    assert checked.exit_code == 1
    assert checked.lockstep is not None and checked.lockstep.divergence is not None
    found = checked.lockstep.divergence
    assert found.mistake is not None and found.mistake.name == "sample-order"
    assert (found.epoch, found.samples, found.kind) == (1, (1,), "run")
    assert found.line == line_of(shuffled, "for i in range(len(streetlights)):")
    assert found.told == "pass 1 gives samples 1"


def test_the_command_lines_exit_codes_and_json(tmp_path: Path, run_cli: RunCli) -> None:
    good = run_cli("check", script(tmp_path, CH06_STREETLIGHTS_BACKPROP, "good.py"), "--json")
    assert good.exit_code == 0
    data = json.loads(good.stdout)
    assert data["format"] == "steptrace-check" and data["version"] == 1
    assert data["status"] == "match" and data["error"] is None and data["divergence"] is None
    assert data["network"] == {"layers": [3, 4, 1], "nonlinearities": ["relu", "linear"],
                               "alpha": 0.2, "strategy": "stochastic", "batch_size": 1,
                               "delta": "prediction - goal", "delta_mean": False, "passes": 60,
                               "samples": 4, "steps": 240}
    assert data["checked"] == {"assignments": 1680, "steps": 240}
    assert data["tolerance"] == {"rtol": 1e-9, "atol": 1e-12}

    bad_path = script(tmp_path, AFTER_UPDATE, "bad.py")
    bad = run_cli("check", bad_path, "--json", "--against", "ch06-streetlights-backprop")
    assert bad.exit_code == 1
    found = json.loads(bad.stdout)["divergence"]
    assert {key: found[key] for key in ("pass", "samples", "step", "kind", "layer", "variable")} == {
        "pass": 0, "samples": [0], "step": 0, "kind": "delta", "layer": 1, "variable": "layer_1_delta"}
    assert found["mistake"]["name"] == "weights-after-update"
    # what agreed before it, as the text says it ("0 steps and 5 assignments agree"): the
    # departing assignment is not counted
    assert json.loads(bad.stdout)["checked"] == {"assignments": 5, "steps": 0}
    assert found["value"][0][1] == pytest.approx(-0.498158931106032, rel=1e-12)
    assert found["expected"][0][1] == pytest.approx(-0.4598337066238415, rel=1e-12)
    against = json.loads(bad.stdout)["against"]
    assert against["experiment"] == "ch06-streetlights-backprop" and not against["same"]
    assert [i["what"] for i in against["items"] if not i["same"]] == ["printed output"]

    failed = run_cli("check", script(tmp_path, "layer_0 = 1\nraise KeyError('x')\n", "f.py"), "--json")
    assert failed.exit_code == 2
    assert json.loads(failed.stdout)["status"] == "failed"
    assert failed.stderr == f"Error: {tmp_path / 'f.py'}:2: the script raised KeyError: 'x'\n"

    unknown = run_cli("check", bad_path, "--against", "no-such-experiment")
    assert unknown.exit_code == 2 and "no-such-experiment" in unknown.stderr


def test_the_courses_pytest_helper_fails_with_the_report(tmp_path: Path) -> None:
    report = check_script(script(tmp_path, CH06_STREETLIGHTS_BACKPROP), against="ch06-streetlights-backprop")
    assert report and report.against is not None and report.against.same
    with pytest.raises(AssertionError, match=r"likely mistake: weights after their update"):
        check_script(script(tmp_path, AFTER_UPDATE, "bad.py"))
    with pytest.raises(AssertionError, match=r"the script raised ZeroDivisionError"):
        check_script(script(tmp_path, "alpha = 1 / 0\n", "broken.py"))


def test_capture_streams_what_each_line_assigned_with_limits(tmp_path: Path) -> None:
    path = script(tmp_path, "import numpy as np\nweights = np.zeros(3)\nfor i in range(3):\n"
                            "    weights[i] += 1\nweights -= 0\nprint('done')\n")
    captured = capture(path)
    assert captured.stdout == "done\n"
    assert [(a.name, a.line, a.inplace, a.value.tolist()) for a in captured.assignments] == [
        ("weights", 2, False, [0, 0, 0]), ("weights", 4, True, [1, 0, 0]),
        ("weights", 4, True, [1, 1, 0]), ("weights", 4, True, [1, 1, 1]),
        ("weights", 5, True, [1, 1, 1])]  # an update that changes nothing is an update
    with pytest.raises(ScriptError, match="more than 3 assignments"):
        capture(path, limits={"max_assignments": 3})
    with pytest.raises(ScriptError, match="more than 7 numbers"):
        capture(path, limits={"max_numbers": 7})
    assert LIMITS["max_value"] == 10**6


@pytest.mark.parametrize("backend", ["settrace", "monitoring"])
def test_both_ways_of_tracing_python_record_the_same(tmp_path: Path, backend: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "monitoring" and sys.version_info < (3, 12):
        pytest.skip("sys.monitoring is Python 3.12's (this is "
                    f"{sys.version_info.major}.{sys.version_info.minor}: settrace traces here)")
    path = script(tmp_path, CH06_STREETLIGHTS_BACKPROP)
    monkeypatch.setenv("STEPTRACE_CAPTURE", backend)
    records = capture(path).assignments
    assert len(records) == 1985
    assert [(a.name, a.line) for a in records[:8]] == [
        ("streetlights", 13), ("walk_vs_stop", 18), ("alpha", 20), ("weights_0_1", 23),
        ("weights_1_2", 24), ("layer_2_error", 27), ("layer_0", 29), ("layer_1", 30)]


HOSTILE = [
    ("raises", "import numpy as np\nweights = np.zeros(3)\nraise ValueError('boom')\n",
     "{path}:3: the script raised ValueError: boom"),
    ("not-python", "this is not python {\n", "{path}:1: not Python: '{{' was never closed"),
    ("no-book-names", "x = 1\ny = [1, 2]\n", "{path}: the script assigns none of the names steptrace "
     "follows (layer_0, layer_1,"),
    ("exits", "import sys\nalpha = 0.1\nsys.exit(3)\n", "{path}:3: the script stopped with sys.exit(3)"),
    ("huge-array", "import numpy as np\nlayer_0 = np.broadcast_to(0.0, (10**8,))\n",
     "{path}: line 2 assigns layer_0 a value of 100,000,000 numbers: steptrace follows at most "
     "1,000,000 in one variable"),
    ("prints-megabytes", "while True:\n    print('x' * 1000)\n",
     "{path}: the script printed more than 8,388,608 characters to its output (steptrace stopped it)"),
    ("loops-forever", "alpha = 0.1\nwhile True:\n    pass\n",
     "{path}: still running after 2 s (--timeout): an endless loop? steptrace stopped it"),
    ("shapes", "import numpy as np\nlayer_0 = np.ones((1,3))\nweights_0_1 = np.ones((3,4))\n"
               "layer_1_delta = layer_0.dot(weights_0_1.T)\n",
     "{path}:4: the script raised ValueError: shapes (1,3) and (4,3) not aligned: 3 (dim 1) != 4 "
     "(dim 0) (line 4 computes layer_1_delta: the shapes of its matrices do not fit; a transpose "
     "(.T) missing, or one too many?)"),
    ("no-step", "alpha = 0.2\n", "{path}: the script assigns alpha, but makes no step of the book's"),
    ("list-of-one-list", "layer_0 = [[0.5] * 1000] * 300000\n",
     "{path}: line 1 assigns layer_0 a value of 300,000,000 numbers: steptrace follows at most "
     "1,000,000 in one variable"),
    ("prints-around-print", "import os\nfor _ in range(1000):\n    os.write(1, b'x' * 10000)\n",
     "{path}: the script printed more than 8,388,608 characters to its output (steptrace stopped it)"),
    ("empty-batch", STREETLIGHTS_MINIBATCH.replace(
        "range(int(len(streetlights) / batch_size))", "range(3)").replace("range(300)", "range(1)"),
     "{path}:31: this step's layer_0 has no rows (an empty batch: does the loop run past the end "
     "of the data?)"),
]


@pytest.mark.parametrize(("source", "message"), [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_a_script_that_fails_is_one_line_and_exit_2(tmp_path: Path, run_cli: RunCli, source: str,
                                                    message: str) -> None:
    path = script(tmp_path, source)
    for command in ("check", "trace"):
        result = run_cli(command, path, "--timeout", "2")
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: " + message.format(path=path)), result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stdout == ""


def test_a_binary_file_or_a_folder_is_not_a_script(tmp_path: Path, run_cli: RunCli) -> None:
    binary = tmp_path / "binary.py"
    binary.write_bytes(bytes(range(256)))
    assert run_cli("check", binary).stderr == f"Error: {binary}: not a Python script (not UTF-8 text)\n"
    assert run_cli("check", tmp_path).stderr == f"Error: {tmp_path}: is a directory, not a Python script\n"
    missing = tmp_path / "missing.py"
    assert run_cli("trace", missing).stderr == f"Error: {missing}: cannot read: No such file or directory\n"


def test_help_says_the_script_is_run(run_cli: RunCli) -> None:
    for command in ("trace", "check"):
        helped = run_cli(command, "--help").stdout
        assert "SCRIPT is your code, and it is run" in " ".join(helped.split())




def test_hot_and_cold_learning_is_said_not_to_be_gradient_descent(tmp_path: Path) -> None:
    """Chapter 4's first learning rule moves the weight by a fixed step: the check, which
    knows gradient descent, says where the two part and why."""
    report = steptrace.check_script(script(tmp_path, CH04_HOT_AND_COLD_LEARNING))
    assert report.lockstep is not None and report.lockstep.divergence is not None
    found = report.lockstep.divergence
    assert (found.variable, found.line, found.mistake) == ("weight", 24, None)
    assert found.note is not None and "hot and cold learning" in found.note
    assert json.loads(report.to_json())["divergence"]["note"] == found.note


def test_the_readmes_wrong_loop_and_its_answer_are_real(tmp_path: Path, run_cli: RunCli,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[1] / "docs" / "check-your-code.md").read_text(
        encoding="utf-8")
    section = readme[readme.index("# Check your own code\n"):]
    start = section.index("```python\n") + len("```python\n")
    assert section[start:section.index("```", start)] == AFTER_UPDATE  # one block, the whole script
    monkeypatch.chdir(tmp_path)
    script(tmp_path, AFTER_UPDATE, "my_backprop.py")
    shown = run_cli("check", "my_backprop.py")
    assert shown.exit_code == 1
    assert f"$ steptrace check my_backprop.py\n{shown.stdout}```" in section
    traced = run_cli("trace", "my_backprop.py", "-o", "mine.jsonl")
    assert traced.exit_code == 0
    replayed = run_cli("replay", "mine.jsonl")
    assert replayed.exit_code == 1
    assert (f"$ steptrace trace my_backprop.py -o mine.jsonl\n{traced.stdout}"
            f"$ steptrace replay mine.jsonl\n{replayed.stderr}```") in section


def test_the_readmes_1d_row_and_its_cause_are_real(tmp_path: Path, run_cli: RunCli,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1-D layer_0 (line 29 of the page's script) makes numpy raise at line 36, the
    update of weights_1_2; the check names line 29, and the page shows what it prints."""
    readme = (Path(__file__).resolve().parents[1] / "docs" / "check-your-code.md").read_text(
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    row = "      layer_0 = streetlights[i:i+1]"
    assert AFTER_UPDATE.splitlines()[28] == row
    script(tmp_path, variant(AFTER_UPDATE, (row, "      layer_0 = streetlights[i]")),
           "my_backprop.py")
    shown = run_cli("check", "my_backprop.py")
    assert shown.exit_code == 2 and shown.stdout == ""
    assert shown.stderr.startswith("Error: my_backprop.py:29: layer_0 is a 1-D array (shape (3,))")
    assert "(numpy then raised at line 36: ValueError: shapes (4,) and (1,1) not aligned" in shown.stderr
    assert "With\nline 29 of `my_backprop.py` above made `layer_0 = streetlights[i]`:" in readme
    assert f"$ steptrace check my_backprop.py\n{shown.stderr}```" in readme


def test_stopping_steptrace_stops_the_script(tmp_path: Path) -> None:
    """SIGTERM (or Ctrl-C) while a script runs: steptrace says so, exit 143 (130), and the
    script's process, in a session of its own, goes too."""
    import os
    import signal
    import time

    pid_file = tmp_path / "pid"
    path = script(tmp_path, f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                            "alpha = 0.1\nwhile True:\n    pass\n")
    for sent, code, said in ((signal.SIGTERM, 143, "Error: terminated"),
                             (signal.SIGINT, 130, "Error: interrupted")):
        pid_file.unlink(missing_ok=True)
        steptrace_ = subprocess.Popen([sys.executable, "-m", "steptrace", "check", str(path)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(300):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        child = int(pid_file.read_text())
        steptrace_.send_signal(sent)
        _, stderr = steptrace_.communicate(timeout=30)
        assert (steptrace_.returncode, stderr.strip()) == (code, said)
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--rtol", "inf", "--rtol inf: give a finite number at least 0"),
    ("--atol", "nan", "--atol nan: give a finite number at least 0"),
    ("--timeout", "nan", "--timeout nan: give a finite number above 0"),
    ("--timeout", "inf", "--timeout inf: give a finite number above 0"),
])
def test_a_tolerance_or_timeout_that_is_not_finite_is_refused(
        tmp_path: Path, run_cli: RunCli, option: str, value: str, message: str) -> None:
    """--rtol inf would let every departure pass, --timeout nan would never stop."""
    path = script(tmp_path, CH06_STREETLIGHTS_BACKPROP)
    result = run_cli("check", path, option, value)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")



def test_what_a_script_starts_ends_with_it(tmp_path: Path, run_cli: RunCli) -> None:
    """A process the script starts (in its process group) does not outlive the check."""
    marker = tmp_path / "still-here"
    path = script(tmp_path, "import subprocess, sys\nlayer_0 = 1.0\nsubprocess.Popen([sys.executable, "
                  f"'-c', 'import time; time.sleep(3); open({str(marker)!r}, \"w\")'])\n")
    assert run_cli("check", path).exit_code == 2
    time.sleep(4)
    assert not marker.exists()


def test_a_loop_run_by_an_import_or_exec_is_not_checked_as_followed(tmp_path: Path,
                                                                    run_cli: RunCli) -> None:
    """The loop in an imported module (or exec'd) runs unseen: what it leaves in the
    script's variables is refused, not checked as a one-step run that "follows the book"."""
    (tmp_path / "mynet.py").write_text(CH06_STREETLIGHTS_BACKPROP.replace(
        "weights_0_1 -= alpha *", "weights_0_1 -= 5 * alpha *"))  # (wrong: unseen either way)
    main = script(tmp_path, "from mynet import *\n", "main.py")
    result = run_cli("check", main)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {main}:1: ")
    assert "is set by code steptrace does not follow (from mynet import *…): it follows this " \
           "script's own statements only; put the training loop in the script" in result.stderr
    loop = tmp_path / "mynet.py"
    run = script(tmp_path, f"import pathlib\nexec(pathlib.Path({str(loop)!r}).read_text())\n", "run.py")
    assert run_cli("check", run).stderr.startswith(f"Error: {run}:2: weights_0_1 is set by code "
                                                    "steptrace does not follow (exec(")
