"""``steptrace new-plugin NAME``: the package it writes installs, passes its own tests and
shows up in ``steptrace plugins``, untouched."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from steptrace.testing import CliResult
from tests.conftest import ROOT, RunCli


def test_a_new_plugin_installs_passes_its_tests_and_is_listed(run_cli: RunCli, tmp_path: Path) -> None:
    made = run_cli("new-plugin", "my_rules", "-d", tmp_path)
    assert made.exit_code == 0, made.stderr
    root = tmp_path / "steptrace-my-rules"
    assert made.stdout == (f"wrote {root}: pip install -e {root}, then steptrace plugins, and "
                           f"cd {root} && python -m pytest\n")
    assert made.stderr == ""
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md", "pyproject.toml", "steptrace_my_rules/__init__.py",
        "tests/golden/my_rules-streetlights.jsonl", "tests/test_my_rules.py"]
    # its tests pass before it is installed, whatever STEPTRACE_PLUGINS says (they load it)
    uninstalled = {**os.environ, "STEPTRACE_PLUGINS": "",
                   "PYTHONPATH": os.pathsep.join([str(root), str(ROOT), str(ROOT / "plugins")])}
    early = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           capture_output=True, text=True, cwd=root, env=uninstalled, timeout=600)
    assert early.returncode == 0, early.stdout + early.stderr
    # built as its README says (a wheel in dist/), and that wheel installed
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *_isolation(),
                            "-w", str(root / "dist"), str(root)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel = root / "dist" / "steptrace_my_rules-0.1.0-py3-none-any.whl"
    assert [path.name for path in (root / "dist").iterdir()] == [wheel.name]
    assert "dist/steptrace_my_rules-0.1.0-py3-none-any.whl" in (root / "README.md").read_text()
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), str(ROOT / "plugins")])}
    env.pop("STEPTRACE_PLUGINS", None)
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            capture_output=True, text=True, cwd=root, env=env, timeout=600)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout
    listed = subprocess.run([sys.executable, "-m", "steptrace", "plugins", "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    plugin = {entry["name"]: entry for entry in json.loads(listed.stdout)}["my_rules"]
    assert plugin["source"] == "entry point of steptrace-my-rules"
    assert plugin["version"] == "0.1.0"
    assert plugin["nonlinearities"] == ["my_rules_softsign"]
    assert plugin["strategies"] == ["my_rules_reversed"]
    assert plugin["experiments"] == ["my_rules-streetlights"]
    assert plugin["commands"] == ["my-rules-errors"]
    assert plugin["options"]["my_rules_reversed"]["batch_size"]["default"] == 1
    assert {"run_started", "observe_event", "run_finished"} <= set(plugin["hooks"])


def _isolation() -> list[str]:
    """How pip builds the new plugin here: with this venv's setuptools (no network), or, in
    a venv without setuptools, in pip's build isolation. A setuptools before 70.1 builds a
    wheel only with the ``wheel`` package (the ``test`` extra includes it): without it the
    build would fail with "invalid command 'bdist_wheel'", so the test skips, saying so."""
    if importlib.util.find_spec("setuptools") is None:
        return []
    version = importlib.metadata.version("setuptools")
    if _release(version) < (70, 1) and importlib.util.find_spec("wheel") is None:
        pytest.skip(f"setuptools {version} cannot build the plugin's wheel without the wheel "
                    "package (invalid command 'bdist_wheel'): pip install wheel, or "
                    "pip install -e '.[test]', whose extra includes it")
    return ["--no-build-isolation"]


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def test_the_test_extra_builds_wheels() -> None:
    """A venv made with the test extra alone has what test_a_new_plugin_... needs to build a
    wheel with an old setuptools (Python 3.11's venvs come with 65.5)."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["test"]
    assert any(re.match(r"wheel\b", requirement) for requirement in extra), extra


def test_an_old_setuptools_without_wheel_skips_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "wheel" else real(name, *args))
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "65.5.0")
    with pytest.raises(pytest.skip.Exception, match=r"setuptools 65\.5\.0 cannot build .*"
                                                    r"invalid command 'bdist_wheel'"):
        _isolation()
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "70.1.0")
    assert _isolation() == ["--no-build-isolation"]


@pytest.mark.parametrize(("name", "message"), [
    ("My-Rules", "plugin name 'My-Rules': use lowercase letters and digits, starting with a "
                 "letter, single underscores between them (at most 40), e.g. my_rules"),
    ("1rules", "plugin name '1rules': use lowercase letters"),
    ("../evil", "plugin name '../evil': use lowercase letters"),
    ("nl\n", "plugin name 'nl\\n': use lowercase letters"),
    ("a_", "plugin name 'a_': use lowercase letters"),  # steptrace-a- is no distribution name
    ("a__b", "plugin name 'a__b': use lowercase letters"),  # the same distribution as a_b
])
def test_a_name_that_cannot_be_a_module_is_refused(run_cli: RunCli, tmp_path: Path, name: str,
                                                   message: str) -> None:
    result = run_cli("new-plugin", name, "-d", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "steptrace-mine").mkdir()
    (tmp_path / "steptrace-mine" / "keep.txt").write_text("mine")
    result = run_cli("new-plugin", "mine", "-d", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path / 'steptrace-mine'} exists already: choose "
                             "another name or folder (-d DIR)\n")
    assert [p.name for p in (tmp_path / "steptrace-mine").iterdir()] == ["keep.txt"]


def test_the_harness_runs_the_cli_with_exactly_the_plugins_named(
        steptrace_cli: object, tmp_path: Path) -> None:
    """The kit's steptrace_cli fixture: a plugin given in-process is loaded (its command
    runs), nothing installed is (the extras' command is unknown)."""
    import steptrace_builtins.nonlinearities as builtin_module

    from steptrace.plugins.hookspecs import hookimpl

    class Hello:
        @hookimpl
        def register_commands(self, cli: object) -> None:
            import click

            @cli.command()  # type: ignore[attr-defined,untyped-decorator]
            def hello() -> None:
                click.echo("hello from a test plugin")

    run = steptrace_cli
    assert callable(run)
    result: CliResult = run("hello", plugins=[("hello", Hello())])
    assert result == CliResult(0, "hello from a test plugin\n", "")
    assert run("summary", "x.jsonl").exit_code == 2  # the extras plugin is installed, not loaded
    assert builtin_module.__name__ in run("plugins", "--all").stdout


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_an_interrupted_or_failed_start_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: BaseException | type) -> None:
    import steptrace.recording
    from steptrace.errors import BadInput
    from steptrace.starter import new_plugin

    def fail(*args: object, **kwargs: object) -> None:
        raise stop

    monkeypatch.setattr(steptrace.recording, "record", fail)
    with pytest.raises(KeyboardInterrupt if stop is KeyboardInterrupt else BadInput):
        new_plugin("halfway", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_templates_are_files_in_the_package_shipped_as_its_data_and_filled_in_whole(
        tmp_path: Path) -> None:
    """The starter's files are templates under steptrace/templates/starter/ (package data, so
    pyproject's patterns must cover each): filled in, no placeholder is left, and each is
    what its name says (Python that compiles, TOML that reads)."""
    import ast
    import fnmatch
    import tomllib

    from steptrace.starter import TEMPLATE_SUFFIX, _write

    package = ROOT / "steptrace"
    templates = sorted(path.relative_to(package).as_posix()
                       for path in (package / "templates").rglob("*") if path.is_file())
    assert templates == ["templates/starter/README.md.template",
                         "templates/starter/pyproject.toml.template",
                         "templates/starter/steptrace_NAME/__init__.py.template",
                         "templates/starter/tests/test_NAME.py.template"]
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["steptrace"]
    for template in templates:  # (fnmatch's * crosses "/": count the parts too)
        assert any(fnmatch.fnmatch(template, pattern) and template.count("/") == pattern.count("/")
                   for pattern in patterns), template
    _write(tmp_path, "my_rules", "my-rules")
    written = sorted(path for path in tmp_path.rglob("*") if path.is_file())
    assert [path.relative_to(tmp_path).as_posix() for path in written] == [
        "README.md", "pyproject.toml", "steptrace_my_rules/__init__.py", "tests/test_my_rules.py"]
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert "${" not in text and TEMPLATE_SUFFIX not in text, path
        if path.suffix == ".py":
            ast.parse(text, str(path))
        elif path.suffix == ".toml":
            assert tomllib.loads(text)["project"]["name"] == "steptrace-my-rules"


def test_the_starters_observer_keeps_its_state_on_its_object(tmp_path: Path) -> None:
    """Per-run state on the plugin's object, not in module globals: two objects observing
    at once (two registries) keep apart, and a new run starts afresh; the entry point
    names the object."""
    import tomllib

    from steptrace.starter import _import, _write

    _write(tmp_path, "my_rules", "my-rules")
    module = _import(tmp_path / "steptrace_my_rules" / "__init__.py", "steptrace_my_rules")
    entry = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry["steptrace"] == {"my_rules": "steptrace_my_rules:plugin"}
    assert isinstance(module.plugin, module.Plugin)
    one, two = module.Plugin(), module.Plugin()
    update = SimpleNamespace(kind="update", weight_delta=[[0.5, -2.0]])
    one.run_started(config=None)
    one.observe_event(event=update)
    two.run_started(config=None)
    assert (one.largest, two.largest) == (2.0, 0.0)
    one.run_started(config=None)
    assert one.largest == 0.0
    mutable = [name for name, value in vars(module).items()
               if not name.startswith("_") and isinstance(value, list | dict | set)]
    assert mutable == []


def test_the_starters_readme_links_nothing_made_up_and_says_how_to_ship(tmp_path: Path) -> None:
    from steptrace.starter import _write

    _write(tmp_path, "my_rules", "my-rules")
    readme = (tmp_path / "README.md").read_text()
    links = re.findall(r"\]\(([^)]*)\)", readme)
    assert links == []  # (it pointed at https://github.com/, a placeholder)
    assert "docs/plugin-reference.md" not in readme  # not in an installed steptrace
    for needed in ("steptrace plugins --reference",
                   "python -m pip wheel --no-deps -w dist .", "python -m build",
                   "python -m venv ", "python -m pip install dist/steptrace_my_rules-0.1.0-py3-none-any.whl",
                   "python -m twine check dist/*", "python -m twine upload dist/*",
                   "steptrace record my_rules-streetlights -o run.jsonl && steptrace replay run.jsonl"):
        assert needed in readme, needed
