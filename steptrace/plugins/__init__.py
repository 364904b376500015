"""The plugin system: the hooks, finding and loading plugins, and what they registered.

- :mod:`~steptrace.plugins.hookspecs`: the hooks a plugin implements (``hookimpl``);
- :mod:`~steptrace.plugins.loading`: where plugins come from, loaded so a broken one is harmless;
- :mod:`~steptrace.plugins.registry`: the rules they registered, and by whom.
"""
