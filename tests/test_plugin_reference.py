"""docs/plugin-reference.md is generated from the code, and current; no hook or field goes
undocumented."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.conftest import ROOT


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_plugin_reference",
                                                  ROOT / "docs" / "make_plugin_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_hook_and_field_is_documented() -> None:
    assert generator().undocumented() == []


def test_the_reference_is_current() -> None:
    made = generator()
    assert made.REFERENCE.read_text(encoding="utf-8") == made.reference(), (
        "docs/plugin-reference.md is not current: python docs/make_plugin_reference.py")


def test_the_reference_holds_every_hook_with_its_example() -> None:
    text = (ROOT / "docs" / "plugin-reference.md").read_text(encoding="utf-8")
    for hook in ("register_nonlinearities", "register_strategies", "register_experiments",
                 "register_commands", "run_started", "observe_event", "run_finished"):
        section = text.split(f"### `{hook}`")[1].split("\n### ")[0]
        assert f"def {hook}(" in section and "Example:\n```python" in section, hook
    assert "| `revision` | `int` | `1` |" in text
    assert "### `steptrace_cli`" in text
