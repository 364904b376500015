"""The registry of this process's plugins, loaded once for each plugins directory and each
setting of the variables that choose plugins: what the Python API and the notebook magic
record and check with (the command line loads its own, once per command)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from steptrace.plugins.loading import ENV_DIR, ENV_ONLY, load_plugins
from steptrace.plugins.registry import Registry

_REGISTRIES: dict[tuple[Path | None, str | None, str | None], Registry] = {}


def registry(plugins_dir: Path | str | None = None) -> Registry:
    """The rules the plugins registered (loaded once per ``plugins_dir`` and per setting of
    the variables that choose plugins); each plugin that failed to load is a Python
    warning, once."""
    key = (None if plugins_dir is None else Path(plugins_dir),
           os.environ.get(ENV_ONLY), os.environ.get(ENV_DIR))
    found = _REGISTRIES.get(key)
    if found is None:
        found = _REGISTRIES[key] = Registry.load(load_plugins(key[0]))
        for problem in found.problems:
            warnings.warn(problem, stacklevel=3)
    return found
