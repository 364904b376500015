"""The plugin author's test kit: a pytest plugin, loaded wherever steptrace is installed
(entry point ``pytest11``).

- :func:`check_nonlinearity`: a nonlinearity's derivative, computed the book's way from
  the layer's *output*, against central finite differences of its function;
- :func:`check_strategy`: a strategy's batches (and its learning rule, if it has one)
  keep the contract the engine relies on (a rule must not write into the step's arrays);
- the ``golden_trace`` fixture: record a run and compare it, event by event, with a
  golden trace file, with a tolerance per field if asked; the first divergent step is
  shown with the steps before it. ``pytest --steptrace-update`` rewrites golden traces;
  a missing one is written and its test fails, so it is looked at before it is committed;
- the ``steptrace_cli`` fixture: the command line run in-process with the built-ins and
  exactly the plugins a test names (for testing a plugin's commands);
- :func:`check_script`, for a course: a learner's own script checked step by step
  against the book's rules (and an experiment), failing with the report's text.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pytest

from steptrace.compare import Tolerance
from steptrace.config import ExperimentConfig, load_config
from steptrace.diff import DiffReport, diff
from steptrace.engine.plan import Plan
from steptrace.engine.rules import Nonlinearity, Strategy
from steptrace.outputs import atomic_write
from steptrace.plugins.loading import added_plugins, load_plugins
from steptrace.plugins.registry import Registry, checked_options
from steptrace.recording import run
from steptrace.trace.reader import open_trace

if TYPE_CHECKING:
    from steptrace.learner.report import CheckReport

__all__ = ["CliResult", "check_nonlinearity", "check_script", "check_strategy", "golden_trace",
           "steptrace_cli"]

DEFAULT_INPUTS = np.linspace(-4.0, 4.0, 81)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("steptrace").addoption(
        "--steptrace-update", action="store_true",
        help="Rewrite the golden traces checked by steptrace's golden_trace fixture.")


def check_nonlinearity(
    nonlinearity: Nonlinearity | str,
    inputs: Iterable[float] | None = None,
    step: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    *,
    plugins_dir: Path | str | None = None,
    plugins: Sequence[object] = (),
) -> int:
    """``nonlinearity``: the object, or its name as the plugins register it (installed
    ones, and those of ``plugins_dir``). Assert that ``derivative(function(x))`` equals
    the central finite difference ``(function(x + h) - function(x - h)) / 2h`` at every
    input (default: -4 to 4 in steps of 0.1), the book's convention of a derivative
    taken from the layer's output. Points at a kink (where the one-sided differences
    disagree, as relu's at 0) are skipped. Also checks shapes and dtypes on a batch, and
    that ``fast`` (if given: blas mode's version) agrees with ``function`` to 1e-14.
    Returns how many points were compared."""
    if isinstance(nonlinearity, str):
        nonlinearity = _rules(plugins_dir, plugins).nonlinearity(nonlinearity)
    name = nonlinearity.name
    x = np.asarray(list(inputs) if inputs is not None else DEFAULT_INPUTS, dtype=np.float64)
    batch = x[: 12].reshape(3, -1) if x.size >= 12 else x.reshape(1, -1)
    for probe in (x.reshape(1, -1), batch):
        output = nonlinearity.function(probe)
        derivative = nonlinearity.derivative(output)
        for what, value in (("function", output), ("derivative", derivative)):
            assert isinstance(value, np.ndarray) and value.shape == probe.shape, (
                f"{name}: {what} must return an array of the input's shape {probe.shape}, "
                f"not {type(value).__name__} {getattr(value, 'shape', '')}")
            assert value.dtype == np.float64, f"{name}: {what} returns {value.dtype}, not float64"
    f = nonlinearity.function
    row = x.reshape(1, -1)
    left = (f(row) - f(row - step)) / step
    right = (f(row + step) - f(row)) / step
    smooth = np.abs(left - right) <= 1e-3 * np.maximum(1.0, np.abs(left))
    numeric = (f(row + step) - f(row - step)) / (2 * step)
    analytic = nonlinearity.derivative(f(row))
    assert np.all(np.isfinite(analytic[smooth])), f"{name}: the derivative is not finite"
    close = np.isclose(analytic, numeric, rtol=rtol, atol=atol) | ~smooth
    if not close.all():
        worst = int(np.argmax(np.where(close, 0, np.abs(analytic - numeric))[0]))
        raise AssertionError(
            f"{name}: derivative {nonlinearity.derivative_formula!r} from the output disagrees "
            f"with finite differences at x = {float(x[worst])!r}: {float(analytic[0, worst])!r} vs "
            f"{float(numeric[0, worst])!r}")
    checked = int(smooth.sum())
    assert checked >= x.size // 2, f"{name}: too few points are smooth enough to check"
    if nonlinearity.fast is not None:  # blas mode's version: the same function, to a few ulps
        fast, portable = nonlinearity.fast(row), f(row)
        agree = np.isclose(fast, portable, rtol=1e-14, atol=0) | (fast == portable)
        if not agree.all():
            worst = int(np.argmin(agree[0]))
            raise AssertionError(
                f"{name}: fast (blas mode's) and function (exact mode's) disagree at x = "
                f"{float(x[worst])!r}: {float(fast[0, worst])!r} vs {float(portable[0, worst])!r}")
    return checked


def check_strategy(
    strategy: Strategy | str,
    options: Mapping[str, Any] | None = None,
    sizes: Iterable[int] = (1, 2, 3, 5, 8),
    each_sample_once: bool = True,
    *,
    plugins_dir: Path | str | None = None,
    plugins: Sequence[object] = (),
) -> None:
    """``strategy``: the object, or its name as the plugins register it (installed ones,
    and those of ``plugins_dir``). Assert that ``strategy.plan`` gives non-empty batches
    of valid sample indices, the same ones every time (a replay depends on it), and —
    unless ``each_sample_once`` is False — every sample exactly once per pass. Sizes for
    which ``plan`` refuses the options (``ValueError``) are skipped; at least one must
    be accepted. A strategy with a learning rule is also run on the book's streetlights:
    twice, with the same events, and without writing into ``step.weights`` or the step's
    other arrays. ``options`` are checked against what the strategy declares, its
    defaults filled in, as a run does."""
    if isinstance(strategy, str):
        strategy = _rules(plugins_dir, plugins).strategy(strategy)
    options = checked_options(strategy, options or {})
    accepted = 0
    for n in sizes:
        try:
            batches = [list(b) for b in strategy.plan(n, options)]
        except ValueError:
            continue
        accepted += 1
        assert batches and all(batches), f"{strategy.name}: an empty batch for {n} samples"
        assert all(0 <= i < n for batch in batches for i in batch), (
            f"{strategy.name}: sample indices out of range for {n} samples: {batches}")
        again = [list(b) for b in strategy.plan(n, options)]
        assert again == batches, f"{strategy.name}: plan is not deterministic for {n} samples"
        if each_sample_once:
            flat = sorted(i for batch in batches for i in batch)
            assert flat == list(range(n)), (
                f"{strategy.name}: a pass over {n} samples must visit each once, not {batches}")
    assert accepted, f"{strategy.name}: plan accepted no dataset size of {list(sizes)}"
    if strategy.own_rule:
        _check_learning_rule(strategy, options)


def _rules(plugins_dir: Path | str | None, plugins: Sequence[object] = ()) -> Registry:
    """The rules the installed plugins, ``plugins_dir``'s and ``plugins`` (modules or
    objects, or (name, plugin) pairs, loaded in this process) register."""
    with added_plugins(_named(plugins)):
        return Registry.load(load_plugins(Path(plugins_dir) if plugins_dir is not None else None))


def _named(plugins: Sequence[object]) -> list[tuple[str, object]]:
    """Plugins as (name, plugin): a module under its name, an object under its class's."""
    return [plugin if isinstance(plugin, tuple) else (_plugin_name(plugin), plugin)
            for plugin in plugins]


def _check_learning_rule(strategy: Strategy, options: Mapping[str, Any]) -> None:
    builtins = Registry.load(load_plugins(entry_points=False))
    config = ExperimentConfig.model_validate({
        "name": "contract", "layers": [3, 4, 1], "nonlinearities": ["relu", "linear"],
        "seed": 1, "alpha": 0.1, "iterations": 3,
        "strategy": {"name": strategy.name, **options},
        "inputs": [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]], "goals": [[1], [1], [0], [0]]})
    nonlinearities = tuple(builtins.nonlinearity(name) for name in config.nonlinearities)
    plan = Plan(nonlinearities, strategy, strategy.plan(len(config.inputs), options),
                options=options)
    runs = []
    for _ in range(2):
        events: list[Any] = []
        try:
            run(config, plan, events.append)
        except ValueError as error:  # the engine hands a rule read-only arrays
            if "read-only" not in str(error):
                raise
            raise AssertionError(
                f"{strategy.name}: its learning rule wrote into an array of the step "
                f"(step.weights, step.layer_0, ...): {error}; a learning rule returns "
                "weight_deltas and must not write into the weights") from error
        runs.append([event.model_dump_json() for event in events])
        updates = [e for e in events if e.kind == "update"]
        assert updates, f"{strategy.name}: its learning rule made no update"
        for event in updates:
            shape = (config.layers[event.layer - 1], config.layers[event.layer])
            assert np.array(event.weight_delta).shape == shape, (
                f"{strategy.name}: weight_delta for layer {event.layer} must be {shape}")
            assert event.rule == strategy.name
    assert runs[0] == runs[1], f"{strategy.name}: two runs of the same config differ"


def check_script(path: str | Path, against: str | None = None, *, rtol: float = 1e-9,
                 atol: float = 1e-12, timeout: float = 60.0) -> CheckReport:
    """Assert that a learner's own numpy script (it is run, in a process of its own) follows
    the book's rules at every step — and, with ``against`` (an experiment's id or file),
    uses its data, initial weights, alpha, network and passes and prints what it printed.
    Raises AssertionError with the report's text (the first step that departs, the likely
    mistake; or why the script could not be checked); returns the report when it agrees.
    A course grades a folder of submissions with one parametrized test::

        @pytest.mark.parametrize("script", sorted(Path("submissions").glob("*.py")))
        def test_backprop(script):
            check_script(script, against="ch06-streetlights-backprop")
    """
    from steptrace.api import check_script as check

    report = check(path, against, rtol=rtol, atol=atol, timeout=timeout)
    if not report:
        raise AssertionError(str(report))
    return report


def _write_atomically(source: Path, target: Path) -> None:
    """A golden trace is never half-written (steptrace.outputs: a random temporary name)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as data, atomic_write(target) as file:
        shutil.copyfileobj(data, file)


GoldenCheck = Callable[..., DiffReport | None]


@pytest.fixture
def golden_trace(request: pytest.FixtureRequest, tmp_path: Path) -> GoldenCheck:
    """``golden_trace(experiment, golden_path, *, tolerance=None, fields=None,
    plugins_dir=None, plugins=())``

    Records ``experiment`` (a built-in or plugin id, an experiment file's path, or an
    :class:`ExperimentConfig`) and compares it with the trace at ``golden_path`` (``.gz``
    too), event by event: bit for bit, or within ``tolerance`` (a
    :class:`~steptrace.compare.Tolerance`), with ``fields`` giving some fields their own,
    e.g. ``{"weights": Tolerance(rtol=1e-12)}``. It compares the header's config (data,
    network, initial weights) and every event; not the fingerprint (versions, revisions,
    machine). The rules come from the installed plugins, ``plugins_dir``'s, and
    ``plugins`` (modules or objects loaded in this process: a plugin's own tests pass
    whether it is installed or not). Fails with the first divergent event and the events
    before it. With ``--steptrace-update`` it rewrites the golden trace instead; a missing
    golden trace is written and the test fails.
    """
    update = bool(request.config.getoption("--steptrace-update", default=False))

    def check(
        experiment: str | Path | ExperimentConfig,
        golden: str | Path,
        *,
        tolerance: Tolerance | None = None,
        fields: Mapping[str, Tolerance] | None = None,
        plugins_dir: Path | None = None,
        plugins: Sequence[object] = (),
    ) -> DiffReport | None:
        from steptrace.recording import record

        registry = _rules(plugins_dir, plugins)
        golden = Path(golden)
        if isinstance(experiment, ExperimentConfig):
            config = experiment
        elif Path(experiment).suffix in {".toml", ".json"}:
            config = load_config(Path(experiment))
        else:
            config = registry.experiment(str(experiment))
        fresh = tmp_path / f"fresh-{golden.name}"
        record(config, registry, fresh)
        if update:
            _write_atomically(fresh, golden)
            return None
        if not golden.exists():
            _write_atomically(fresh, golden)
            pytest.fail(f"golden trace {golden} was missing: written now; look at it, then "
                        "commit it", pytrace=False)
        with open_trace(golden) as old, open_trace(fresh) as new:
            if old.header.config != new.header.config:
                pytest.fail(f"{golden}: the golden trace was recorded from another config; "
                            "rewrite it with --steptrace-update if that is intended",
                            pytrace=False)
        report = diff(golden, fresh, tolerance or Tolerance(), fields)
        if not report.same:
            pytest.fail("\n".join([f"{golden}: the run diverges from its golden trace",
                                   *report.lines(),
                                   "(rewrite it with pytest --steptrace-update if the change "
                                   "is intended)"]), pytrace=False)
        return report

    return check


class CliResult(NamedTuple):
    """What a ``steptrace`` command did: its exit code, and its stdout and stderr apart."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def steptrace_cli() -> Callable[..., CliResult]:
    """``steptrace_cli(*args, plugins=(...), env=None) -> CliResult``

    Runs ``steptrace ARGS...`` in-process with the built-ins and exactly the plugins the
    test names: modules or objects with ``@hookimpl`` functions (a module under its name,
    an object under its class's name; or give ``(name, plugin)`` pairs), none of the
    installed ones
    (``STEPTRACE_PLUGINS=""``). For testing a plugin's commands::

        import my_plugin

        def test_passes(steptrace_cli, tmp_path):
            steptrace_cli("record", "ch06-streetlights-backprop", "-o", tmp_path / "t.jsonl")
            result = steptrace_cli("passes", tmp_path / "t.jsonl", plugins=[my_plugin])
            assert result.exit_code == 0 and result.stdout == "60\\n"
    """
    from steptrace.cli import run_in_process

    def run(*args: str | os.PathLike[str], plugins: Sequence[object] = (),
            env: Mapping[str, str | None] | None = None) -> CliResult:
        with added_plugins(_named(plugins)):
            return CliResult(*run_in_process([str(arg) for arg in args],
                                             {"STEPTRACE_PLUGINS": "", **(env or {})}))

    return run


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__name__
