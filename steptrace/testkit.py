"""The heavy half of the test kit, :mod:`steptrace.testing`: what needs numpy and the rest of
steptrace. ``steptrace.testing`` is the pytest plugin (entry point ``pytest11``), loaded in
every pytest session wherever steptrace is installed, so it imports nothing heavy itself: it
declares the options, hooks and fixtures, and comes here when a test first uses the kit
(a fixture, or one of the names below, which ``steptrace.testing`` gives).

- :func:`check_nonlinearity`, :func:`check_strategy`, :func:`check_script`: the checks;
- :func:`golden_check`: what the ``golden_trace`` fixture gives a test;
- :func:`cli_runner` and :class:`CliResult`: what the ``steptrace_cli`` fixture gives.

Import them from :mod:`steptrace.testing`, where they are documented for users; this
module's layout may change.
"""

from __future__ import annotations

import os
import shlex
import shutil
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, NoReturn, Protocol

import numpy as np
import pytest

from steptrace.compare import Tolerance
from steptrace.config import ExperimentConfig, load_config
from steptrace.defaults import CHECK_ATOL, CHECK_RTOL, TIMEOUT
from steptrace.diff import DiffReport
from steptrace.engine.plan import Plan
from steptrace.engine.rules import Nonlinearity, Strategy
from steptrace.errors import SteptraceError, SteptraceWarning
from steptrace.golden_book import GoldenBook
from steptrace.goldens import TRACE_SUFFIXES, Comparison, comparison, is_golden_name, judge, kept_name
from steptrace.outputs import atomic_write
from steptrace.plugins.loading import added_plugins, load_plugins, named_plugins
from steptrace.plugins.registry import Registry, checked_options
from steptrace.recording import record, run
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent
from steptrace.trace.header import DETAILS, Detail

if TYPE_CHECKING:
    from steptrace.learner.report import CheckReport

__all__ = ["EVENT_FIELDS", "CliResult", "CliRun", "GoldenCheck", "check_nonlinearity", "check_script",
           "check_strategy", "cli_runner", "golden_check"]

DEFAULT_INPUTS = np.linspace(-4.0, 4.0, 81)


def check_nonlinearity(
    nonlinearity: Nonlinearity | str,
    inputs: Iterable[float] | None = None,
    step: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    *,
    options: Mapping[str, Any] | None = None,
    plugins_dir: Path | str | None = None,
    plugins: Sequence[object] = (),
) -> int:
    """``nonlinearity``: the object, or its name as the plugins register it (installed
    ones, and those of ``plugins_dir``), computed with ``options`` (checked against what it
    declares, as a config's are; default: its defaults). Assert that its derivative
    equals the central finite difference ``(function(x + h) - function(x - h)) / 2h`` at
    every input (default: -4 to 4 in steps of 0.1, negative inputs included): taken as
    ``derivative(function(x))``, from the layer's output as the book does, or, for a
    nonlinearity declared ``derivative_of="input"``, as ``derivative(x)``. Points at a
    kink (where the one-sided differences disagree, as relu's at 0) are skipped. Also
    checks shapes and dtypes on a batch, and that ``fast`` (if given: blas mode's
    version) agrees with ``function`` to 1e-14. Returns how many points were compared."""
    if isinstance(nonlinearity, str):
        nonlinearity = _rules(plugins_dir, plugins).nonlinearity(nonlinearity)
    nonlinearity = nonlinearity.with_options(checked_options(nonlinearity, options or {}))
    name = nonlinearity.name
    of_input = nonlinearity.derivative_of == "input"
    x = np.asarray(list(inputs) if inputs is not None else DEFAULT_INPUTS, dtype=np.float64)
    batch = x[: 12].reshape(3, -1) if x.size >= 12 else x.reshape(1, -1)
    for probe in (x.reshape(1, -1), batch):
        output = nonlinearity.function(probe)
        derivative = nonlinearity.derivative(probe if of_input else output)
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
    analytic = nonlinearity.derivative(row if of_input else f(row))
    assert np.all(np.isfinite(analytic[smooth])), f"{name}: the derivative is not finite"
    close = np.isclose(analytic, numeric, rtol=rtol, atol=atol) | ~smooth
    if not close.all():
        worst = int(np.argmax(np.where(close, 0, np.abs(analytic - numeric))[0]))
        hint = ""
        outputs = f(row)[0][smooth[0]]
        if not of_input and not (np.all(np.diff(outputs) >= 0) or np.all(np.diff(outputs) <= 0)):
            hint = (f" ({name} is not monotonic on these inputs: one output comes from two "
                    "inputs, so no derivative of the output can be right; declare "
                    "derivative_of=\"input\" and take the weighted sum)")
        raise AssertionError(
            f"{name}: derivative {nonlinearity.derivative_formula!r} from the "
            f"{'input' if of_input else 'output'} disagrees with finite differences at x = "
            f"{float(x[worst])!r}: {float(analytic[0, worst])!r} vs "
            f"{float(numeric[0, worst])!r}{hint}")
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
    with added_plugins(named_plugins(plugins)):
        rules = Registry.load(load_plugins(Path(plugins_dir) if plugins_dir is not None else None))
    for problem in rules.problems:  # (the command line's warning: lines, as pytest shows them)
        warnings.warn(f"warning: {problem}", SteptraceWarning, stacklevel=3)
    return rules


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


def check_script(path: str | Path, against: str | None = None, *, rtol: float = CHECK_RTOL,
                 atol: float = CHECK_ATOL, timeout: float = TIMEOUT,
                 plugins_dir: Path | str | None = None,
                 plugins: Sequence[object] = ()) -> CheckReport:
    """Assert that a learner's own numpy script (it is run, in a process of its own) follows
    the book's rules at every step — and, with ``against`` (an experiment's id or file),
    uses its data, initial weights, alpha, network and passes and prints what it printed.
    Raises AssertionError with the report's text (the first step that departs, the likely
    mistake; or why the script could not be checked); returns the report when it agrees.
    ``against`` may name a plugin's experiment: ``plugins_dir``'s, or one of ``plugins``.
    A course grades a folder of submissions with one parametrized test::

        from pathlib import Path

        import pytest

        from steptrace.testing import check_script


        @pytest.mark.parametrize("script", sorted(Path("submissions").glob("*.py")))
        def test_backprop(script):
            check_script(script, against="ch06-streetlights-backprop")
    """
    from steptrace.api import check_script as check

    report = check(path, against, rtol=rtol, atol=atol, timeout=timeout, plugins_dir=plugins_dir,
                   plugins=plugins)
    if not report:
        raise AssertionError(str(report))
    return report


def _write_atomically(source: Path, target: Path) -> None:
    """A golden trace is never half-written (steptrace.outputs: a random temporary name)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as data, atomic_write(target) as file:
        shutil.copyfileobj(data, file)


class GoldenCheck(Protocol):
    """What the ``golden_trace`` fixture gives a test (documented there): the function that
    records ``experiment`` and judges it against the golden trace ``golden``."""

    def __call__(self, experiment: str | Path | ExperimentConfig, golden: str | Path, *,
                 tolerance: Tolerance | None = None,
                 fields: Mapping[str, Tolerance] | None = None, detail: Detail | None = None,
                 plugins_dir: Path | str | None = None,
                 plugins: Sequence[object] = ()) -> DiffReport | None: ...


#: How a message names a path or an experiment (relative to where pytest started).
Shown = Callable[[Path | str | ExperimentConfig], str]
#: The fields of the events, the names ``fields=`` may give a tolerance of their own.
EVENT_FIELDS = frozenset(name for kind in (ForwardEvent, ErrorEvent, DeltaEvent, UpdateEvent,
                                           EpochEndEvent) for name in kind.model_fields)


def _test_arg(shown: Shown, item: pytest.Item) -> str:
    """The test as a command line started where pytest was names it."""
    nodeid = item.nodeid
    inside = nodeid[nodeid.index("::"):] if "::" in nodeid else ""
    return shlex.quote(shown(item.path) + inside)


def _kept(config: pytest.Config, golden: Path) -> Path:
    """Where the fresh trace of a failing golden is kept, as ``NAME.new.jsonl``: beside
    the golden, or under ``--steptrace-keep DIR`` at the golden's path from the root."""
    keep = config.getoption("--steptrace-keep", default=None)
    absolute = Path(os.path.abspath(golden))
    if not keep:
        return absolute.parent / kept_name(golden)
    try:
        relative = absolute.relative_to(config.rootpath)
    except ValueError:
        relative = absolute.relative_to(absolute.anchor)
    return Path(os.path.abspath(keep)) / relative.parent / kept_name(golden)


def _experiment(experiment: str | Path | ExperimentConfig, registry: Registry) -> ExperimentConfig:
    if isinstance(experiment, ExperimentConfig):
        return experiment
    if Path(experiment).suffix in {".toml", ".json"}:
        return load_config(Path(experiment))
    return registry.experiment(str(experiment))


def _misuse(golden: Path, name: str, fields: Mapping[str, Tolerance] | None,
            detail: Detail | None) -> str:
    """What is wrong with the fixture's arguments, in one line ("" if nothing)."""
    if not golden.name.endswith(TRACE_SUFFIXES) or golden.name in TRACE_SUFFIXES:
        return (f"golden_trace: {name}: a golden trace's name ends in .jsonl (or .jsonl.gz, "
                "compressed)")
    if not is_golden_name(golden.name):
        return (f"golden_trace: {name}: a name ending in .new.jsonl is a fresh trace kept "
                "beside its golden (it is removed once the golden agrees): name the golden "
                "otherwise")
    if detail is not None and detail not in DETAILS:
        return (f"golden_trace: detail={detail!r}: give \"epoch\" (the passes' ends alone), "
                "\"all\" (every field of every event, none derived), or None (every event)")
    unknown = sorted(set(fields or {}) - EVENT_FIELDS)
    if unknown:
        return (f"golden_trace: fields={{{', '.join(map(repr, unknown))}: ...}}: not a field of "
                f"any event; the fields are {', '.join(sorted(EVENT_FIELDS))}")
    return ""


def _unwritable(golden: Path, name: str) -> str:
    """Why a golden cannot be (re)written in place ("" if it can): it is a symbolic link
    or a directory, which a rewrite would replace."""
    if golden.is_symlink():
        return (f"{name} is a symbolic link (to {os.readlink(golden)}): a golden trace is "
                "not rewritten through a link; make it a file of its own, or give the test the "
                "path it points to")
    if os.path.lexists(golden) and not golden.is_file():
        return f"{name} is not a file (a directory?): remove it, or name another golden"
    return ""


def golden_check(request: pytest.FixtureRequest, tmp_path: Path, book: GoldenBook, ci: str,
                 shown: Shown) -> GoldenCheck:
    """What the ``golden_trace`` fixture (:mod:`steptrace.testing`, where it is documented)
    gives a test: the function that records an experiment and judges it against its
    golden trace, in the session's ``book``, in CI when ``ci`` (why) is not empty, naming
    paths as ``shown`` does."""
    config = request.config
    update = bool(config.getoption("--steptrace-update", default=False))
    keep_dir = bool(config.getoption("--steptrace-keep", default=None))

    def check(
        experiment: str | Path | ExperimentConfig,
        golden: str | Path,
        *,
        tolerance: Tolerance | None = None,
        fields: Mapping[str, Tolerance] | None = None,
        detail: Detail | None = None,
        plugins_dir: Path | str | None = None,
        plugins: Sequence[object] = (),
    ) -> DiffReport | None:
        golden, test = Path(os.path.abspath(golden)), request.node.nodeid
        name = shown(golden)
        rewrite = f"pytest --steptrace-update {_test_arg(shown, request.node)}"

        def failed(lines: Sequence[str], note: str) -> NoReturn:
            book.note(golden, test, "failed", note)
            pytest.fail("\n".join(lines), pytrace=False)

        misuse = _misuse(golden, name, fields, detail)
        if misuse:
            pytest.fail(misuse, pytrace=False)
        other = book.claims.claim(golden, test)
        if other is not None:
            failed([f"{name} is the golden trace of two tests, {other} and {test}: give "
                    "each test a golden file of its own"], f"also the golden of {other}")
        fresh = tmp_path / f"fresh-{kept_name(golden)}"
        try:
            registry = _rules(plugins_dir, plugins)
            run_config = _experiment(experiment, registry)
            record(run_config, registry, fresh, detail=detail or "step")
        except SteptraceError as error:
            problem = str(error)  # (failed outside the except: one line, no chained error)
        else:
            problem = ""
        if problem:
            failed([f"golden_trace({shown(experiment)!r}, {name!r}): {problem}"],
                   "its experiment did not run")
        kept = _kept(config, golden)
        kept_as = shown(kept)
        how = comparison(run_config, tolerance, fields)
        verdict = judge(golden, fresh, how, detail=detail,
                        names=(name, "the run" if update else kept_as))

        def write(outcome: Literal["new", "changed"], note: str = "") -> None:
            problem = _unwritable(golden, name) or _keep(fresh, golden) or ""
            if problem:
                failed([*verdict.lines[:1], f"the golden trace is not rewritten: {problem}"],
                       "not rewritten")
            book.note(golden, test, outcome, note)
            _discard(kept)

        if verdict.agrees:
            book.note(golden, test, "agree", how.describe())
            _discard(kept)
            return verdict.report
        if update:
            write("new" if verdict.status == "missing" else "changed", verdict.first)
            return verdict.report
        if verdict.status == "missing":
            if ci:
                kept_too = (f"; the fresh trace is kept at {kept_as}"
                            if keep_dir and _keep(fresh, kept) is None else "")
                failed([f"golden trace {name} is missing, and nothing is written in CI mode "
                        f"({ci}): record it where you work with {rewrite}, look at it, and "
                        f"commit it{kept_too}"], "missing")
            write("new")
            pytest.fail(f"golden trace {name} was missing: written now; look at it "
                        f"(steptrace show {shlex.quote(name)}), then commit it", pytrace=False)
        why_not = _keep(fresh, kept)
        if why_not is not None:
            look = f"(the fresh trace could not be kept: {why_not})"
        elif verdict.status == "differ":
            look = f"look: {_diff_command(how, name, kept_as)}"
        else:
            look = f"look: steptrace show {shlex.quote(kept_as)}"
        failed([*verdict.lines, *([f"the fresh trace is kept at {kept_as}"] if why_not is None
                                  else []),
                look, f"if the change is intended: {rewrite} rewrites it"], verdict.first)

    return check


def _diff_command(how: Comparison, golden: str, fresh: str) -> str:
    """The ``steptrace diff`` that compares as the test did (it has no tolerance per
    field: those the test gives are said)."""
    tolerance = how.tolerance
    flags = "" if tolerance.exact else f" --rtol {tolerance.rtol:g} --atol {tolerance.atol:g}"
    command = f"steptrace diff{flags} {shlex.quote(golden)} {shlex.quote(fresh)}"
    if how.fields:
        command += (" (it compares every field so; the test gave "
                    f"{', '.join(sorted(how.fields))} tolerances of their own)")
    return command


def _keep(fresh: Path, kept: Path) -> str | None:
    """Copy the fresh trace to ``kept`` (where it is kept, or the golden); None, or why it
    could not be."""
    try:
        _write_atomically(fresh, kept)
    except (SteptraceError, OSError) as error:
        return str(error)
    return None


def _discard(kept: Path) -> None:
    """A fresh trace kept by an earlier failing run goes once its golden agrees (or is
    rewritten): what is left beside the goldens is only what still fails."""
    if kept.is_file() and not kept.is_symlink():
        kept.unlink(missing_ok=True)


class CliResult(NamedTuple):
    """What a ``steptrace`` command did: its exit code, and its stdout and stderr apart."""

    exit_code: int
    stdout: str
    stderr: str


#: How the command line's lines about a plugin begin (one that failed to load, a misspelled
#: or unmarked hook, a name taken, an observer that raised): the ``steptrace_cli`` fixture
#: warns with each (:class:`~steptrace.errors.SteptraceWarning`).
LOADER_WARNING = ("warning: plugin",)


class CliRun(Protocol):
    """What the ``steptrace_cli`` fixture gives a test (documented there): ``steptrace
    ARGS...`` run in-process with the built-ins and exactly the plugins named."""

    def __call__(self, *args: str | os.PathLike[str], plugins: Sequence[object] = (),
                 env: Mapping[str, str | None] | None = None) -> CliResult: ...


def cli_runner() -> CliRun:
    """What the ``steptrace_cli`` fixture (:mod:`steptrace.testing`, where it is
    documented) gives a test: ``steptrace ARGS...`` run in-process with the built-ins and
    exactly the plugins named."""
    from steptrace.cli import run_in_process

    def run(*args: str | os.PathLike[str], plugins: Sequence[object] = (),
            env: Mapping[str, str | None] | None = None) -> CliResult:
        with added_plugins(named_plugins(plugins)):
            result = CliResult(*run_in_process([str(arg) for arg in args],
                                               {"STEPTRACE_PLUGINS": "", **(env or {})}))
        for line in result.stderr.splitlines():
            if line.startswith(LOADER_WARNING):  # (left in stderr too)
                warnings.warn(line, SteptraceWarning, stacklevel=2)
        return result

    return run

