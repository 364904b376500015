"""``steptrace new-plugin NAME``: a plugin package to start from, ready to install and test.

It writes ``steptrace-NAME/`` (the distribution ``steptrace-NAME``, the module
``steptrace_NAME``): a ``pyproject.toml`` with the entry point, a module with a
nonlinearity, a strategy with a declared option, an observer that summarises each run,
and an experiment that uses them; tests written with the authoring kit, with the
experiment's golden trace recorded by the new plugin itself; and a README. ``pip install
-e steptrace-NAME`` and it shows up in ``steptrace plugins``; ``python -m pytest
steptrace-NAME`` passes untouched.

The files are templates in the package, ``steptrace/templates/starter/`` (see
:data:`TEMPLATES`), each in its own language: edit them there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from types import ModuleType

from steptrace.errors import BadInput

#: a module name that is also a valid distribution name once "_" becomes "-": lowercase
#: letters and digits, single underscores between them, at most 40 characters
NAME = re.compile(r"[a-z](?:_?[a-z0-9]){0,38}")

#: The starter's files, as files: package data under ``steptrace/templates/starter/``, read
#: with :mod:`importlib.resources`. Each is written at its path there, ``NAME`` in the path
#: the plugin's name and the ``.template`` suffix dropped (so that neither pytest, ruff nor
#: mypy takes a template for the package's code); in its text, ``${name}`` (the module's
#: name, ``my_rules``) and ``${dist}`` (the distribution's, ``my-rules``) are filled in
#: (:class:`string.Template`: ``$$`` writes a dollar sign).
TEMPLATES = ("templates", "starter")
TEMPLATE_SUFFIX = ".template"


def new_plugin(name: str, directory: Path | str = ".") -> Path:
    """Write the starter for plugin ``name`` into ``directory/steptrace-NAME`` (which must
    not exist); returns that folder. The golden trace of its experiment is recorded with
    the new plugin itself. BadInput for a name that is not a Python identifier of
    lowercase letters and digits with single underscores between them (at most 40), or a
    folder that exists. The package is built in a temporary folder beside it and renamed
    into place: a failure or an interrupt leaves nothing behind."""
    from steptrace.plugins.loading import added_plugins, load_plugins
    from steptrace.plugins.registry import Registry
    from steptrace.recording import record

    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadInput(f"plugin name {name!r}: use lowercase letters and digits, starting with "
                       "a letter, single underscores between them (at most 40), e.g. my_rules")
    dist = name.replace("_", "-")
    root = Path(directory) / f"steptrace-{dist}"
    if root.exists() or root.is_symlink():
        raise BadInput(f"{root} exists already: choose another name or folder (-d DIR)")
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    except OSError as error:
        raise BadInput(f"cannot write the plugin into {root}: {error.strerror or error}") from None
    try:
        _write(building, name, dist)
        module = _import(building / f"steptrace_{name}" / "__init__.py", f"steptrace_{name}")
        with added_plugins([(name, module.Plugin())]):  # (a fresh object, as its tests make)
            registry = Registry.load(load_plugins(entry_points=False))
        golden = building / "tests" / "golden" / f"{name}-streetlights.jsonl"
        golden.parent.mkdir()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            record(registry.experiment(f"{name}-streetlights"), registry, golden)  # (its observer)
        if root.exists() or root.is_symlink():  # made meanwhile: never replaced
            raise BadInput(f"{root} exists already: choose another name or folder (-d DIR)")
        building.rename(root)
    except OSError as error:
        shutil.rmtree(building, ignore_errors=True)
        raise BadInput(f"cannot write the plugin into {root}: {error.strerror or error}") from None
    except BaseException:  # a failure, Ctrl-C, SIGTERM: nothing half-written stays
        shutil.rmtree(building, ignore_errors=True)
        raise
    return root


def _templates(folder: Traversable, at: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every template under ``folder``: its path there (the parts), and its text."""
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir():
            yield from _templates(entry, (*at, entry.name))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            yield (*at, entry.name.removesuffix(TEMPLATE_SUFFIX)), entry.read_text(encoding="utf-8")


def _write(root: Path, name: str, dist: str) -> None:
    values = {"name": name, "dist": dist}
    for parts, template in _templates(files("steptrace").joinpath(*TEMPLATES)):
        path = root.joinpath(*(part.replace("NAME", name) for part in parts))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values), encoding="utf-8")


def _import(path: Path, module_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"steptrace_new_plugin.{module_name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module
