"""The command line starts quickly: ``--version`` and ``--help`` import neither numpy nor
pydantic and load no plugin, and only the command line imports click. (How long it takes
is measured by ``python -m benchmarks.startup``, not asserted: the machines are noisy.)"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT

#: What ``--version`` and ``--help`` must not import: the heavy libraries, the plugin
#: machinery, and any plugin's code (built-in, installed or from a directory).
HEAVY = ("numpy", "pydantic", "pydantic_core", "pluggy", "steptrace_builtins", "steptrace_extras",
         "steptrace_plugins_dir", "steptrace.plugins.registry", "steptrace.plugins.loading")
#: Runs the command line as the ``steptrace`` script does (the entry point, in a new
#: Python), then prints the names of every module it imported.
PROBE = textwrap.dedent("""
    import json, sys
    from steptrace.__main__ import main
    sys.argv = ["steptrace", *json.loads(sys.argv[1])]
    try:
        main()
    except SystemExit as done:
        code = done.code
    sys.stdout.flush()
    print("\\nmodules:", json.dumps(sorted(sys.modules)), "exit:", code)
""")


def imported_by(*args: str) -> tuple[list[str], str, str]:
    """The modules ``steptrace ARGS...`` imported, what it printed (its words joined by
    single spaces) and its exit code. Installed plugins are allowed, so that one loaded
    would show."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, check=True)
    printed, _, tail = done.stdout.rpartition("\nmodules: ")
    found = re.fullmatch(r"(\[.*\]) exit: (\S+)\n", tail)
    assert found is not None, done.stdout + done.stderr
    return json.loads(found[1]), " ".join((printed + done.stderr).split()), found[2]


@pytest.mark.parametrize(("args", "says", "code"), [
    (["--version"], "steptrace, version 0.1.0", "0"), (["-V"], "steptrace, version 0.1.0", "0"),
    (["--help"], "`steptrace plugins` lists the plugins and their commands", "0"),
    (["-h"], "Commands: check", "0"),
    ([], "Commands: check", "2"),  # `steptrace` alone: the help, as a usage error
])
def test_version_and_help_import_no_numpy_no_pydantic_and_no_plugin(
        args: list[str], says: str, code: str, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "loud.py").write_text("raise SystemExit('a plugin was imported')\n")
    plugins = ["--plugins-dir", str(folder)] if args else []  # (alone, it is the help)
    modules, printed, exit_code = imported_by(*plugins, *args)
    heavy = [name for name in modules if name.split(".")[0] in HEAVY or name in HEAVY]
    assert heavy == []
    assert "steptrace.cli" in modules
    assert says in printed
    assert exit_code == code


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module a source imports when it runs (with its line): ``import`` and
    ``from ... import`` anywhere, in functions too, but not under ``if TYPE_CHECKING:``."""
    found: list[tuple[int, str]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING",
                                                                   "typing.TYPE_CHECKING"}:
            for orelse in node.orelse:
                found += _imports(orelse)
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        found += _imports(node)
    return found


def test_no_module_of_the_package_but_the_command_line_imports_click() -> None:
    package = ROOT / "steptrace"
    allowed = set((package / "cli").glob("*.py"))  # the command line's package
    offenders = [f"{path.relative_to(ROOT)}:{line}: {module}"
                 for path in sorted(package.rglob("*.py")) if path not in allowed
                 for line, module in _imports(ast.parse(path.read_text(), str(path)))
                 if module == "click" or module.startswith("click.")]
    assert offenders == []
    assert any(module == "click" for _, module in _imports(ast.parse(
        (package / "cli" / "runtime.py").read_text())))  # (the walk finds what it looks for)


def test_the_kinds_show_takes_are_the_events_kinds() -> None:
    from steptrace.defaults import EVENT_KINDS
    from steptrace.trace import events

    assert EVENT_KINDS == tuple(events.EVENT_CLASSES) == ("forward", "error", "delta", "update",
                                                          "epoch_end")
    assert all(events.EVENT_CLASSES[kind].model_fields["kind"].default == kind
               for kind in EVENT_KINDS)


def test_the_startup_benchmark_prints_every_command_with_its_ratio_to_import_numpy() -> None:
    from benchmarks.startup import (
        BASELINE,
        HELP,
        PLUGIN_IMPORT,
        PYTEST_BARE,
        PYTEST_PLUGIN,
        RECORD,
        VERSION,
        main,
    )

    result = CliRunner().invoke(main, ["--repeat", "1"])
    assert result.exit_code == 0, result.output
    rows = {name: (float(ratio), target) for name, ratio, target in re.findall(
        r"^  (\S.*?)\s+[\d.]+\s+([\d.]+)\s*(≤ [\d.]+)?$", result.output, re.MULTILINE)}
    assert set(rows) >= {BASELINE, VERSION, HELP, RECORD}
    assert rows[BASELINE] == (1.0, "")
    assert rows[VERSION][1] == rows[HELP][1] == "≤ 1.3" and rows[RECORD][1] == "≤ 2.0"
    # pytest's start, bare and with steptrace's plugin: wall clock and CPU time, each with its
    # ratio to bare and the ms it adds
    number = r"\s+[\d.]+\s+([\d.]+)\s+([-+][\d.]+)"
    pytest_rows = {name: (float(wall), float(wall_plus), float(cpu), float(cpu_plus), target)
                   for name, wall, wall_plus, cpu, cpu_plus, target in re.findall(
                       rf"^  (\S.*?){number}{number}\s*(≤ \+[\d.]+ ms)?$", result.output,
                       re.MULTILINE)}
    assert pytest_rows[PYTEST_BARE] == (1.0, 0.0, 1.0, 0.0, "")
    assert pytest_rows[PYTEST_PLUGIN][4] == "≤ +10 ms"
    assert re.search(rf"^  {re.escape(PLUGIN_IMPORT)}\s+\+[\d.]+$", result.output, re.MULTILINE)


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--version"], 0, "steptrace, version 0.1.0"),
    (["record", "no-such-experiment"], 2, "Error: unknown experiment 'no-such-experiment'"),
    (["show", "--epoch", "x", "t.jsonl"], 2, "Error: Invalid value for '--epoch'"),
])
def test_the_script_exits_fast_with_the_commands_code_after_the_exit_handlers(
        args: list[str], code: int, says: str) -> None:
    """The ``steptrace`` script leaves without unwinding the interpreter, but only after what
    a normal exit does that matters: the atexit handlers (a plugin's, say) and the streams
    flushed; its exit code is the command's."""
    probe = ("import atexit, json, sys; atexit.register(print, 'atexit ran'); "
             "from steptrace.__main__ import script; "
             "sys.argv = ['steptrace', *json.loads(sys.argv[1])]; script()")
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(args)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == code, done.stderr
    assert says in done.stdout + done.stderr
    assert done.stdout.endswith("atexit ran\n")


#: What steptrace's pytest plugin (``steptrace.testing``, loaded by its ``pytest11`` entry
#: point in every pytest session) must not import until a test uses it: numpy and pydantic,
#: and the rest of steptrace (the kit's heavy half, the API, the goldens' judging, recording).
PLUGIN_HEAVY = ("numpy", "pydantic", "pydantic_core", "steptrace_builtins",
                "steptrace.api", "steptrace.testkit", "steptrace.goldens", "steptrace.recording",
                "steptrace.config", "steptrace.trace", "steptrace.engine", "steptrace.plugins")


def _heavy_for_the_plugin(modules: list[str]) -> list[str]:
    return [name for name in modules
            if any(name == heavy or name.startswith(f"{heavy}.") for heavy in PLUGIN_HEAVY)]


def test_importing_the_pytest_plugin_imports_neither_numpy_nor_the_rest_of_steptrace() -> None:
    probe = "import json, sys; import steptrace.testing; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = json.loads(done.stdout)
    assert _heavy_for_the_plugin(modules) == []
    assert [name for name in modules if name.split(".")[0] == "steptrace"] == [
        "steptrace", "steptrace.testing"]


@pytest.mark.parametrize("how", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_pytest_session_that_uses_no_fixture_of_the_kit_imports_nothing_heavy(
        how: list[str], tmp_path: Path) -> None:
    """Its hooks run (options, configure, collection, reports, the summary; pytest-xdist's
    controller and workers) and import no more than the plugin's module did, and the
    golden book (the standard library's)."""
    from tests.conftest import INSTALLED

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import json, os, sys
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_unconfigure(config):
            with open(f"modules-{os.getpid()}.json", "w") as file:
                json.dump(sorted(sys.modules), file)
    """))
    kit = [] if INSTALLED else ["-p", "steptrace.testing"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *kit, *how,
                           "--steptrace-ci"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    dumps = sorted(tmp_path.glob("modules-*.json"))
    assert len(dumps) == (3 if how[0] == "-n" else 1)  # (the controller and two workers)
    for dump in dumps:
        modules = json.loads(dump.read_text())
        assert "steptrace.testing" in modules
        assert _heavy_for_the_plugin(modules) == []


def test_the_kits_names_come_from_its_heavy_half_when_asked_for() -> None:
    import steptrace.testing
    import steptrace.testkit

    assert steptrace.testing.check_strategy is steptrace.testkit.check_strategy
    assert steptrace.testing.CliResult is steptrace.testkit.CliResult
    assert steptrace.testing.GoldenCheck is steptrace.testkit.GoldenCheck
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        steptrace.testing.nothing_here  # noqa: B018


def test_the_kit_without_pytest_says_what_to_install() -> None:
    code = ("import sys; sys.modules['pytest'] = None\n"
            "try:\n    import steptrace.testing\n"
            "except ModuleNotFoundError as error:\n    print(error.name, '|', error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout == ("pytest | steptrace.testing is steptrace's kit for pytest, and pytest "
                           "is not installed: pip install pytest (or steptrace's test extra)\n")
