"""The commands that list what steptrace knows: ``experiments`` (and one as a file to
edit), ``plugins``, ``schema`` (a trace line's JSON Schema), and ``new-plugin`` (a plugin
to start from). Each formats what the registry, :mod:`steptrace.trace.header` or
:mod:`steptrace.starter` gives."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from steptrace.cli import options
from steptrace.cli.runtime import command, registry

if TYPE_CHECKING:
    from steptrace.config import ExperimentConfig
    from steptrace.plugins.registry import Registry


@command()
@options.as_json()
@click.option("--show", "show_id", metavar="ID",
              help="Print one experiment (an id, or an experiment file's path) as a file to "
              "copy, edit and `record`; a data file it names stays a reference.")
@click.option("--format", "file_format", type=click.Choice(["toml", "json"]), default="toml",
              show_default=True, help="The file format for --show.")
def experiments(as_json: bool, show_id: str | None, file_format: str) -> None:
    """List the experiments (the book's, and those plugins add)."""
    from steptrace.config import dump_json, dump_toml
    from steptrace.recording import resolve_experiment

    rules = registry()
    if show_id is not None:
        config, _ = resolve_experiment(rules, show_id)
        if file_format == "json":
            click.echo(dump_json(config), nl=False)
            return
        click.echo(dump_toml(config, _option_notes(config, rules)), nl=False)
        return
    rows = [(name, p.rule, p.plugin) for name, p in sorted(rules.experiments.items())]
    if as_json:
        import json

        click.echo(json.dumps([
            {"name": name, "title": c.title, "source": c.source, "plugin": plugin,
             "layers": list(c.layers), "nonlinearities": list(c.nonlinearities),
             "strategy": c.strategy.model_dump(), "alpha": c.alpha, "iterations": c.iterations,
             "arithmetic": c.arithmetic}
            for name, c, plugin in rows], indent=2))
        return
    table = [(name, "-".join(map(str, c.layers)),
              "/".join(c.nonlinearity_label(k) for k in range(1, len(c.nonlinearities) + 1)),
              c.strategy.name if c.train else "forward only", c.title) for name, c, _ in rows]
    widths = [max((len(row[i]) for row in table), default=0) for i in range(4)]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                   + "  " + row[4])


def _option_notes(config: ExperimentConfig, rules: Registry) -> dict[str, list[str]]:
    """The options the config's strategy and nonlinearities declare, as the comments
    ``experiments --show`` writes under them (a nonlinearity's are given as a table:
    ``{name = "leaky_relu", slope = 0.2}``)."""
    strategy = rules.strategies.get(config.strategy.name)
    declared = strategy.rule.declared if strategy is not None else {}
    return {"strategy": [f"option {name}: {option.describe()}" for name, option in declared.items()],
            "nonlinearities": [
                f"{rule} option {name}: {option.describe()}"
                for rule in dict.fromkeys(config.nonlinearities) if rule in rules.nonlinearities
                for name, option in rules.nonlinearities[rule].rule.declared.items()]}


@command("new-plugin")
@click.argument("name")
@click.option("-d", "--directory", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Where to write the steptrace-NAME folder.")
def new_plugin(name: str, directory: Path) -> None:
    """Start a plugin: write steptrace-NAME/, a package ready to install and test.

    It holds a pyproject.toml with the entry point, a module with a nonlinearity, a
    strategy with a declared option, an observer and an experiment, tests written with
    steptrace's kit (the experiment's golden trace recorded by the new plugin), and a
    README. Then: pip install -e steptrace-NAME; steptrace plugins; cd steptrace-NAME &&
    python -m pytest (in the plugin's own folder: from a folder that also holds a steptrace
    checkout, the checkout would be imported in place of the installed steptrace). The
    hooks, the types and the test kit: steptrace plugins --reference (the same page as
    docs/plugin-reference.md); the guide: docs/plugins.md."""
    from steptrace.starter import new_plugin as write

    root = write(name, directory)
    click.echo(f"wrote {root}: pip install -e {root}, then steptrace plugins, and "
               f"cd {root} && python -m pytest")


@command()
@options.as_json()
@click.option("--all", "show_all", is_flag=True, help="Include steptrace's built-in plugins.")
@click.option("--reference", is_flag=True,
              help="Print the plugin reference instead, as Markdown: every hook, every field of "
                   "the types a plugin builds and of an experiment, and the test kit's "
                   "functions with their signatures (loads no plugin).")
def plugins(as_json: bool, show_all: bool, reference: bool) -> None:
    """List the loaded plugins: name, version, where from, hooks, and what each contributes."""
    if reference:
        from steptrace.plugins import reference_text

        click.echo(reference_text(), nl=False)
        return
    loaded = registry()
    listing = loaded.describe_plugins(include_builtins=show_all)
    left_out = loaded.plugins.left_out_text()  # (found, but not loaded: said, not listed)
    if as_json:
        import json

        click.echo(json.dumps(listing, indent=2))
        if left_out:
            click.echo(f"note: {left_out}", err=True)
        return
    if not listing:
        click.echo("no outside plugins are loaded (--all lists the built-ins too)")
    for entry in listing:
        click.echo(f"{entry['name']} {entry['version']} ({entry['source']})")
        click.echo(f"  hooks: {', '.join(entry['hooks'])}")
        for key, declared_by in (("nonlinearities", "nonlinearity_options"),
                                 ("strategies", "options"), ("experiments", ""), ("commands", "")):
            if entry[key]:
                click.echo(f"  {key}: {', '.join(entry[key])}")
            for rule, declared in entry.get(declared_by, {}).items():
                for name, option in declared.items():
                    click.echo(f"    {rule} option {name}: {option['described']}")
        if entry["observes_events"]:
            click.echo("  observes every event")
    if left_out:
        click.echo(left_out)


@command()
def schema() -> None:
    """Print the JSON Schema of a trace line (header, event or end)."""
    import json

    from steptrace.trace.header import trace_schema

    click.echo(json.dumps(trace_schema(), indent=2))
