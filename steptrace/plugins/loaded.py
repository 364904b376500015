"""The registry of this process's plugins, loaded once for each plugins directory and each
setting of the variables that choose plugins: what the Python API and the notebook magic
record and check with (the command line loads its own, once per command)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from steptrace.errors import SteptraceWarning
from steptrace.plugins.loading import ENV_DIR, ENV_ONLY, added_plugins, load_plugins, named_plugins
from steptrace.plugins.registry import Registry

_REGISTRIES: dict[tuple[Path | None, str | None, str | None], Registry] = {}


def registry(plugins_dir: Path | str | None = None, plugins: Sequence[object] = ()) -> Registry:
    """The rules the plugins registered (loaded once per ``plugins_dir`` and per setting of
    the variables that choose plugins); each plugin that failed to load is a Python
    warning (:class:`~steptrace.errors.SteptraceWarning`), once. ``plugins``, modules or
    objects with ``@hookimpl`` functions (or (name, plugin) pairs) loaded in this process,
    are registered right after the built-ins, as the test kit's are
    (:func:`~steptrace.plugins.loading.added_plugins`): loaded afresh at every call, never
    kept, so a plugin object changed in between is seen as it is."""
    if plugins:
        with added_plugins(named_plugins(plugins)):
            fresh = Registry.load(load_plugins(None if plugins_dir is None else Path(plugins_dir)))
        for problem in fresh.problems:
            warnings.warn(problem, SteptraceWarning, stacklevel=3)
        return fresh
    key = (None if plugins_dir is None else Path(plugins_dir),
           os.environ.get(ENV_ONLY), os.environ.get(ENV_DIR))
    found = _REGISTRIES.get(key)
    if found is None:
        with added_plugins(()):  # (the plugins of a call with plugins= are not kept)
            found = _REGISTRIES[key] = Registry.load(load_plugins(key[0]))
        for problem in found.problems:
            warnings.warn(problem, SteptraceWarning, stacklevel=3)
    return found
