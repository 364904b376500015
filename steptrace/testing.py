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

This module is loaded in every pytest session of an environment where steptrace is
installed, whether the session uses it or not, so it imports only pytest and the standard
library (and :mod:`steptrace.golden_book`, which imports no more): the options, the hooks
and the fixtures are declared here, and numpy and the rest of steptrace are imported when a
test first uses a fixture or one of the names above (they live in :mod:`steptrace.testkit`).
``python -m benchmarks.startup`` measures what loading it adds to a pytest start.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import pytest
except ModuleNotFoundError:  # (imported by hand, in an environment without pytest)
    raise ModuleNotFoundError(
        "steptrace.testing is steptrace's kit for pytest, and pytest is not installed: "
        "pip install pytest (or steptrace's test extra)", name="pytest") from None

if TYPE_CHECKING:
    from steptrace.config import ExperimentConfig
    from steptrace.golden_book import GoldenBook

    # (what `from steptrace.testing import NAME` gives, by __getattr__ below)
    from steptrace.testkit import DEFAULT_INPUTS as DEFAULT_INPUTS
    from steptrace.testkit import EVENT_FIELDS as EVENT_FIELDS
    from steptrace.testkit import CliResult as CliResult
    from steptrace.testkit import CliRun as CliRun
    from steptrace.testkit import GoldenCheck as GoldenCheck
    from steptrace.testkit import check_nonlinearity as check_nonlinearity
    from steptrace.testkit import check_script as check_script
    from steptrace.testkit import check_strategy as check_strategy

__all__ = ["CliResult", "check_nonlinearity", "check_script", "check_strategy", "golden_trace",
           "steptrace_cli"]

if "steptrace.testkit" not in sys.modules:  # (imported first, it imports this: too late)
    # The checks' asserts explain themselves under pytest, as a plugin module's do.
    pytest.register_assert_rewrite("steptrace.testkit")

#: The kit's names that need numpy and the rest of steptrace: imported from
#: :mod:`steptrace.testkit` when first asked for (``from steptrace.testing import ...``).
_HEAVY = frozenset({"DEFAULT_INPUTS", "EVENT_FIELDS", "CliResult", "CliRun", "GoldenCheck",
                    "check_nonlinearity", "check_script", "check_strategy"})


def __getattr__(name: str) -> Any:
    # (no __dir__ that lists them: pytest looks at every name dir() gives of a plugin, for
    # fixtures, and would import them all at its start)
    if name in _HEAVY:
        value = getattr(import_module("steptrace.testkit"), name)
        globals()[name] = value  # (asked once)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("steptrace", "steptrace's golden traces (the golden_trace fixture)")
    group.addoption(
        "--steptrace-update", action="store_true",
        help="Rewrite the golden traces that fail their comparison (missing, unreadable or "
             "differing; those that agree are left byte for byte), list what was written, and "
             "remove the goldens no test used (after a whole run).")
    group.addoption(
        "--steptrace-ci", action="store_true",
        help="CI mode (also on when the CI variable is set): a missing golden trace fails "
             "and nothing is written.")
    group.addoption(
        "--steptrace-keep", metavar="DIR",
        help="Keep the fresh trace of a failing golden under DIR, at the golden's path "
             "(default: beside the golden, as NAME.new.jsonl).")
    group.addoption(
        "--steptrace-keep-unused", action="store_true",
        help="With --steptrace-update: keep the golden traces no test used.")
    group.addoption(
        "--steptrace-fail-unused", action="store_true",
        help="Golden traces no test used (after a whole run) fail the run.")


_BOOK = pytest.StashKey["GoldenBook"]()
_FALSE = {"", "0", "false", "no", "off"}


def _ci_mode(config: pytest.Config) -> str:
    """Why nothing is written (a missing golden fails): ``--steptrace-ci``, or the
    ``CI`` variable that CI services set; "" when neither."""
    if config.getoption("--steptrace-ci", default=False):
        return "--steptrace-ci"
    value = os.environ.get("CI", "")
    return f"CI={value}" if value.strip().lower() not in _FALSE else ""


def _book(config: pytest.Config) -> GoldenBook:
    if _BOOK not in config.stash:
        from steptrace.golden_book import Claims, GoldenBook

        workerinput = getattr(config, "workerinput", None)
        shared = workerinput.get("steptrace_claims") if workerinput else None
        config.stash[_BOOK] = GoldenBook(Claims(Path(shared) if shared else None))
    return config.stash[_BOOK]


def pytest_configure(config: pytest.Config) -> None:
    ci = _ci_mode(config)
    if ci and config.getoption("--steptrace-update", default=False):
        raise pytest.UsageError(
            f"--steptrace-update writes golden traces, and CI mode ({ci}) writes none: update "
            "them where you work, or, for a job meant to refresh them, run it with CI unset "
            "(CI= pytest --steptrace-update)")
    _book(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist's controller, for each worker: the directory the claims share."""
    book = _book(node.config)
    if book.claims.directory is None:
        book.claims.directory = Path(tempfile.mkdtemp(prefix="steptrace-claims-"))
    node.workerinput["steptrace_claims"] = str(book.claims.directory)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist's controller: a worker's goldens join the session's."""
    data = getattr(node, "workeroutput", {}).get("steptrace_goldens")
    if data:
        _book(node.config).absorb(data)


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    if items:
        _book(items[0].config).deselected += len(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    # (a session counts the modules that failed to collect as failures, before any test ran)
    _book(session.config).uncollected = session.testsfailed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test of goldens that did not pass (failed, skipped, errored) may not have reached
    every golden it checks: the unused goldens cannot be told apart then."""
    outcome = yield
    report = outcome.get_result()
    if not report.passed and "golden_trace" in getattr(item, "fixturenames", ()):
        _book(item.config).unfinished += 1


def _whole_suite_args(config: pytest.Config) -> bool:
    """Whether the paths given on the command line hold every test: each of the
    ``testpaths`` (or the root, without them) lies in a directory given."""
    given = []
    for arg in config.args:
        if "::" in arg:
            return False
        path = Path(os.path.abspath(config.invocation_params.dir / arg))
        if not path.is_dir():
            return False
        given.append(path)
    wanted = [config.rootpath / p for p in config.getini("testpaths")] or [config.rootpath]
    return all(any(want.resolve().is_relative_to(path.resolve()) for path in given)
               for want in wanted)


def _partial(session: pytest.Session) -> str:
    """Why this session cannot tell which goldens are unused ("" if it can): it did not
    run the whole suite, or a test of goldens did not pass."""
    config, book = session.config, _book(session.config)
    if config.args_source == pytest.Config.ArgsSource.ARGS and not _whole_suite_args(config):
        return "only the tests named on the command line ran"
    if config.option.keyword or config.option.markexpr:
        return "-k or -m chose the tests"
    if config.getoption("lf", default=False):
        return "--lf ran the last failures"
    if book.deselected:
        return f"{_count(book.deselected, 'test was', 'tests were')} deselected"
    if book.uncollected:
        return f"{_count(book.uncollected, 'test file', 'test files')} could not be collected"
    if session.shouldfail or session.shouldstop:
        return "the run stopped early"
    if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return "the run did not finish (collection errors, or interrupted)"
    if book.unfinished:
        return (f"{_count(book.unfinished, 'test', 'tests')} of golden traces did not pass "
                "(failed, skipped or errored), so may not have reached every golden")
    return ""


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config, book = session.config, _book(session.config)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller sums up
        workeroutput["steptrace_goldens"] = book.exported()
        return
    if not book.uses:
        return
    book.not_looked_for = _partial(session)
    if book.not_looked_for:
        return
    keep = config.getoption("--steptrace-keep", default=None)
    unused = book.find_unused(Path(keep) if keep else None)
    if config.getoption("--steptrace-update", default=False):
        if not config.getoption("--steptrace-keep-unused", default=False):
            for path in unused:
                path.unlink(missing_ok=True)
                book.removed.append(path)
    elif unused and config.getoption("--steptrace-fail-unused", default=False) \
            and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    book = config.stash.get(_BOOK, None)
    if book is not None and book.claims.directory is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(book.claims.directory, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    book = _book(config)
    asked = bool(config.getoption("--steptrace-update", default=False)
                 or config.getoption("--steptrace-fail-unused", default=False))
    lines = book.summary(asked, lambda path: _shown(config, path),
                         bool(config.getoption("--steptrace-update", default=False)))
    if book.unused and not book.removed and config.getoption("--steptrace-fail-unused",
                                                             default=False):
        lines.append("the run fails: golden traces no test used (--steptrace-fail-unused)")
    if lines:
        terminalreporter.write_sep("=", "steptrace golden traces")
        for line in lines:
            terminalreporter.write_line(line)


def _shown(config: pytest.Config, path: Path | str | ExperimentConfig) -> str:
    """A path as printed, and as the commands a message suggests take it: relative to the
    directory pytest was started in (an experiment given as an id or a config: its id)."""
    if not isinstance(path, str | os.PathLike):  # an ExperimentConfig
        return path.name
    if isinstance(path, str) and not Path(path).suffix:
        return path
    try:
        return os.path.relpath(os.path.abspath(path), config.invocation_params.dir)
    except ValueError:  # (another drive)
        return str(path)


@pytest.fixture
def golden_trace(request: pytest.FixtureRequest, tmp_path: Path) -> GoldenCheck:
    """``golden_trace(experiment, golden, *, tolerance=None, fields=None, detail=None,
    plugins_dir=None, plugins=())``

    Records ``experiment`` (a built-in or plugin id, an experiment file's path, or an
    :class:`ExperimentConfig` — :class:`steptrace.Experiment` is one) and compares it with
    the golden trace at ``golden`` (``NAME.jsonl``, or ``NAME.jsonl.gz``; a relative
    path is from the current directory): the header's config (data, network, initial
    weights; each differing field is named) and every event; not the fingerprint
    (versions, revisions, machine). Bit for bit for an exact experiment and within rtol
    1e-12, atol 1e-15 for a blas one (``steptrace replay``'s defaults), unless
    ``tolerance`` (a :class:`~steptrace.compare.Tolerance`) says otherwise; ``fields``
    gives some of the events' fields their own, e.g. ``{"weights": Tolerance(rtol=1e-12)}``.
    ``detail``: what is compared, every event (None, the default: a golden holding the
    passes alone fails), ``"epoch"``, the passes' ends alone, or ``"all"``, every event
    with every field written (none derived). The rules come from the installed plugins,
    ``plugins_dir``'s, and ``plugins`` (modules or objects loaded in this process).

    Returns the comparison's :class:`~steptrace.diff.DiffReport` (None for a golden
    written new). A failure names the comparison made, what differs (the first divergent
    event with those before it), where the fresh trace is kept (beside the golden as
    ``NAME.new.jsonl``, or under ``--steptrace-keep DIR``) and the command to look at it.

    - A missing golden is written and the test fails, so it is looked at before it is
      committed; in CI (``CI`` set, or ``--steptrace-ci``) nothing is written.
    - ``pytest --steptrace-update`` rewrites the goldens that fail (missing, unreadable,
      or differing; their tests pass) and leaves those that agree byte for byte.
    - Two tests may not share a golden (under pytest-xdist too): the second fails.
    """
    from steptrace.testkit import golden_check

    config = request.config
    return golden_check(request, tmp_path, _book(config), _ci_mode(config),
                        lambda path: _shown(config, path))


@pytest.fixture
def steptrace_cli() -> CliRun:
    """``steptrace_cli(*args, plugins=(...), env=None) -> CliResult``

    Runs ``steptrace ARGS...`` in-process with the built-ins and exactly the plugins the
    test names: modules or objects with ``@hookimpl`` functions (a module under its name,
    an object under its class's name; or give ``(name, plugin)`` pairs), none of the
    installed ones
    (``STEPTRACE_PLUGINS=""``). Each ``warning: plugin ...`` line the command prints (a
    plugin that failed to load, a misspelled or unmarked hook, a name taken) is also a
    pytest warning, :class:`steptrace.errors.SteptraceWarning`, so a test of a broken
    plugin shows why (the lines stay in ``stderr``). For testing a plugin's commands::

        import my_plugin

        def test_passes(steptrace_cli, tmp_path):
            steptrace_cli("record", "ch06-streetlights-backprop", "-o", tmp_path / "t.jsonl")
            result = steptrace_cli("passes", tmp_path / "t.jsonl", plugins=[my_plugin])
            assert result.exit_code == 0 and result.stdout == "60\\n"
    """
    from steptrace.testkit import cli_runner

    return cli_runner()
