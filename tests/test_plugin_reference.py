"""docs/plugin-reference.md is generated from the code, and current; no hook or field goes
undocumented; every name the test kit exports is there with its signature; an installed
steptrace holds the same text (``steptrace plugins --reference``)."""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import inspect
import re
import tomllib
import typing
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_plugin_reference",
                                                  ROOT / "docs" / "make_plugin_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_hook_and_field_is_documented() -> None:
    assert generator().undocumented() == []


def test_the_reference_is_current() -> None:
    made = generator()
    text = made.reference()
    assert made.REFERENCE.read_text(encoding="utf-8") == text, (
        "docs/plugin-reference.md is not current: python docs/make_plugin_reference.py")
    assert made.PACKAGED.read_text(encoding="utf-8") == text, (
        "steptrace/plugins/reference.md is not current: python docs/make_plugin_reference.py")
    assert made.main(["--check"]) == 0


def test_the_check_names_a_stale_copy(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    made = generator()
    stale = tmp_path / "reference.md"
    stale.write_text(made.reference().replace("check_strategy", "check_strategi"))
    monkeypatch.setattr(made, "PACKAGED", stale)
    assert made.main(["--check"]) == 1
    assert capsys.readouterr().out == f"{stale} is not current: python docs/make_plugin_reference.py\n"


def test_an_installed_steptrace_prints_the_same_reference() -> None:
    """``steptrace plugins --reference`` prints the package's copy, which is the page, byte
    for byte; the copy is package data that pyproject ships."""
    from steptrace.cli import cli
    from steptrace.plugins import reference_text

    page = (ROOT / "docs" / "plugin-reference.md").read_text(encoding="utf-8")
    assert reference_text() == page
    result = CliRunner().invoke(cli, ["plugins", "--reference"], prog_name="steptrace")
    assert result.exit_code == 0, result.output
    assert result.stdout == page
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["steptrace.plugins"]
    assert any(fnmatch.fnmatch("reference.md", pattern) for pattern in patterns)


def test_the_help_points_at_the_reference_an_installed_steptrace_has() -> None:
    from steptrace.cli import cli

    def shown(*args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--help"], prog_name="steptrace",
                                    terminal_width=100)
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    assert ("--reference Print the plugin reference instead, as Markdown: every hook, every "
            "field of the types a plugin builds and of an experiment, and the test kit's "
            "functions with their signatures (loads no plugin).") in shown("plugins")
    assert ("The hooks, the types and the test kit: steptrace plugins --reference (the same "
            "page as docs/plugin-reference.md); the guide: docs/plugins.md.") in shown("new-plugin")
    # the tests run as the guide and the starter's README run them: in the plugin's folder
    assert ("Then: pip install -e steptrace-NAME; steptrace plugins; cd steptrace-NAME && "
            "python -m pytest (in the plugin's own folder: from a folder that also holds a "
            "steptrace checkout, the checkout would be imported in place of the installed "
            "steptrace).") in shown("new-plugin")
    assert "cd steptrace-NAME && python -m pytest` passes (in the plugin's own folder" in " ".join(
        (ROOT / "docs" / "plugins.md").read_text().split())
    assert "cd steptrace-${dist} && python -m pytest" in (
        ROOT / "steptrace" / "templates" / "starter" / "README.md.template").read_text()


# The kit's names, each against its signature in the page (parsed back with ast, compared
# with inspect.signature). A fixture is shown as the function it gives a test: these
# protocols type them.
def fixtures() -> dict[str, Any]:
    from steptrace import testkit

    return {"golden_trace": testkit.GoldenCheck, "steptrace_cli": testkit.CliRun}


def annotation(value: Any) -> str | None:
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, typing.ForwardRef):
        value = value.__forward_arg__
    text = value if isinstance(value, str) else getattr(value, "__name__", repr(value))
    return ast.unparse(ast.parse(text, mode="eval").body)


def expected(name: str) -> tuple[list[tuple[Any, ...]], str | None]:
    """A kit name's parameters (kind, name, annotation, default) and return, by inspect."""
    from steptrace import testing

    value = getattr(testing, name)
    if type(value).__name__ == "FixtureFunctionDefinition":
        assert name in fixtures(), f"{name}: a fixture this test does not know the protocol of"
        signature = inspect.signature(fixtures()[name].__call__)
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    else:
        signature = inspect.signature(value)
    parameters = [(p.kind, p.name, annotation(p.annotation),
                   None if p.default is p.empty else repr(p.default))
                  for p in signature.parameters.values()]
    return parameters, (None if inspect.isclass(value) else annotation(signature.return_annotation))


def shown_in(code: str) -> tuple[list[tuple[Any, ...]], str | None]:
    """The same, as the page's block writes them."""
    kind = inspect.Parameter
    node = ast.parse(code if code.startswith("class ") else code + ": ...").body[0]
    if isinstance(node, ast.ClassDef):
        return [(kind.POSITIONAL_OR_KEYWORD, field.target.id, ast.unparse(field.annotation),  # type: ignore[attr-defined]
                 None if field.value is None else repr(ast.literal_eval(field.value)))  # type: ignore[attr-defined]
                for field in node.body], None
    assert isinstance(node, ast.FunctionDef), code
    arguments = node.args
    defaults = [None] * (len(arguments.args) - len(arguments.defaults)) + list(arguments.defaults)

    def one(kind_of: Any, argument: ast.arg, default: ast.expr | None) -> tuple[Any, ...]:
        return (kind_of, argument.arg, None if argument.annotation is None
                else ast.unparse(argument.annotation),
                None if default is None else repr(ast.literal_eval(default)))

    parameters = [one(kind.POSITIONAL_OR_KEYWORD, a, d) for a, d in zip(arguments.args, defaults,
                                                                          strict=True)]
    if arguments.vararg is not None:
        parameters.append(one(kind.VAR_POSITIONAL, arguments.vararg, None))
    parameters += [one(kind.KEYWORD_ONLY, a, d) for a, d in zip(arguments.kwonlyargs,
                                                                 arguments.kw_defaults, strict=True)]
    if arguments.kwarg is not None:
        parameters.append(one(kind.VAR_KEYWORD, arguments.kwarg, None))
    return parameters, None if node.returns is None else ast.unparse(node.returns)


def kit_mismatches(text: str) -> list[str]:
    """Each kit name missing from ``text`` or shown there with another signature."""
    from steptrace import testing

    problems = []
    for name in testing.__all__:
        heading = f"\n### `{name}`\n"
        if heading not in text:
            problems.append(f"{name}: not in the reference")
            continue
        block = re.search(r"```python\n(.*?)\n```", text.split(heading)[1].split("\n### ")[0], re.S)
        if block is None:
            problems.append(f"{name}: no signature")
        elif shown_in(block[1]) != expected(name):
            problems.append(f"{name}: the page shows {shown_in(block[1])}, inspect {expected(name)}")
    return problems


def test_every_kit_name_is_in_the_reference_with_its_signature() -> None:
    from steptrace import testing

    assert {"check_nonlinearity", "check_strategy", "check_script", "golden_trace",
            "steptrace_cli", "CliResult"} <= set(testing.__all__)
    text = (ROOT / "docs" / "plugin-reference.md").read_text(encoding="utf-8")
    assert kit_mismatches(text) == []


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("    step: float = 1e-06,\n", "    step: float = 1e-05,\n", "check_nonlinearity: the page shows"),
    ("    plugins_dir: Path | str | None = None,\n    plugins: Sequence[object] = (),\n) -> DiffReport",
     "    plugins_dir: Path | str | None = None,\n) -> DiffReport", "golden_trace: the page shows"),
    ("### `check_script`", "### `check_scripts`", "check_script: not in the reference"),
    ("    env: Mapping[str, str | None] | None = None,\n) -> CliResult",
     "    env: dict[str, str] | None = None,\n) -> CliResult", "steptrace_cli: the page shows"),
    ("    stdout: str\n", "    stdout: bytes\n", "CliResult: the page shows"),
])
def test_a_kit_signature_that_differs_or_is_missing_is_named(old: str, new: str, problem: str) -> None:
    text = (ROOT / "docs" / "plugin-reference.md").read_text(encoding="utf-8")
    assert old in text
    found = kit_mismatches(text.replace(old, new))
    assert len(found) == 1 and found[0].startswith(problem), found


def test_the_fixtures_give_functions_of_the_signatures_shown() -> None:
    """What each fixture returns has its protocol's signature, as the page shows it."""
    from steptrace import testing, testkit

    for name, protocol in fixtures().items():
        assert inspect.signature(getattr(testing, name)).return_annotation == protocol.__name__
    call = inspect.signature(testkit.CliRun.__call__)
    assert inspect.signature(testkit.cli_runner()) == call.replace(
        parameters=list(call.parameters.values())[1:])
    request = SimpleNamespace(config=SimpleNamespace(getoption=lambda *args, **kwargs: None))
    check = testkit.golden_check(request, ROOT, None, "", str)  # type: ignore[arg-type]
    call = inspect.signature(testkit.GoldenCheck.__call__)
    assert inspect.signature(check) == call.replace(parameters=list(call.parameters.values())[1:])


def test_the_reference_holds_every_hook_with_its_example() -> None:
    text = (ROOT / "docs" / "plugin-reference.md").read_text(encoding="utf-8")
    for hook in ("register_nonlinearities", "register_strategies", "register_experiments",
                 "register_commands", "run_started", "observe_event", "run_finished"):
        section = text.split(f"### `{hook}`")[1].split("\n### ")[0]
        assert f"def {hook}(" in section and "Example:\n```python" in section, hook
    assert "| `revision` | `int` | `1` |" in text
    assert "### `steptrace_cli`" in text
