"""Held-out rows (an experiment's ``test_inputs`` and ``test_goals``): checked as the
other data is, evaluated after every pass with the engine's formulas (bit for bit what a
plain Python loop of the book's computes), recorded as each ``epoch_end``'s
``test_error`` in a trace of schema 5, refused where a trace's config and events disagree
about them, replayed and diffed, and shown (literate line, plot, page, API). A trace
without them is as it was, byte for byte (the golden traces, tests/test_goldens.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import steptrace
from steptrace.config import ExperimentConfig, parse_config
from steptrace.errors import ConfigError
from steptrace.trace.events import EpochEndEvent
from steptrace.trace.header import SCHEMA_VERSION
from steptrace.trace.reader import open_trace
from tests.conftest import TRACES, RunCli, present
from tests.test_bad_input import assert_one_line_error
from tests.test_replay_diff import edit_event

OVERFITTING = "streetlights-overfitting"
GOLDEN = TRACES / f"{OVERFITTING}.jsonl"
EVENTS = 3600  # 400 passes x (2 samples x 4 steps + epoch_end)
LAST = EVENTS - 1  # the last pass's epoch_end
PLAIN = "ch06-streetlight-single-sample"  # an experiment without held-out rows


# -- by hand: the book's loop in plain Python floats -----------------------------------------


def book_loop(passes: int) -> list[tuple[float, float]]:
    """The experiment by hand, in plain Python floats and the book's order: each pass's
    summed training error and, with the weights the pass ended with, the held-out rows'
    errors summed in order. Sums run left to right (exact mode's order); a square is
    ``d * d`` (numpy's ``** 2``)."""
    weights = [0.5, 0.48, -0.7]
    alpha = 0.1
    rows = [([1.0, 1.0, 1.0], 1.0), ([0.0, 0.0, 1.0], 0.0)]
    held_out = [([1.0, 0.0, 1.0], 0.0), ([0.0, 1.0, 1.0], 1.0), ([0.0, 1.0, 1.0], 1.0),
                ([1.0, 0.0, 1.0], 0.0)]

    def predict(x: list[float]) -> float:
        return x[0] * weights[0] + x[1] * weights[1] + x[2] * weights[2]

    out = []
    for _ in range(passes):
        error = 0.0
        for x, goal in rows:
            delta = predict(x) - goal
            error += delta * delta
            for i in range(3):
                weights[i] -= alpha * (x[i] * delta)
        test_error = 0.0
        for x, goal in held_out:
            miss = predict(x) - goal
            test_error += miss * miss
        out.append((error, test_error))
    return out


def test_pass_0_by_hand() -> None:
    """The first pass, written out: [1,1,1] predicts 0.5 + 0.48 - 0.7 = 0.28 (error
    0.72² = 0.5184), the weights move by 0.1 · 0.72 each to [0.572, 0.552, -0.628]; [0,0,1]
    predicts -0.628 (error 0.394384), the last weight moves to -0.5652. The held-out rows
    with [0.572, 0.552, -0.5652]: [1,0,1] predicts 0.0068 for 0, [0,1,1] -0.0132 for 1
    (twice), [1,0,1] 0.0068 for 0."""
    w = [0.5 - 0.1 * (1.0 * -0.72), 0.48 - 0.1 * (1.0 * -0.72), -0.7 - 0.1 * (1.0 * -0.72)]
    first = ((1.0 * 0.5 + 1.0 * 0.48) + 1.0 * -0.7) - 1.0
    second = (0.0 * w[0] + 0.0 * w[1]) + 1.0 * w[2]
    w[2] = w[2] - 0.1 * (1.0 * second)
    error = 0.0 + first * first + second * second
    a = (1.0 * w[0] + 0.0 * w[1]) + 1.0 * w[2] - 0.0  # [1, 0, 1] -> 0
    b = (0.0 * w[0] + 1.0 * w[1]) + 1.0 * w[2] - 1.0  # [0, 1, 1] -> 1
    test_error = 0.0 + a * a + b * b + b * b + a * a
    assert (error, test_error) == book_loop(1)[0]
    assert error == 0.912784
    assert test_error == 2.0532409600000006

    end = steptrace.load(GOLDEN).events[8]
    assert isinstance(end, EpochEndEvent) and end.epoch == 0
    assert (end.error, end.test_error) == (error, test_error)  # bit for bit


def test_every_pass_by_hand_the_last_too() -> None:
    """Every pass's training and held-out errors are the plain loop's, bit for bit (the
    engine's exact arithmetic is that order); the last pass's: 3.110034090849328e-23 and
    1.0404."""
    trace = steptrace.load(GOLDEN)
    by_hand = book_loop(400)
    assert list(zip(trace.errors, trace.test_errors, strict=True)) == by_hand
    assert by_hand[-1] == (3.110034090849328e-23, 1.0404)


# -- the experiment's fields: the same shape rules as inputs and goals -----------------------


def shown_json(run_cli: RunCli, name: str = OVERFITTING) -> dict[str, Any]:
    result = run_cli("experiments", "--show", name, "--format", "json")
    assert result.exit_code == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


MISTAKES: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "test_goals without test_inputs": (
        lambda c: c.pop("test_inputs"),
        "test_inputs are missing: test_goals are the goals of held-out rows, one per "
        "test_inputs row (or leave test_goals out)"),
    "test_inputs without test_goals": (
        lambda c: c.pop("test_goals"),
        "test_goals are missing: the held-out rows test_inputs need one goal row each (or "
        "leave test_inputs out)"),
    "test_inputs narrower than the network's inputs": (
        lambda c: c.update(test_inputs=[row[:2] for row in c["test_inputs"]]),
        "test_inputs[0] has 2 value(s), expected 3"),
    "test_goals wider than the network's outputs": (
        lambda c: c.update(test_goals=[[1.0, 0.0]] * 4),
        "test_goals[0] has 2 value(s), expected 1"),
    "fewer test_goals than test_inputs": (
        lambda c: c["test_goals"].pop(),
        "test_goals has 3 row(s), expected 4"),
    "more test_goals than test_inputs": (
        lambda c: c["test_goals"].append([1.0]),
        "test_goals has 5 row(s), expected 4"),
    "no held-out rows": (
        lambda c: c.update(test_inputs=[], test_goals=[]),
        "test_inputs is empty: give at least one row"),
    "a held-out number that is not finite": (
        lambda c: c["test_inputs"][2].__setitem__(1, float("inf")),
        "test_inputs[2][1] is inf: data must be finite"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=MISTAKES)
def test_each_mistake_is_one_line_naming_the_field_exit_2(
        run_cli: RunCli, tmp_path: Path, mistake: str) -> None:
    edit, message = MISTAKES[mistake]
    config = shown_json(run_cli)
    edit(config)
    source = tmp_path / "mine.json"
    source.write_text(json.dumps(config))
    result = run_cli("record", source, "-o", tmp_path / "out.jsonl")
    line = assert_one_line_error(result, f"Error: {source}: {message}")
    assert line == f"Error: {source}: {message}"
    assert not (tmp_path / "out.jsonl").exists()


def test_a_mistake_in_a_toml_file_too(run_cli: RunCli, tmp_path: Path) -> None:
    text = run_cli("experiments", "--show", OVERFITTING).stdout
    start = text.index("test_goals = [")
    source = tmp_path / "mine.toml"
    source.write_text(text[:start] + text[text.index("\n]\n", start) + 3:])  # test_goals cut
    result = run_cli("record", source, "-o", tmp_path / "out.jsonl")
    assert_one_line_error(result, f"Error: {source}: test_goals are missing")


def test_the_python_api_raises_config_error_with_the_same_words() -> None:
    config = steptrace.experiment(PLAIN)
    with pytest.raises(ConfigError, match=r"^test_goals are missing: the held-out rows "):
        config.test_inputs = [[1.0, 0.0, 1.0]]  # type: ignore[assignment]
    assert config.test_inputs is None  # unchanged
    with pytest.raises(ConfigError, match=r"^test_inputs are missing: "):
        config.test_goals = [[0.0]]  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"^mine: test_inputs\[0\] has 2 value\(s\), expected 3$"):
        parse_config({**config.model_dump(), "test_inputs": [[1, 0]], "test_goals": [[1]]}, "mine")
    with_rows = parse_config({**config.model_dump(), "test_inputs": [[1, 0, 1]],
                              "test_goals": [[0]]}, "mine")
    assert with_rows.held_out and not config.held_out
    assert len(steptrace.record(with_rows).test_errors) == config.iterations


def test_experiments_show_carries_them_when_present(run_cli: RunCli) -> None:
    toml = run_cli("experiments", "--show", OVERFITTING).stdout
    assert "test_inputs = [\n  [1.0, 0.0, 1.0],\n  [0.0, 1.0, 1.0],\n  [0.0, 1.0, 1.0],\n" \
           "  [1.0, 0.0, 1.0],\n]\ntest_goals = [\n  [0.0],\n  [1.0],\n  [1.0],\n  [0.0],\n]\n" in toml
    assert toml.index("goals = [") < toml.index("test_inputs = [") < toml.index("[strategy]")
    config = shown_json(run_cli)
    assert config["test_inputs"] == [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]
    assert config["test_goals"] == [[0.0], [1.0], [1.0], [0.0]]
    assert list(config).index("test_goals") == list(config).index("goals") + 2


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_experiments_show_is_unchanged_without_them(run_cli: RunCli, fmt: str) -> None:
    shown = run_cli("experiments", "--show", PLAIN, "--format", fmt).stdout
    assert "test_" not in shown and "held" not in shown


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_the_shown_experiment_records_as_the_builtin_does(
        run_cli: RunCli, tmp_path: Path, fmt: str) -> None:
    source = tmp_path / f"mine.{fmt}"
    source.write_text(run_cli("experiments", "--show", OVERFITTING, "--format", fmt).stdout)
    out = tmp_path / "mine.jsonl"
    assert run_cli("record", source, "-o", out).exit_code == 0
    assert run_cli("diff", out, GOLDEN).exit_code == 0


# -- the trace: schema 5, the field at every detail, the reader's checks -----------------------


def header_of(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        header: dict[str, Any] = json.loads(file.readline())
    return header


@pytest.mark.parametrize("detail", ["step", "epoch", "all"])
def test_every_detail_holds_the_held_out_error_in_schema_5(
        run_cli: RunCli, tmp_path: Path, detail: str) -> None:
    out = tmp_path / f"{detail}.jsonl"
    assert run_cli("record", OVERFITTING, "--detail", detail, "-o", out).exit_code == 0
    assert header_of(out)["schema_version"] == 5
    with open_trace(out) as reader:
        ends = [e for e in reader if isinstance(e, EpochEndEvent)]
    assert [e.test_error for e in ends] == steptrace.load(GOLDEN).test_errors
    assert run_cli("replay", out).exit_code == 0
    assert run_cli("diff", out, GOLDEN).exit_code == 0


def test_record_says_the_last_held_out_error(run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    assert run_cli("record", OVERFITTING, "-o", out).stdout == (
        f"recorded {OVERFITTING}: {EVENTS} events, 400 epoch(s), final error "
        f"3.110034090849328e-23, held-out error 1.0404 (exact) -> {out}\n")
    assert "held-out" not in run_cli("record", PLAIN, "-o", out).stdout


def test_traces_without_held_out_rows_keep_their_schema(run_cli: RunCli, tmp_path: Path) -> None:
    """The lowest schema that holds a trace: a held-out trace says 5, the golden traces
    of the other experiments what they always said (1 to 3), and a fresh recording of one
    says what its golden says."""
    assert header_of(GOLDEN)["schema_version"] == 5
    others = {path.stem: header_of(path)["schema_version"] for path in TRACES.glob("*.jsonl")
              if path != GOLDEN}
    assert set(others.values()) <= {1, 2, 3}
    for name in (PLAIN, "ch06-streetlights-backprop"):
        out = tmp_path / f"{name}.jsonl"
        run_cli("record", name, "-o", out)
        assert header_of(out)["schema_version"] == others[name]
        assert b"test_" not in out.read_bytes()


def rewrite_header(trace: Path, out: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    lines = trace.read_bytes().splitlines(keepends=True)
    header = json.loads(lines[0])
    edit(header)
    out.write_bytes(json.dumps(header, separators=(",", ":")).encode() + b"\n" + b"".join(lines[1:]))


def test_a_held_out_header_below_schema_5_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "old.jsonl"
    rewrite_header(GOLDEN, bad, lambda h: h.update(schema_version=4))
    assert_one_line_error(
        run_cli("show", bad),
        f"Error: {bad}:1: bad header: held-out rows (config.test_inputs, config.test_goals) "
        "belong to trace schema 5 and later; this header says schema 4; re-record the trace")


def test_a_steptrace_refuses_a_schema_newer_than_it_reads(run_cli: RunCli, tmp_path: Path) -> None:
    newer = tmp_path / "newer.jsonl"
    rewrite_header(GOLDEN, newer, lambda h: h.update(schema_version=SCHEMA_VERSION + 1))
    assert_one_line_error(run_cli("show", newer), f"written with trace schema {SCHEMA_VERSION + 1}",
                          f"reads schemas 1 to {SCHEMA_VERSION}: upgrade steptrace to read it")


def test_a_held_out_error_without_held_out_rows_is_a_format_error(
        run_cli: RunCli, tmp_path: Path) -> None:
    good = tmp_path / "plain.jsonl"
    run_cli("record", PLAIN, "-o", good)
    bad = tmp_path / "bad.jsonl"
    edit_event(good, bad, 4, lambda e: e.update(test_error=1.5))  # the first pass's end
    for command in ("show", "replay", "html", "diff"):
        args = [bad, good] if command == "diff" else [bad, "-o", tmp_path / "x.html"] \
            if command == "html" else [bad]
        assert_one_line_error(
            run_cli(command, *args),
            f"Error: {bad}:6: bad event: epoch_end with a held-out error (test_error), though "
            "the config has no held-out rows (test_inputs); re-record the trace")


def test_an_end_of_pass_without_its_held_out_error_is_a_format_error(
        run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    edit_event(GOLDEN, bad, 8, lambda e: e.pop("test_error"))
    for command in ("show", "replay"):
        assert_one_line_error(
            run_cli(command, bad),
            f"Error: {bad}:10: bad event: epoch_end without a held-out error (test_error), "
            "though the config has held-out rows (test_inputs); re-record the trace")


def test_replay_and_diff_catch_an_edited_held_out_error(run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "edited.jsonl"
    edit_event(GOLDEN, bad, LAST, lambda e: e.update(test_error=1.0405))
    replayed = run_cli("replay", bad)
    assert replayed.exit_code == 1 and replayed.stdout == ""
    assert replayed.stderr == (
        f"Error: {bad}: replay diverges at event {LAST} (epoch_end, epoch 399, samples [0, 1], "
        "layer 1): field test_error: recorded 1.0405, recomputed 1.0404 (|Δ| 0.0001, relative "
        "9.61e-05); every rule is the one that recorded it (the same plugin, release and "
        "revision): a rule's code changed without a new revision, or the trace was edited\n")
    diffed = run_cli("diff", GOLDEN, bad)
    assert diffed.exit_code == 1
    assert diffed.stdout.splitlines()[:2] == [
        f"first divergence at event {LAST} (epoch_end, epoch 399, samples [0, 1], layer 1):",
        f"  field test_error: {GOLDEN} 1.0404, {bad} 1.0405 (|Δ| 0.0001, relative 9.61e-05)"]
    assert run_cli("diff", GOLDEN, bad, "--rtol", "1e-3").exit_code == 0


def test_diff_names_held_out_rows_that_differ(run_cli: RunCli, tmp_path: Path) -> None:
    config = shown_json(run_cli)
    config["test_goals"][0] = [1.0]
    source = tmp_path / "other.json"
    source.write_text(json.dumps({**config, "name": "other"}))
    other = tmp_path / "other.jsonl"
    run_cli("record", source, "-o", other)
    lines = run_cli("diff", GOLDEN, other).stdout.splitlines()
    assert f"  config field test_goals[0][0]: {GOLDEN} 0.0, {other} 1.0 (|Δ| 1, relative 1)" in lines
    assert lines[lines.index("first divergence at event 8 (epoch_end, epoch 0, samples [0, 1], "
                             "layer 1):") + 1] == (
        f"  field test_error: {GOLDEN} 2.0532409600000006, {other} 3.0396409600000003 "
        "(|Δ| 0.986, relative 0.325)")


def test_diff_of_a_run_with_held_out_rows_and_one_without(run_cli: RunCli, tmp_path: Path) -> None:
    config = shown_json(run_cli)
    del config["test_inputs"], config["test_goals"]
    source = tmp_path / "plain.json"
    source.write_text(json.dumps({**config, "name": "plain"}))
    plain = tmp_path / "plain.jsonl"
    run_cli("record", source, "-o", plain)
    lines = run_cli("diff", GOLDEN, plain).stdout.splitlines()
    assert f"  config field test_inputs: {GOLDEN} 4 value(s), {plain} None" in lines
    assert f"  field test_error: {GOLDEN} 2.0532409600000006, {plain} None" in lines
    assert run_cli("diff", GOLDEN, plain, "--events-only").exit_code == 1  # the passes differ


def test_blas_arithmetic_agrees_within_its_tolerance(run_cli: RunCli, tmp_path: Path) -> None:
    blas = tmp_path / "blas.jsonl"
    run_cli("record", OVERFITTING, "--arithmetic", "blas", "-o", blas)
    assert run_cli("replay", blas).exit_code == 0
    assert steptrace.load(blas).test_errors == pytest.approx(steptrace.load(GOLDEN).test_errors,
                                                             rel=1e-12)


def test_forward_passes_only_still_evaluate_the_held_out_rows(run_cli: RunCli, tmp_path: Path) -> None:
    """``train = false`` without goals: no training error, the held-out error each pass
    (of the fixed weights: the same every pass)."""
    config = shown_json(run_cli)
    config.update(train=False, goals=None, iterations=3, book_view={"epoch": None})
    source = tmp_path / "forward.json"
    source.write_text(json.dumps(config))
    out = tmp_path / "forward.jsonl"
    assert run_cli("record", source, "-o", out).exit_code == 0, "recorded"
    trace = steptrace.load(out)
    assert trace.errors == [None] * 3
    a = (1.0 * 0.5 + 0.0 * 0.48) + 1.0 * -0.7 - 0.0  # [1, 0, 1] -> 0, the initial weights
    b = (0.0 * 0.5 + 1.0 * 0.48) + 1.0 * -0.7 - 1.0  # [0, 1, 1] -> 1
    assert trace.test_errors == [0.0 + a * a + b * b + b * b + a * a] * 3
    assert trace.show(kind="epoch_end").splitlines()[0] == (
        f"[2] end of epoch 0; held-out error summed over 4 row(s) = {trace.test_errors[0]:.4g}")
    assert run_cli("replay", out).exit_code == 0


# -- shown: the literate line, the API, the plot, the page ----------------------------------------


def test_the_literate_pass_end_line_gives_both_errors(run_cli: RunCli) -> None:
    shown = run_cli("show", GOLDEN, "--epoch", "0", "--kind", "epoch_end").stdout
    assert shown == ("[8] end of epoch 0: error summed over 2 sample(s) = 0.9128; held-out error "
                     "summed over 4 row(s) = 2.053\n")
    exact = run_cli("show", GOLDEN, "--epoch", "399", "--kind", "epoch_end", "--exact").stdout
    assert exact == (f"[{LAST}] end of epoch 399: error summed over 2 sample(s) = "
                     "3.110034090849328e-23; held-out error summed over 4 row(s) = 1.0404\n")


def test_trace_test_errors() -> None:
    trace = steptrace.load(GOLDEN)
    assert len(trace.test_errors) == len(trace.errors) == 400
    assert trace.test_errors[0] == 2.0532409600000006
    assert trace.test_errors[59] == 1.040421883457105
    assert trace.test_errors[-1] == 1.0404
    assert trace.test_errors == [e.test_error for e in trace.events if isinstance(e, EpochEndEvent)]
    assert repr(trace).startswith(f"<Trace {OVERFITTING}: 3600 events, 400 pass(es), final error "
                                  "3.110034090849328e-23, held-out 1.0404 (exact)")
    assert steptrace.load(TRACES / f"{PLAIN}.jsonl").test_errors == []


def test_to_pandas_carries_the_held_out_error_where_there_is_one() -> None:
    pytest.importorskip("pandas")
    frame = steptrace.load(GOLDEN).to_pandas()
    ends = frame[frame.kind == "epoch_end"]
    assert ends.test_error.tolist() == steptrace.load(GOLDEN).test_errors
    assert "test_error" not in steptrace.load(TRACES / f"{PLAIN}.jsonl").to_pandas().columns


def test_the_plot_draws_the_held_out_error_as_a_second_labelled_curve() -> None:
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    figure = steptrace.load(GOLDEN).plot()
    curve = figure.axes[0]
    training, held_out = curve.get_lines()
    assert held_out.get_label() == "held-out error (summed over the 4 held-out rows, after the pass)"
    assert training.get_label().startswith("training error")
    assert list(held_out.get_ydata()) == steptrace.load(GOLDEN).test_errors
    assert list(training.get_xdata()) == list(range(400))
    legend = present(curve.get_legend())
    assert [text.get_text() for text in legend.get_texts()] == [training.get_label(),
                                                                 held_out.get_label()]
    assert curve.get_yscale() == "log"
    assert "training and held-out" in curve.get_title()

    plain = steptrace.load(TRACES / f"{PLAIN}.jsonl").plot().axes[0]
    assert len(plain.get_lines()) == 1 and plain.get_legend() is None


def test_the_page_holds_the_held_out_curve(run_cli: RunCli, tmp_path: Path) -> None:
    from tests.test_viewer import page_data

    html = tmp_path / "overfitting.html"
    assert run_cli("html", GOLDEN, "-o", html).exit_code == 0
    data = page_data(html)
    trace = steptrace.load(GOLDEN)
    assert data["test_errors"] == trace.test_errors and data["errors"] == trace.errors
    end = data["events"][8]
    assert [clause[1] for clause in end["shape"]] == [
        "end of epoch 0: error summed over 2 sample(s)", "held-out error summed over 4 row(s)"]
    assert end["operands"] == [0.912784, 2.0532409600000006]

    plain = tmp_path / "plain.html"
    run_cli("html", TRACES / f"{PLAIN}.jsonl", "-o", plain)
    assert "test_errors" not in page_data(plain)


def test_the_page_draws_the_held_out_curve_in_a_browser(run_cli: RunCli, tmp_path: Path) -> None:
    from tests.test_viewer import CHROMIUM, open_page

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'steptrace[browser]'")
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium (Debian)")
    html = tmp_path / "overfitting.html"
    run_cli("html", GOLDEN, "-o", html)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page, errors, requests = open_page(browser, html)
        points = present(page.get_attribute("#curve polyline.heldout", "points")).split()
        assert len(points) > 100
        assert "held-out error" in present(page.text_content("#curve"))
        page.hover("#curve", position={"x": 60 + 300 * 820 / 399, "y": 80})
        assert present(page.text_content("#readout")) == (
            "pass 300: error 7.611e-18 (7.610956573402274e-18) · held-out 1.04 "
            "(1.0403999999999993) · click to go there")
        browser.close()
    assert errors == [] and all(url.startswith("file:") for url in requests)


def test_the_schema_documents_the_field(run_cli: RunCli) -> None:
    schema = json.loads(run_cli("schema").stdout)
    text = json.dumps(schema)
    assert "test_error" in text and "test_inputs" in text
    assert f"schema version {SCHEMA_VERSION}" in schema["title"]


def test_the_config_dumps_leave_absent_rows_out() -> None:
    config = steptrace.experiment(PLAIN)
    assert "test_inputs" not in config.model_dump() and "test_goals" not in config.model_dump_json()
    held = ExperimentConfig.model_validate(steptrace.experiment(OVERFITTING).model_dump())
    assert held.test_inputs is not None and held.model_dump()["test_goals"] is not None
