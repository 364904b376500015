"""The layers point one way (docs/architecture.md): the contracts in pyproject.toml's
``[tool.importlinter]`` hold for the package as it is, and a wrong import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = shutil.which("lint-imports", path=os.pathsep.join(
    [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

pytestmark = pytest.mark.skipif(LINT_IMPORTS is None, reason=(
    "import-linter is not installed: pip install -e '.[test]' brings it"))


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package (and the built-in plugins) under ``root``."""
    assert LINT_IMPORTS is not None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "plugins")])}
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=root, env=env, text=True,
                          capture_output=True, timeout=120, check=False)


def copy_of_the_package(to: Path) -> Path:
    shutil.copytree(ROOT / "steptrace", to / "steptrace",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nb[ci]"))
    shutil.copytree(ROOT / "plugins" / "steptrace_builtins", to / "plugins" / "steptrace_builtins",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def test_the_layers_contracts_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "steptrace's layers point one way KEPT" in done.stdout
    assert "the built-in rules use what an outside author would KEPT" in done.stdout
    assert "Contracts: 2 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("module", "planted", "broken"), [
    ("learner/names.py", "import steptrace.api", "steptrace.learner is not allowed to import "
                                                  "steptrace.api"),
    ("engine/formulas.py", "from steptrace.trace import events", "steptrace.engine is not "
                                                                 "allowed to import steptrace.trace"),
    ("views/text.py", "from steptrace import learner", "steptrace.views is not allowed to import "
                                                       "steptrace.learner"),
])
def test_an_import_that_points_up_breaks_the_contract(tmp_path: Path, module: str, planted: str,
                                                       broken: str) -> None:
    root = copy_of_the_package(tmp_path)
    with (root / "steptrace" / module).open("a", encoding="utf-8") as file:
        file.write(f"\n{planted}  # planted by the test\n")
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert broken in done.stdout
    assert f"steptrace.{module[:-3].replace('/', '.')} -> " in done.stdout


def test_a_builtin_plugin_that_reaches_past_the_plugin_api_breaks_the_contract(
        tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path)
    with (root / "plugins" / "steptrace_builtins" / "book.py").open("a", encoding="utf-8") as file:
        file.write("\nfrom steptrace.recording import record  # planted by the test\n")
    done = lint_imports(root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "steptrace_builtins is not allowed to import steptrace.recording" in done.stdout
