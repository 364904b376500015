"""The book's experiments, one TOML file each in ``experiments/``, named by the ids of
the book's cells (``ch06-streetlights-backprop``, ...)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib import resources

from steptrace import hookimpl
from steptrace.config import ExperimentConfig, parse_config


@hookimpl
def register_experiments(register: Callable[[ExperimentConfig], None]) -> None:
    folder = resources.files(__package__) / "experiments"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            register(parse_config(tomllib.loads(entry.read_text("utf-8")), entry.name))
