"""Finding and loading plugins, so that a broken one is harmless.

Plugins come from three places, in this order:

1. the built-ins of ``DEFAULT_PLUGINS`` (always);
2. installed distributions, through the ``steptrace`` entry-point group;
3. one-file plugins: every ``*.py`` in ``--plugins-dir DIR`` or ``$STEPTRACE_PLUGINS_DIR``.

``$STEPTRACE_PLUGINS`` restricts the outside plugins (2 and 3) to the comma-separated
names it lists; set and empty, only the built-ins load (for reproducible CI). A plugin
that fails to import or to register is reported by name, in one line, and left out
(``STEPTRACE_DEBUG=1`` prints its traceback too); in strict mode (``--strict-plugins``
or ``STEPTRACE_STRICT_PLUGINS=1``) the first such problem is an error (exit 2). So is a
plugins directory, or a ``*.py`` in it, that anyone may write to: a warning, or in
strict mode an error. ``STEPTRACE_TRACE_HOOKS=1`` prints every hook call on stderr.
Nothing is loaded at import time: :func:`load_plugins` builds a fresh manager.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import importlib.util
import os
import stat
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from steptrace import __version__
from steptrace.errors import PluginError
from steptrace.plugins import hookspecs

ENTRY_POINT_GROUP = "steptrace"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "steptrace_builtins.nonlinearities",
    "steptrace_builtins.strategies",
    "steptrace_builtins.hot_and_cold",
    "steptrace_builtins.book",
)
#: Modules a plugin written for the first layout imported, and where they are now
#: (the core was grouped into packages: engine, trace, views, plugins).
MOVED = {
    "steptrace.hookspecs": "steptrace.plugins.hookspecs",
    "steptrace.rules": "steptrace.engine.rules",
    "steptrace.arithmetic": "steptrace.engine.arithmetic",
    "steptrace.events": "steptrace.trace.events",
    "steptrace.tracefile": "steptrace.trace.reader, .writer or .header",
    "steptrace.derive": "steptrace.trace.state",
    "steptrace.registry": "steptrace.plugins.registry (Plan: steptrace.engine.plan)",
    "steptrace.plugin_loader": "steptrace.plugins.loading",
    "steptrace.narrate": "steptrace.views",
}
ENV_ONLY = "STEPTRACE_PLUGINS"
ENV_DIR = "STEPTRACE_PLUGINS_DIR"
ENV_STRICT = "STEPTRACE_STRICT_PLUGINS"
ENV_TRACE = "STEPTRACE_TRACE_HOOKS"
ENV_DEBUG = "STEPTRACE_DEBUG"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in {"", "0", "false", "no"}


def trace_hooks() -> bool:
    """Whether every hook call is printed on stderr (``STEPTRACE_TRACE_HOOKS=1``)."""
    return _flag(ENV_TRACE)


def debug() -> bool:
    """Whether a plugin's failure is shown with its traceback (``STEPTRACE_DEBUG=1``; set
    to anything, as the command line reads it for its own internal errors)."""
    return bool(os.environ.get(ENV_DEBUG))


def trace(message: str) -> None:
    sys.stderr.write(f"steptrace hook: {message}\n")


@dataclass(frozen=True)
class PluginInfo:
    """What steptrace knows of a loaded plugin besides its hooks."""

    name: str
    version: str
    source: str  # "built-in", "entry point of DIST", or the file's path
    builtin: bool
    distribution: str | None = None  # what to pip install: "steptrace", "steptrace-extras"


@dataclass
class Plugins:
    """A plugin manager, what each plugin is, and the problems met while loading."""

    pm: pluggy.PluginManager
    info: dict[str, PluginInfo] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    strict: bool = False
    #: The plugins found but left out because they failed, by name: why (``failed to
    #: import: ImportError: ...``), so that a replay needing one can say so.
    failed: dict[str, str] = field(default_factory=dict)
    #: The outside plugins found but left out by ``$STEPTRACE_PLUGINS``, by name: where each
    #: is from (``entry point of DIST``, a file's path), so that a listing, or a name
    #: nothing loaded registers, can say so (:meth:`left_out_text`).
    left_out: dict[str, str] = field(default_factory=dict)
    #: What ``$STEPTRACE_PLUGINS`` allowed when they were loaded (None: it was not set).
    allowed: set[str] | None = None

    def left_out_text(self) -> str | None:
        """Which plugins ``$STEPTRACE_PLUGINS`` left out, and how to load them, in words
        (None: it left out none that were found)."""
        if not self.left_out:
            return None
        allowed = self.allowed or set()
        found = ", ".join(f"{name} ({source})" for name, source in sorted(self.left_out.items()))
        one = len(self.left_out) == 1
        return (f"{ENV_ONLY}={','.join(sorted(allowed))} left out {len(self.left_out)} "
                f"plugin{'' if one else 's'} found: {found}; add {'its name' if one else 'their names'} "
                f"to {ENV_ONLY}, or unset it, to load {'it' if one else 'them'}")

    def problem(self, message: str, cause: BaseException | None = None) -> None:
        """A plugin misbehaved: an error in strict mode (raised from ``cause``), else
        remembered and reported; with ``STEPTRACE_DEBUG=1``, ``cause``'s traceback is
        printed on stderr at once."""
        if self.strict:
            raise PluginError(f"{message} (strict plugin mode)") from cause
        if cause is not None and debug():
            traceback.print_exception(cause, file=sys.stderr)
        self.problems.append(message)

    def label(self, name: str) -> str:
        """A plugin as messages name it: ``NAME VERSION``, or ``NAME (PATH)`` for a file."""
        info = self.info.get(name)
        version = info.version if info is not None else None
        if version is None:
            for plugin, dist in self.pm.list_plugin_distinfo():
                if self.pm.get_name(plugin) == name:
                    version = str(dist.version)
        if info is not None and not info.builtin and info.version == "file":
            return f"{name} ({info.source})"
        return f"{name} {version}" if version else f"{name} (version unknown)"

    def register(self, plugin: object, info: PluginInfo) -> None:
        already = self.pm.is_registered(plugin)  # (under another name: it stays so)
        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()
        except (ValueError, pluggy.PluginValidationError) as error:
            if not already and self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self.problem(f"plugin {info.name} ({info.source}) was not loaded: "
                         f"{_explained(error, plugin)}")
            return
        self.info[info.name] = info
        for unmarked in _unmarked_hooks(plugin):
            self.problem(f"plugin {info.name} ({info.source}): {unmarked}")
        if not self.pm.get_hookcallers(plugin):
            self.problem(f"plugin {info.name} ({info.source}) implements no steptrace hook: mark "
                         "its hook functions @hookimpl; if they are an object's methods, point "
                         "the entry point at the object (module:attribute)")


HOOKS = tuple(sorted(name for name in dir(hookspecs)
                     if hasattr(getattr(hookspecs, name), "steptrace_spec")))


def _explained(error: Exception, plugin: object) -> str:
    """pluggy's reason a plugin was refused, with the hook the author likely meant."""
    text = str(error)
    if isinstance(error, pluggy.PluginValidationError) and text.startswith("unknown hook "):
        name = text.split("'")[1] if text.count("'") >= 2 else ""
        close = difflib.get_close_matches(name, HOOKS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"the hooks are {', '.join(HOOKS)}"
        return f"unknown hook {name!r} (marked @hookimpl): {hint}"
    return text


def _unmarked_hooks(plugin: object) -> list[str]:
    """The plugin's own functions that look like hooks but are not marked ``@hookimpl``:
    steptrace never calls them, which would otherwise pass in silence."""
    found = []
    module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    for name in dir(plugin):
        if name.startswith("_"):
            continue
        function = getattr(plugin, name, None)
        if (not callable(function) or hasattr(function, "steptrace_impl")
                or getattr(function, "__module__", None) != module):
            continue
        if name in HOOKS:
            found.append(f"{name} is not marked @hookimpl, so steptrace never calls it "
                         "(decorate it: from steptrace import hookimpl; @hookimpl)")
        elif close := difflib.get_close_matches(name, HOOKS, n=1, cutoff=0.85):
            found.append(f"{name} looks like the hook {close[0]!r} but is neither that name "
                         "nor marked @hookimpl: steptrace never calls it")
    return found


#: Plugin objects registered after the built-ins by :func:`added_plugins` (the authoring
#: kit, the Python API's ``plugins=``), by name.
_added: ContextVar[tuple[tuple[str, object], ...]] = ContextVar("steptrace_added_plugins",
                                                                 default=())


@contextmanager
def added_plugins(plugins: Sequence[tuple[str, object]]) -> Iterator[None]:
    """Within the block, every :func:`load_plugins` also registers these (name, module or
    object) pairs, right after the built-ins, whatever ``$STEPTRACE_PLUGINS`` allows: how
    a plugin's tests run the command line with it and nothing else installed."""
    token = _added.set(tuple(plugins))
    try:
        yield
    finally:
        _added.reset(token)


def named_plugins(plugins: Sequence[object]) -> list[tuple[str, object]]:
    """Plugins given in this process as (name, plugin) pairs, for :func:`added_plugins`: a
    module under its name, an object under its class's name, a (name, plugin) pair as given."""
    named: list[tuple[str, object]] = []
    for plugin in plugins:
        if isinstance(plugin, tuple):
            name, given = plugin
            named.append((str(name), given))
        else:
            named.append((plugin.__name__ if isinstance(plugin, ModuleType)
                          else type(plugin).__name__, plugin))
    return named


def _distribution_of(plugin: object) -> str | None:
    """The installed distribution a plugin's code comes from, if any (for its version)."""
    module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    found = importlib.metadata.packages_distributions().get(module.partition(".")[0])
    return found[0] if found else None


def installed_plugin(name: str) -> bool:
    """Whether an installed distribution offers a plugin of that name (an entry point)."""
    return bool(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name))


def allowed_plugins() -> set[str] | None:
    """The outside plugins ``$STEPTRACE_PLUGINS`` allows (None: all of them)."""
    if ENV_ONLY not in os.environ:
        return None
    return {name.strip() for name in os.environ[ENV_ONLY].split(",") if name.strip()}


def load_plugins(
    plugins_dir: Path | None = None,
    *,
    entry_points: bool = True,
    strict: bool | None = None,
) -> Plugins:
    """The built-ins, then the allowed installed and directory plugins."""
    pm = pluggy.PluginManager("steptrace")
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm, strict=_flag(ENV_STRICT) if strict is None else strict)
    if trace_hooks():
        pm.trace.root.setwriter(lambda text: sys.stderr.write(f"steptrace hook: {text}"))
        pm.enable_tracing()
    for module_name in DEFAULT_PLUGINS:
        plugins.register(importlib.import_module(module_name),
                         PluginInfo(module_name, __version__, "built-in", builtin=True,
                                    distribution="steptrace"))
    for name, plugin in _added.get():
        distribution = _distribution_of(plugin)
        plugins.register(plugin, PluginInfo(
            name, importlib.metadata.version(distribution) if distribution else "test",
            "added by the test", builtin=False, distribution=distribution))
    allowed = plugins.allowed = allowed_plugins()
    added = {name for name, _ in _added.get()}  # (an added plugin stands for its installed self)
    if entry_points:
        # in name order, so that of two plugins registering one name the same one wins
        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in sorted(found, key=lambda point: point.name):
            if entry_point.name in added:
                continue
            dist = entry_point.dist
            source = f"entry point of {dist.name}" if dist is not None else "entry point"
            if allowed is not None and entry_point.name not in allowed:
                plugins.left_out.setdefault(entry_point.name, source)
                continue
            version = dist.version if dist is not None else "unknown"
            _load(plugins, entry_point.name, source, version, entry_point.load,
                  dist.name if dist is not None else None)
    directory = plugins_dir or (Path(os.environ[ENV_DIR]) if os.environ.get(ENV_DIR) else None)
    if directory is not None:
        if not directory.is_dir():
            raise PluginError(f"plugins directory {directory} does not exist (--plugins-dir / "
                              f"${ENV_DIR})")
        paths = sorted(directory.glob("*.py"))
        if allowed is not None:
            for path in paths:
                if path.stem not in allowed:
                    plugins.left_out.setdefault(path.stem, str(path))
            paths = [path for path in paths if path.stem in allowed]
        if paths:
            _check_not_world_writable(plugins, directory, paths)
        for path in paths:
            _load(plugins, path.stem, str(path), "file", functools.partial(_import_file, path))
    return plugins


def _check_not_world_writable(plugins: Plugins, directory: Path, paths: list[Path]) -> None:
    """Anyone may write to the directory, or to a plugin file in it: anyone could make
    steptrace run their code (a sticky bit does not help: it guards renames, not new files)."""
    for what, path in [("plugins directory", directory),
                       *(("plugin file", path) for path in paths)]:
        try:
            writable = bool(path.stat().st_mode & stat.S_IWOTH)
        except OSError:
            continue  # gone or unreadable: importing it says what is wrong
        if writable:
            plugins.problem(f"{what} {path} is writable by anyone: anyone on this machine could "
                            f"put code there that steptrace runs (chmod o-w {path})")


def _load(plugins: Plugins, name: str, source: str, version: str,
          load: Callable[[], Any], distribution: str | None = None) -> None:
    if plugins.pm.has_plugin(name):
        plugins.problem(f"plugin {name} ({source}) was not loaded: the name {name!r} is taken")
        return
    try:
        module = load()
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        moved = MOVED.get(getattr(error, "name", None) or "")
        if isinstance(error, ModuleNotFoundError) and moved is not None:
            reason += f" (it moved: import from {moved}; the plugin needs updating)"
        plugins.failed.setdefault(name, f"failed to import: {reason}")
        plugins.problem(f"plugin {name} ({source}) failed to import: {reason}; "
                        f"{_remedy(plugins, name, source, version, distribution)}", error)
        return
    plugins.register(module, PluginInfo(name, version, source, builtin=False,
                                        distribution=distribution))


def _remedy(plugins: Plugins, name: str, source: str, version: str,
            distribution: str | None) -> str:
    """What to do about a plugin that fails to import: remove it (uninstall its
    distribution; a file, move it out of its folder), or leave it out with
    ``$STEPTRACE_PLUGINS``."""
    if version == "file":
        remove = f"fix it, or move it out of {Path(source).parent}"
    elif distribution is not None:
        remove = f"uninstall it (pip uninstall {distribution})"
    else:
        remove = "uninstall the distribution that offers it"
    if plugins.allowed is None:
        leave = f"set {ENV_ONLY} to the plugins to load, without it"
    else:
        leave = f"take it out of {ENV_ONLY}={','.join(sorted(plugins.allowed))}"
    return f"{remove}, or leave it out ({leave})"


def _import_file(path: Path) -> ModuleType:
    """Import one plugin file under a private module name (nothing else in its folder)."""
    module_name = f"steptrace_plugins_dir.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
