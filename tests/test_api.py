"""The Python API (``import steptrace``): what the Python section of docs/learning.md shows works, with
real numbers, and errors are steptrace's own one-line exceptions."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import steptrace
from steptrace.errors import BadInput, ConfigError, SteptraceWarning, TraceFormatError
from tests.conftest import ROOT

BACKPROP = "ch06-streetlights-backprop"


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in plugins alone, as the command line's tests run (STEPTRACE_PLUGINS="")."""
    monkeypatch.setenv("STEPTRACE_PLUGINS", "")
    monkeypatch.setattr("steptrace.plugins.loaded._REGISTRIES", {})
FINAL_ERROR = 1.5055622665134859e-05  # the book's last printed error of this run


def test_the_type_checkers_imports_are_the_table_of_public_names() -> None:
    """steptrace/__init__.py names each public name once, in ``_WHERE``; the imports under
    ``TYPE_CHECKING`` (for type checkers and editors) must import exactly those names from
    exactly those modules, and ``__all__`` is the table's names."""
    import ast

    tree = ast.parse((ROOT / "steptrace" / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    imported = {alias.name: node.module for node in block.body
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert imported == steptrace._WHERE
    assert len(imported) == 24 and imported["record"] == "steptrace.api"
    assert steptrace.__all__ == sorted([*imported, "portable", "__version__"])
    for name in steptrace.__all__:
        assert getattr(steptrace, name) is not None


def test_the_package_exports_its_api_and_imports_it_only_when_used() -> None:
    assert {"record", "load", "experiments", "experiment", "Trace", "Experiment", "Check",
            "Events", "hookimpl", "Nonlinearity", "Strategy"} <= set(dir(steptrace))
    code = "import sys, steptrace; print('numpy' in sys.modules, 'steptrace.api' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT)
    assert done.stdout.split() == ["False", "False"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        steptrace.nothing  # noqa: B018  (deliberately not there)


def test_record_in_memory_gives_the_books_run() -> None:
    trace = steptrace.record(BACKPROP)
    assert trace.path is None and trace.incomplete is None
    assert len(trace.events) == 1740 and len(trace.errors) == 60
    assert trace.errors[-1] == FINAL_ERROR
    assert trace.config.name == BACKPROP and trace.header.detail == "step"
    assert repr(trace) == (f"<Trace {BACKPROP}: 1740 events, 60 pass(es), final error "
                           f"{FINAL_ERROR!r} (exact)>")
    assert [w.shape for w in trace.weights] == [(3, 4), (4, 1)]
    last_update = trace.events.filter(kind="update", layer=2)[-1]
    assert last_update.kind == "update" and last_update.weights is not None  # derived back
    assert np.array_equal(np.array(last_update.weights), trace.weights[1])


def test_events_filter_like_the_command_lines_show() -> None:
    events = steptrace.record(BACKPROP).events
    assert len(events.filter(epoch=0)) == 29  # 4 steps of 7 events, and the pass's end
    assert len(events.filter(epoch=[0, 1], kind="forward")) == 16
    assert {e.samples for e in events.filter(sample=2, kind="delta")} == {(2,)}
    assert len(events[:7]) == 7 and events[0].seq == 0
    assert repr(events.filter(epoch=0)) == "Events(29: 8 forward, 4 error, 8 delta, 8 update, 1 epoch_end)"


def test_show_views_are_the_command_lines(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from steptrace.cli import cli

    path = tmp_path / "b.jsonl"
    trace = steptrace.record(BACKPROP, output=path)
    assert trace.path == path and path.exists()
    runner = CliRunner(env={"STEPTRACE_PLUGINS": ""})
    for args, shown in [(("--epoch", "0"), trace.show(epoch=0)),
                        (("--view", "book"), trace.show("book")),
                        (("--view", "pressure", "--epoch", "1"), trace.show("pressure", epoch=1)),
                        (("--epoch", "2", "--digits", "4"), trace.show(epoch=2, digits=4))]:
        assert shown + "\n" == runner.invoke(cli, ["show", str(path), *args]).stdout
    assert trace.show("book").splitlines()[0] == "Error:0.6342311598444467"
    with pytest.raises(BadInput, match="the filters and digits apply to the literate view"):
        trace.show("book", epoch=0)
    with pytest.raises(BadInput, match="view 'nope'"):
        trace.show("nope")


def test_an_experiment_is_changed_by_assignment_and_checked_whole() -> None:
    config = steptrace.experiment(BACKPROP)
    config.alpha = 0.5
    config.iterations = 10
    trace = steptrace.record(config)
    assert trace.config.alpha == 0.5 and len(trace.errors) == 10
    assert trace.errors[-1] != steptrace.record(BACKPROP).errors[9]
    with pytest.raises(ConfigError, match="alpha: Input should be greater than or equal to 0"):
        config.alpha = -1
    with pytest.raises(ConfigError, match="nonlinearities has 1 name"):
        config.nonlinearities = ("relu",)
    assert config.alpha == 0.5 and config.nonlinearities == ("relu", "linear")  # unchanged
    with pytest.raises(ConfigError, match="no setting 'alfa'"):
        config.alfa = 1  # (deliberately misspelled)
    config.strategy = {"name": "minibatch", "batch_size": 2}  # type: ignore[assignment]
    assert len(steptrace.record(config).events.filter(kind="epoch_end", epoch=0)[0].samples) == 4
    assert "<table" in config._repr_html_() and "alpha" in config._repr_html_()


def test_replay_and_diff_are_truthy_on_a_match_and_say_where_not(tmp_path: Path) -> None:
    trace = steptrace.record(BACKPROP)
    check = trace.replay()
    assert check and str(check).startswith(f"{BACKPROP} (in memory): all 1740 events match")
    faster = steptrace.experiment(BACKPROP)
    faster.alpha = 0.3
    other = steptrace.record(faster)
    found = trace.diff(other)
    assert not found
    assert "config field alpha: this trace 0.2, the other trace 0.3" in str(found)
    assert "first divergence at event 5 (update" in str(found)
    assert trace.diff(steptrace.record(BACKPROP, detail="all"))
    saved = trace.save(tmp_path / "saved.jsonl")
    assert steptrace.load(saved).replay()
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(saved.read_text().replace('"error":0.3697329913497495', '"error":0.37', 1))
    broken = steptrace.load(tampered).replay()
    assert not broken and "replay diverges at event 2 (error" in str(broken)


def test_load_completes_every_detail_and_refuses_what_is_not_a_trace(tmp_path: Path) -> None:
    step = steptrace.record(BACKPROP, output=tmp_path / "s.jsonl")
    every = steptrace.record(BACKPROP, output=tmp_path / "a.jsonl", detail="all")
    assert [e.model_dump() for e in step.events] == [e.model_dump() for e in every.events]
    passes = steptrace.record(BACKPROP, detail="epoch")
    assert len(passes.events) == 60 and passes.errors == step.errors
    (tmp_path / "x.jsonl").write_text("hello\n")
    with pytest.raises(TraceFormatError, match="not a steptrace trace"):
        steptrace.load(tmp_path / "x.jsonl")
    with pytest.raises(ConfigError, match="unknown experiment 'nope'"):
        steptrace.record("nope")
    with pytest.raises(ConfigError, match="detail 'most'"):
        steptrace.record(BACKPROP, detail="most")  # type: ignore[arg-type]  # (deliberately wrong)


def test_a_trace_draws_itself_inline_and_in_pictures(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = steptrace.record(BACKPROP)
    page = trace.html()
    assert page.startswith("<!DOCTYPE html>") and "ch06-streetlights-backprop" in page
    inline = trace._repr_html_()
    assert inline.startswith('<iframe srcdoc="&lt;!DOCTYPE html&gt;')
    frame, listener = inline.split("</iframe>")
    assert 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in inline
    assert "<script" not in frame  # the page, all of it escaped
    # beside the frame, the one script: it sets that frame's height (1100 px without it) from
    # the height its page posts
    frame_id = re.search(r'id="(steptrace-[0-9a-f]{32})"', frame)
    assert frame_id is not None and "height: 1100px" in frame
    assert listener.count("<script>") == 1 and f'getElementById("{frame_id[1]}")' in listener
    assert "ev.source !== frame.contentWindow" in listener
    monkeypatch.setattr("steptrace.api.INLINE_EVENTS", 1000)  # a long run: its summary
    assert trace._repr_html_().startswith(f"<p>&lt;Trace {BACKPROP}: 1740 events")
    pytest.importorskip("matplotlib", reason="pip install 'steptrace[plot]'")
    figure = trace.plot()
    assert type(figure).__name__ == "Figure" and len(figure.axes) == 3


def test_to_pandas_is_one_row_per_event_or_says_what_to_install() -> None:
    trace = steptrace.record(BACKPROP)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(BadInput, match="needs pandas: pip install pandas"):
            trace.to_pandas()
        return
    frame = trace.to_pandas()
    assert len(frame) == 1740 and list(frame.columns[:5]) == ["seq", "epoch", "samples", "layer", "kind"]
    assert frame[frame.kind == "epoch_end"].error.iloc[-1] == FINAL_ERROR


def test_experiments_lists_the_ids() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the built-ins load without a problem
        names = steptrace.experiments()
    assert BACKPROP in names and names == sorted(names) and len(names) >= 31


def test_the_readmes_python_section_runs_as_written(tmp_path: Path) -> None:
    """docs/learning.md's Python example, verbatim, in a new Python in an empty directory."""
    readme = (ROOT / "docs" / "learning.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python\n"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("\n```", start)]
    code += "\nprint(repr(trace.errors[-1]), bool(trace.diff(other)), other.path)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{FINAL_ERROR!r} False sigmoid.jsonl"
    assert "── epoch 0 · sample 0: layer_0 = streetlights[0]" in done.stdout
    assert (tmp_path / "sigmoid.jsonl").exists()


def test_shows_mistakes_are_named_as_python_arguments() -> None:
    """Trace.show's one-line errors name its own arguments (``epoch=60``), not the command
    line's options (``--epoch 60``), which the command line keeps."""
    trace = steptrace.record("ch06-streetlights-backprop")
    expected: list[tuple[dict[str, Any], str]] = [
        ({"epoch": 60}, "no event matches epoch=60: the trace holds passes (epoch=) 0–59, "
                        "samples 0–3, layers 1–2"),
        ({"epoch": [70, 71], "kind": "delta"},
         "no event matches epoch=[70, 71], kind='delta': the trace holds passes (epoch=) 0–59, "
         "samples 0–3, layers 1–2"),
        ({"view": "book", "epoch": 1}, "view='book' prints the whole run as the book did: the "
                                       "filters and digits apply to the literate view (digits=, "
                                       "exact=)"),
        ({"view": "pressure", "sample": 1}, "view='pressure' takes epoch= only (the weights after "
                                            "that pass)"),
        ({"digits": 3, "exact": True}, "give digits= or exact=, not both"),
    ]
    for arguments, message in expected:
        with pytest.raises(BadInput) as raised:
            trace.show(**arguments)
        assert str(raised.value) == message


class _Softsign:
    """A plugin given in-process, not installed: a nonlinearity and an experiment using it."""

    @steptrace.hookimpl
    def register_nonlinearities(self, register: Any) -> None:
        register(steptrace.Nonlinearity("api_softsign", lambda x: x / (1 + np.abs(x)),
                                        lambda output: (1 - np.abs(output)) ** 2,
                                        "x / (1 + |x|)", "(1 - |output|) ** 2"))

    @steptrace.hookimpl
    def register_experiments(self, register: Any) -> None:
        register(steptrace.ExperimentConfig.model_validate({
            "name": "api-softsign", "layers": [3, 4, 1],
            "nonlinearities": ["api_softsign", "linear"], "seed": 1, "alpha": 0.2,
            "iterations": 5, "inputs": [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]],
            "goals": [[1], [1], [0], [0]]}))


def test_plugins_given_in_process_are_registered_beside_the_builtins(tmp_path: Path) -> None:
    """``plugins=`` on record, load, experiment(s), and the trace keeps them for replay and
    show; without them, the same names are unknown."""
    plugin = _Softsign()
    assert "api-softsign" in steptrace.experiments(plugins=[plugin])
    assert "api-softsign" not in steptrace.experiments()
    with pytest.raises(ConfigError, match="api-softsign"):
        steptrace.experiment("api-softsign")
    config = steptrace.experiment("api-softsign", plugins=[("softsign", plugin)])
    assert config.nonlinearities[0] == "api_softsign"
    trace = steptrace.record(config, plugins=[plugin])
    assert trace.replay()
    assert "api_softsign(" in trace.show(epoch=0, sample=0)
    saved = steptrace.record("api-softsign", output=tmp_path / "t.jsonl", plugins=[plugin])
    assert saved.errors == trace.errors
    assert steptrace.load(tmp_path / "t.jsonl", plugins=[plugin]).replay()
    with pytest.raises(BadInput, match="uses nonlinearity 'api_softsign' from _Softsign"):
        steptrace.load(tmp_path / "t.jsonl").replay()
    module = ModuleType("softsign_module")  # a module, under its own name
    module.register_experiments = _Softsign().register_experiments  # type: ignore[attr-defined]
    module.register_nonlinearities = _Softsign().register_nonlinearities  # type: ignore[attr-defined]
    assert "api-softsign" in steptrace.experiments(plugins=[module])
    import steptrace_builtins.nonlinearities as builtin  # given again: refused, the built-ins kept

    with pytest.warns(SteptraceWarning, match="steptrace_builtins.nonlinearities .*not loaded"):
        assert steptrace.experiments(plugins=[builtin]) == steptrace.experiments()


def test_a_registry_kept_for_later_calls_holds_no_plugin_given_in_process() -> None:
    """A call with plugins= inside which the kept registry is first made (a hook calling the
    API, the kit's added plugins) does not leave the plugin in it."""
    from steptrace.plugins import loaded
    from steptrace.plugins.loading import added_plugins

    loaded._REGISTRIES.clear()
    with added_plugins([("softsign", _Softsign())]):
        assert "api-softsign" not in loaded.registry().experiments
    assert "api-softsign" not in steptrace.experiments()
