"""The command line is a thin layer (issue 26): each command in ``steptrace/cli/`` is
short and only formats what the function it calls returns, and every default its
``--help`` shows is the one defined in :mod:`steptrace.defaults`, not a copy of it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT

PACKAGE = ROOT / "steptrace" / "cli"
#: The most lines a command may take, from its first decorator to its last line.
LONGEST = 40


def _is_command(decorator: ast.expr) -> bool:
    """``@command(...)``, ``@click.command(...)``, ``@click.group(...)``, ``@cli.command()``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name in {"command", "group"}


def too_long(paths: list[Path]) -> tuple[int, list[str]]:
    """How many click command functions ``paths`` define, and those longer than
    ``LONGEST`` lines, each named with its file, line and length."""
    found, offenders = 0, []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and any(map(_is_command, node.decorator_list)):
                first = min(decorator.lineno for decorator in node.decorator_list)
                assert node.end_lineno is not None
                found += 1
                if (length := node.end_lineno - first + 1) > LONGEST:
                    offenders.append(f"{path.name}:{first} {node.name}: {length} lines")
    return found, offenders


def test_every_command_is_at_most_40_lines() -> None:
    found, offenders = too_long(sorted(PACKAGE.glob("*.py")))
    assert found == 13  # the group and its twelve commands: the walk finds them all
    assert offenders == []


def test_a_long_command_is_named(tmp_path: Path) -> None:
    module = tmp_path / "wordy.py"
    module.write_text("\n".join(["@command()", "@click.option('--x')", "def wordy(x) -> None:",
                                 *["    pass"] * (LONGEST - 2)]) + "\n")
    assert too_long([module]) == (1, [f"wordy.py:1 wordy: {LONGEST + 1} lines"])


def test_the_command_line_writes_no_number_of_its_own() -> None:
    """A tolerance, a timeout or a count of digits is read from where it is defined."""
    floats = [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
              for path in sorted(PACKAGE.glob("*.py"))
              for node in ast.walk(ast.parse(path.read_text()))
              if isinstance(node, ast.Constant) and isinstance(node.value, float)]
    assert floats == []
    # nor in a command's text: the numbers --help states are filled in (options.with_defaults)
    written = [f"{path.relative_to(ROOT)}: {found}" for path in sorted(PACKAGE.glob("*.py"))
               for found in re.findall(r"\b\d+e-\d+\b|\b(?:130|143)\b", path.read_text())]
    assert written == []


def test_the_help_states_the_exit_codes_defined_once() -> None:
    from steptrace import defaults

    text = _help()
    assert (f"Exit codes: {defaults.EXIT_OK} ok, {defaults.EXIT_MISMATCH} mismatch or divergence, "
            f"{defaults.EXIT_BAD_INPUT} bad input (or an output that cannot be written, or a plugin "
            f"that failed), {defaults.EXIT_INTERNAL} internal error, {defaults.EXIT_INTERRUPTED} "
            f"interrupted (Ctrl-C), {defaults.EXIT_TERMINATED} terminated (SIGTERM).") in text
    from steptrace.errors import BadInput, Mismatch

    assert (BadInput.exit_code, Mismatch.exit_code) == (defaults.EXIT_BAD_INPUT,
                                                        defaults.EXIT_MISMATCH)


def _help(*args: str) -> str:
    from steptrace.cli import cli

    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="steptrace",
                                terminal_width=100)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _shown(text: str, option: str) -> str:
    found = re.search(rf"{re.escape(option)} .*?\[default: ([^;\]]+)", text)
    assert found is not None, f"{option} shows no default in: {text}"
    return found[1]


def test_the_defaults_help_shows_are_steptrace_defaults() -> None:
    from steptrace.defaults import CHECK_ATOL, CHECK_RTOL, DIGITS, TIMEOUT

    check = _help("check")
    assert float(_shown(check, "--rtol")) == CHECK_RTOL
    assert float(_shown(check, "--atol")) == CHECK_ATOL
    assert float(_shown(check, "--timeout")) == TIMEOUT
    assert float(_shown(_help("trace"), "--timeout")) == TIMEOUT
    assert f"significant digits (default: {DIGITS})." in _help("show")


@pytest.mark.parametrize("command", ["replay", "diff"])
def test_replay_and_diff_take_no_default_tolerance(command: str) -> None:
    """Left out, the trace's arithmetic decides (:data:`steptrace.compare.DEFAULT_TOLERANCE`)."""
    text = _help(command)
    assert "--rtol" in text and "--atol" in text
    assert "[default:" not in text


def test_replays_help_states_the_blas_tolerance_compare_defines() -> None:
    from steptrace.compare import DEFAULT_TOLERANCE

    blas = DEFAULT_TOLERANCE["blas"]
    assert f"within rtol {blas.rtol:g}, atol {blas.atol:g} unless --rtol/--atol" in _help("replay")


def test_the_python_entry_points_take_the_same_defaults() -> None:
    import inspect

    import steptrace.api
    import steptrace.learner.services
    import steptrace.testkit
    from steptrace.defaults import CHECK_ATOL, CHECK_RTOL, TIMEOUT
    from steptrace.learner.magic import _options

    for function in (steptrace.api.check_script, steptrace.testkit.check_script,
                     steptrace.learner.services.check_file):
        parameters = inspect.signature(function).parameters
        assert (parameters["rtol"].default, parameters["atol"].default,
                parameters["timeout"].default) == (CHECK_RTOL, CHECK_ATOL, TIMEOUT), function
    assert inspect.signature(steptrace.api.trace_script).parameters["timeout"].default == TIMEOUT
    magic = _options().parse_args([])
    assert (magic.rtol, magic.atol, magic.timeout) == (CHECK_RTOL, CHECK_ATOL, TIMEOUT)


def test_what_other_code_imports_from_steptrace_cli_is_there() -> None:
    import click

    import steptrace.cli
    from steptrace.cli import runtime

    assert isinstance(steptrace.cli.cli, click.Group)
    assert steptrace.cli.main is runtime.main
    assert steptrace.cli.run_in_process is runtime.run_in_process
    assert sorted(steptrace.cli.cli.commands) == [
        "check", "diff", "experiments", "html", "new-plugin", "plot", "plugins", "record",
        "replay", "schema", "show", "trace"]
