"""``steptrace new-plugin NAME``: a plugin package to start from, ready to install and test.

It writes ``steptrace-NAME/`` (the distribution ``steptrace-NAME``, the module
``steptrace_NAME``): a ``pyproject.toml`` with the entry point, a module with a
nonlinearity, a strategy with a declared option, an observer that summarises each run,
and an experiment that uses them; tests written with the authoring kit, with the
experiment's golden trace recorded by the new plugin itself; and a README. ``pip install
-e steptrace-NAME`` and it shows up in ``steptrace plugins``; ``python -m pytest
steptrace-NAME`` passes untouched.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from steptrace.errors import BadInput

#: a module name that is also a valid distribution name once "_" becomes "-": lowercase
#: letters and digits, single underscores between them, at most 40 characters
NAME = re.compile(r"[a-z](?:_?[a-z0-9]){0,38}")

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "steptrace-{dist}"
version = "0.1.0"
description = "A steptrace plugin: {name}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["steptrace"]

[project.optional-dependencies]
test = ["pytest>=8"]

# steptrace finds the plugin through this entry point; its name is the plugin's name.
[project.entry-points.steptrace]
{name} = "steptrace_{name}"

[tool.setuptools]
packages = ["steptrace_{name}"]
'''

MODULE = '''\
"""steptrace-{dist}: a steptrace plugin (started by `steptrace new-plugin {name}`).

It adds the nonlinearity `{name}_softsign`, the strategy `{name}_reversed` (the samples
in reverse order, `batch_size` at a time), an observer that says each run's largest
weight_delta when it ends, the experiment `{name}-streetlights` that uses them, and the
command `steptrace {dist}-errors TRACE`. Change them; keep
`python -m pytest` passing (`pytest --steptrace-update` re-records the golden trace when
you mean the numbers to change, and then bump the rule's `revision`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import numpy as np
import steptrace
from steptrace import (
    Array,
    Batches,
    Event,
    ExperimentConfig,
    Nonlinearity,
    Option,
    Strategy,
    hookimpl,
)


def softsign(x: Array) -> Array:
    # basic arithmetic only: the same bits on every machine (for exp, log or tanh use
    # steptrace.portable, not numpy's)
    return x / (1 + np.abs(x))


def softsign2deriv(output: Array) -> Array:
    # from the layer's output, as the book's relu2deriv(output): (1 - |output|) ** 2
    return (1 - np.abs(output)) ** 2


SOFTSIGN = Nonlinearity("{name}_softsign", softsign, softsign2deriv, "x / (1 + |x|)",
                        "(1 - |output|) ** 2", description="softsign, into (-1, 1)")


def reversed_batches(n_samples: int, options: Mapping[str, Any]) -> Batches:
    size = options["batch_size"]  # declared below, with its default
    if not 1 <= size <= n_samples:
        raise ValueError(f"batch_size must be between 1 and the {{n_samples}} samples, not {{size}}")
    order = list(range(n_samples))[::-1]
    return [order[start:start + size] for start in range(0, n_samples, size)]


REVERSED = Strategy("{name}_reversed", reversed_batches,
                    {{"batch_size": Option(int, 1, "how many samples make one update")}},
                    description="the samples in reverse order, batch_size at a time")

EXPERIMENT = ExperimentConfig.model_validate({{
    "name": "{name}-streetlights",
    "title": "The book's ch. 6 streetlights with {name}_softsign, in reverse order",
    "layers": [3, 4, 1], "nonlinearities": ["{name}_softsign", "linear"],
    "strategy": {{"name": "{name}_reversed"}}, "seed": 1, "alpha": 0.2, "iterations": 60,
    "input_name": "streetlights", "goal_name": "walk_vs_stop",
    "inputs": [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]], "goals": [[1], [1], [0], [0]],
    "book_view": {{"epoch": "Error:{{error}}", "every": 10}},
}})


@hookimpl
def register_nonlinearities(register: Callable[[Nonlinearity], None]) -> None:
    register(SOFTSIGN)


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    register(REVERSED)


@hookimpl
def register_experiments(register: Callable[[ExperimentConfig], None]) -> None:
    register(EXPERIMENT)


class Summary:
    """An observer's state: the largest weight_delta of a run. It lives on this object and
    starts afresh with every run (run_started), so nothing carries over between runs. (The
    hooks below are the module's, so that the entry point names just the module; hooks
    may also be an object's methods, the entry point then naming the object:
    "steptrace_NAME:plugin".)"""

    def __init__(self) -> None:
        self.largest = 0.0


SUMMARY = Summary()


@hookimpl
def run_started(config: ExperimentConfig) -> None:
    SUMMARY.largest = 0.0


@hookimpl
def observe_event(event: Event) -> None:  # every event, complete, whatever --detail
    if event.kind == "update" and event.weight_delta is not None:
        SUMMARY.largest = max(SUMMARY.largest, float(np.abs(event.weight_delta).max()))


@hookimpl
def run_finished(config: ExperimentConfig, errors: list[float | None], events: int) -> None:
    print(f"{name}: {{config.name}}: {{events}} events, largest |weight_delta| "
          f"{{SUMMARY.largest:.4g}}", file=sys.stderr)


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command(name="{dist}-errors")
    @click.argument("trace", type=click.Path(path_type=Path))
    def errors(trace: Path) -> None:
        """Each pass's error in TRACE (from steptrace-{dist})."""
        for epoch, error in enumerate(steptrace.load(trace).errors):
            click.echo(f"pass {{epoch}}: {{error!r}}")
'''

TESTS = '''\
"""steptrace-{dist}'s tests, with steptrace's authoring kit (a pytest plugin that comes
with steptrace: check_nonlinearity, check_strategy, the golden_trace and steptrace_cli
fixtures)."""

from __future__ import annotations

from pathlib import Path

from steptrace.testing import check_nonlinearity, check_strategy

import steptrace_{name} as plugin

GOLDEN = Path(__file__).parent / "golden"


# The plugin as these tests load it, whether it is installed or not (and whatever
# STEPTRACE_PLUGINS says): the module, under the plugin's name.
PLUGIN = [("{name}", plugin)]


def test_softsign_derivative_matches_finite_differences() -> None:
    assert check_nonlinearity("{name}_softsign", plugins=PLUGIN) == 81


def test_reversed_batches_keep_the_contract() -> None:
    check_strategy("{name}_reversed", plugins=PLUGIN)
    check_strategy(plugin.REVERSED, {{"batch_size": 2}})
    assert plugin.reversed_batches(4, {{"batch_size": 3}}) == [[3, 2, 1], [0]]


def test_the_experiment_reproduces_its_golden_trace(golden_trace) -> None:  # type: ignore[no-untyped-def]
    golden_trace("{name}-streetlights", GOLDEN / "{name}-streetlights.jsonl", plugins=PLUGIN)


def test_recording_it_the_observer_sums_up_and_the_command_reads_it(  # type: ignore[no-untyped-def]
        steptrace_cli, tmp_path) -> None:
    listed = steptrace_cli("experiments", plugins=PLUGIN)
    assert "{name}-streetlights" in listed.stdout
    trace = tmp_path / "t.jsonl"
    recorded = steptrace_cli("record", "{name}-streetlights", "-o", trace, plugins=PLUGIN)
    assert recorded.exit_code == 0, recorded.stderr
    assert recorded.stderr.startswith("{name}: {name}-streetlights: 1740 events, largest "
                                      "|weight_delta| ")
    assert steptrace_cli("replay", trace, plugins=PLUGIN).exit_code == 0
    errors = steptrace_cli("{dist}-errors", trace, plugins=PLUGIN)
    assert errors.exit_code == 0, errors.stderr
    assert len(errors.stdout.splitlines()) == 60 and errors.stdout.startswith("pass 0: ")
'''

README = '''\
# steptrace-{dist}

A [steptrace](https://github.com/) plugin, started by `steptrace new-plugin {name}`:

- `{name}_softsign`: `x / (1 + |x|)`, its derivative from the output `(1 - |output|) ** 2`;
- `{name}_reversed`: the samples in reverse order, `batch_size` (default 1) at a time;
- an observer that says each run's largest weight_delta when it ends (on stderr);
- `{name}-streetlights`: the book's ch. 6 network with both;
- `steptrace {dist}-errors TRACE`: a command, each pass's error, read with steptrace's API.

```sh
python -m pip install -e steptrace-{dist}       # from the folder above this one
steptrace plugins                              # {name} 0.1.0 (entry point of steptrace-{dist})
steptrace record {name}-streetlights -o run.jsonl && steptrace replay run.jsonl
python -m pytest steptrace-{dist}
```

The guide is steptrace's `docs/plugins.md`; the hooks, the types and every field are in
its `docs/plugin-reference.md`. When
a rule's numbers change on purpose, bump its `revision` (replay then refuses traces of
the old numbers) and re-record the golden trace: `python -m pytest --steptrace-update`.
'''


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
        with added_plugins([(name, module)]):
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


def _write(root: Path, name: str, dist: str) -> None:
    values = {"name": name, "dist": dist}
    files = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README,
        root / f"steptrace_{name}" / "__init__.py": MODULE,
        root / "tests" / f"test_{name}.py": TESTS,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")


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
