"""What ``pip install .`` installs: pyproject.toml names each package (the tests run from
an editable install, which would hide one left out of the list: ``steptrace.cli`` was,
once, and a wheel's ``steptrace`` then could not start), and its package data covers every
file a package reads that is not Python."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "setuptools"]


def folder_of(package: str) -> Path:
    top, _, rest = package.partition(".")
    base = ROOT / str(SETUPTOOLS["package-dir"].get(top, top))
    return base.joinpath(*rest.split(".")) if rest else base


def test_every_package_of_the_tree_is_installed() -> None:
    found = {".".join((top, *path.parent.relative_to(base).parts))
             for top, base in (("steptrace", ROOT / "steptrace"),
                               ("steptrace_builtins", ROOT / "plugins" / "steptrace_builtins"))
             for path in base.rglob("__init__.py") if "__pycache__" not in path.parts}
    assert {"steptrace.cli", "steptrace.views.page", "steptrace_builtins"} <= found
    assert sorted(found) == sorted(SETUPTOOLS["packages"])


def test_every_file_a_package_reads_is_package_data() -> None:
    """Every file in a package's folder that is not Python (templates, the page's files,
    the plugin reference, the book's experiments) matches its package's patterns."""
    missing = []
    for package in SETUPTOOLS["packages"]:
        folder = folder_of(package)
        patterns = SETUPTOOLS["package-data"].get(package, [])
        subpackages = {folder_of(p) for p in SETUPTOOLS["packages"] if p.startswith(f"{package}.")}
        for path in folder.rglob("*"):
            if (not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts
                    or path.name.endswith((".nbi", ".nbc")) or any(
                        path.is_relative_to(sub) for sub in subpackages)):
                continue
            name = path.relative_to(folder).as_posix()
            if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
                missing.append(f"{package}: {name}")
    assert missing == []
    assert "reference.md" in SETUPTOOLS["package-data"]["steptrace.plugins"]
