"""The plugin system: the hooks, finding and loading plugins, and what they registered.

- :mod:`~steptrace.plugins.hookspecs`: the hooks a plugin implements (``hookimpl``);
- :mod:`~steptrace.plugins.loading`: where plugins come from, loaded so a broken one is harmless;
- :mod:`~steptrace.plugins.registry`: the rules they registered, and by whom;
- ``reference.md``: the plugin reference (package data, the same text as
  ``docs/plugin-reference.md``, both written by ``docs/make_plugin_reference.py``), which
  :func:`reference_text` reads and ``steptrace plugins --reference`` prints.
"""

from __future__ import annotations

#: The plugin reference, in this package.
REFERENCE = "reference.md"


def reference_text() -> str:
    """The plugin reference as Markdown: every hook, every field of the types a plugin
    builds and of an experiment, the portable functions and the test kit's names with their
    signatures (an installed steptrace has no ``docs/``)."""
    from importlib.resources import files

    return files(__name__).joinpath(REFERENCE).read_text(encoding="utf-8")
