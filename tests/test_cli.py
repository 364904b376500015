"""The command line as a user meets it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from steptrace import __version__
from steptrace.trace.header import SCHEMA_VERSION
from tests.conftest import TRACES, RunCli


def test_version_and_help(run_cli: RunCli) -> None:
    assert run_cli("--version").stdout == f"steptrace, version {__version__}\n"
    helped = run_cli("-h")
    assert helped.exit_code == 0
    for command in ("record", "show", "replay", "diff", "experiments", "schema"):
        assert command in helped.stdout
    assert "Exit codes: 0 ok, 1 mismatch" in helped.stdout


def test_python_dash_m() -> None:
    done = subprocess.run([sys.executable, "-m", "steptrace", "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout == f"steptrace, version {__version__}\n"


def test_record_says_where_it_wrote(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("record", "ch06-streetlight-single-sample")
    assert result.exit_code == 0
    assert result.stdout == (
        "recorded ch06-streetlight-single-sample: 100 events, 20 epoch(s), final error "
        "8.307674973656916e-06 (exact) -> ch06-streetlight-single-sample.jsonl\n")
    assert (tmp_path / "ch06-streetlight-single-sample.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ch06-streetlight-single-sample.jsonl"]


def test_experiments_list_and_json(run_cli: RunCli) -> None:
    listed = run_cli("experiments").stdout.splitlines()
    assert len(listed) == 34
    backprop = next(line for line in listed if line.startswith("ch06-streetlights-backprop "))
    assert backprop.split()[:4] == ["ch06-streetlights-backprop", "3-4-1", "relu/linear",
                                    "stochastic"]
    data = json.loads(run_cli("experiments", "--json").stdout)
    backprop = next(e for e in data if e["name"] == "ch06-streetlights-backprop")
    assert backprop["layers"] == [3, 4, 1] and backprop["alpha"] == 0.2
    assert backprop["plugin"] == "steptrace_builtins.book"


@pytest.mark.parametrize("file_format", ["toml", "json"])
@pytest.mark.parametrize("name", ["ch06-streetlights-full-dataset", "streetlights-minibatch"])
def test_an_experiment_shown_as_a_file_records_the_same_trace(run_cli: RunCli, tmp_path: Path, name: str,
                                                               file_format: str) -> None:
    text = run_cli("experiments", "--show", name, "--format", file_format).stdout
    experiment = tmp_path / f"mine.{file_format}"
    experiment.write_text(text)
    trace = tmp_path / "mine.jsonl"
    assert run_cli("record", experiment, "-o", trace).exit_code == 0
    compared = run_cli("diff", TRACES / f"{name}.jsonl", trace)
    assert compared.exit_code == 0, compared.stdout
    assert compared.stdout.endswith("events agree (bit for bit)\n")


def test_record_arithmetic_option_overrides_the_file(run_cli: RunCli, tmp_path: Path) -> None:
    trace = tmp_path / "blas.jsonl"
    assert run_cli("record", "ch06-streetlights-backprop", "-o", trace,
                   "--arithmetic", "blas").stdout.endswith("(blas) -> " + str(trace) + "\n")
    assert '"arithmetic":"blas"' in trace.read_text().splitlines()[0]


def test_show_filters(run_cli: RunCli) -> None:
    trace = TRACES / "ch06-streetlights-backprop.jsonl"
    updates = run_cli("show", trace, "--kind", "update", "--layer", "2", "--epoch", "3").stdout
    lines = updates.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("[") and "weights_1_2 -= alpha" in line for line in lines)
    one = run_cli("show", trace, "--epoch", "0", "--sample", "2").stdout.splitlines()
    assert one[0].startswith("── epoch 0 · sample 2: layer_0 = streetlights[2] = [0, 0, 1]")
    assert [line.split("]")[0] for line in one[1:]] == [f"[{i}" for i in range(14, 21)] + ["[28"]
    rounded = run_cli("show", trace, "--epoch", "59", "--kind", "epoch_end", "--digits", "3")
    assert rounded.stdout == "[1739] end of epoch 59: error summed over 4 sample(s) = 1.51e-05\n"


def test_literate_view_of_the_ascent_form(run_cli: RunCli) -> None:
    trace = TRACES / "ch06-streetlights-backprop-ascent-form.jsonl"
    lines = run_cli("show", trace, "--epoch", "0", "--sample", "0", "--digits", "4").stdout
    assert "[3] layer_2_delta = walk_vs_stop[0] − layer_2 = [0.6081]" in lines
    assert "[5] weights_1_2 += alpha · layer_1ᵀ · layer_2_delta" in lines


def test_schema_describes_every_line_kind(run_cli: RunCli) -> None:
    schema = json.loads(run_cli("schema").stdout)
    text = json.dumps(schema)
    for kind in ("header", "forward", "error", "delta", "update", "epoch_end", "checkpoint", "end"):
        assert f'"const": "{kind}"' in text
    assert f"schema version {SCHEMA_VERSION}" in schema["title"]
    # a long run's checkpoints (schema 6): K in the header, the index in the end line
    assert "checkpoint_every" in schema["$defs"]["Header"]["properties"]
    assert "index" in schema["$defs"]["End"]["properties"]
    # what a traced script printed (schema 4): optional, its lines and how many it left out
    assert "printed" not in schema["$defs"]["Header"].get("required", [])
    assert schema["$defs"]["Printed"]["required"] == ["lines"]
    # the detail levels, all's old name full included (traces of schema 1 and 2 say it)
    assert schema["$defs"]["Header"]["properties"]["detail"]["enum"] == ["step", "epoch", "all", "full"]


def test_show_rounds_by_default_and_exact_prints_every_digit(run_cli: RunCli) -> None:
    """A learner reads one step on one screen: 4 significant digits by default, a batch's
    rows aligned; --exact is every digit the run computed; --digits N rounds to N."""
    trace = TRACES / "ch06-streetlights-backprop.jsonl"
    rounded = run_cli("show", trace, "--epoch", "0", "--sample", "0", "--kind", "error").stdout
    assert rounded == ("[2] error = sum((layer_2 − walk_vs_stop[0])²) = sum(([0.3919] − [1])²) "
                       "= 0.3697\n")
    exact = run_cli("show", trace, "--epoch", "0", "--sample", "0", "--kind", "error", "--exact")
    assert exact.stdout.endswith("= 0.3697329913497495\n")
    two = run_cli("show", trace, "--epoch", "0", "--sample", "0", "--kind", "error", "--digits", "2")
    assert two.stdout.endswith("= 0.37\n")
    both = run_cli("show", trace, "--digits", "3", "--exact")
    assert both.exit_code == 2 and "give --digits or --exact, not both" in both.stderr
    batch = run_cli("show", TRACES / "streetlights-minibatch.jsonl", "--epoch", "0", "--sample", "2",
                    "--kind", "forward", "--layer", "2").stdout
    assert "[[0.2375], [     0]]" in batch  # the rows' numbers in one column


def test_a_filter_that_matches_nothing_says_what_the_trace_holds(run_cli: RunCli) -> None:
    trace = TRACES / "ch06-streetlights-backprop.jsonl"
    result = run_cli("show", trace, "--epoch", "99", "--kind", "delta")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("Error: no event matches --epoch 99 --kind delta: the trace holds passes "
                             "(--epoch) 0–59, samples 0–3, layers 1–2\n")
    pressure = run_cli("show", trace, "--view", "pressure", "--epoch", "60")
    assert pressure.exit_code == 2 and "no event matches --epoch 60" in pressure.stderr
