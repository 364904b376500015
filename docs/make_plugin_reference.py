"""Write the plugin reference from the code it documents: every hook's signature, when it
is called, what it may return and an example (steptrace/plugins/hookspecs.py); every field
of the types a plugin builds (steptrace/engine/rules.py) and of an experiment
(steptrace/config.py); the portable functions; and every name the authoring kit
(steptrace.testing) exports, with its signature as inspect.signature gives it.

It is written twice, the same text: docs/plugin-reference.md (the site's page) and
steptrace/plugins/reference.md (package data, so that an installed steptrace has it:
``steptrace plugins --reference`` prints it).

    python docs/make_plugin_reference.py          # rewrite both
    python docs/make_plugin_reference.py --check  # exit 1 if either is not current

tests/test_plugin_reference.py runs the check, and fails when a hook or a field has no
documentation, or a kit name is missing from the page or shown with another signature.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from steptrace import portable, testing, testkit
from steptrace.config import BookView, ExperimentConfig, StrategySpec
from steptrace.engine.rules import Learned, LearningStep, Nonlinearity, Option, Strategy
from steptrace.plugins import hookspecs
from steptrace.trace.events import DeltaEvent, EpochEndEvent, ErrorEvent, ForwardEvent, UpdateEvent

REFERENCE = Path(__file__).resolve().parent / "plugin-reference.md"
#: The same text, shipped in the package (``steptrace plugins --reference`` prints it).
PACKAGED = Path(__file__).resolve().parents[1] / "steptrace" / "plugins" / "reference.md"
TYPES = (Nonlinearity, Strategy, Option, LearningStep, Learned)
MODELS = (ExperimentConfig, StrategySpec, BookView)
EVENTS = (ForwardEvent, ErrorEvent, DeltaEvent, UpdateEvent, EpochEndEvent)


def hooks() -> list[Any]:
    """The hook specifications, in the order the module defines them."""
    found = [f for f in vars(hookspecs).values() if inspect.isfunction(f) and hasattr(f, "steptrace_spec")]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def docstring(text: str | None) -> list[str]:
    """A docstring as Markdown: its ``Example::`` blocks fenced as Python, ``x`` as `x`."""
    lines = inspect.cleandoc(text or "").splitlines()
    out: list[str] = []
    block: list[str] | None = None
    for line in lines:
        if block is not None:
            if line.strip() and not line.startswith("    "):
                out += ["```python", *textwrap.dedent("\n".join(block)).strip("\n").splitlines(),
                        "```", ""]
                block = None
            else:
                block.append(line)
                continue
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            block = []
            continue
        out.append(line.replace("``", "`").replace(":func:", "").replace(":mod:", "")
                   .replace(":class:", ""))
    if block is not None:
        out += ["```python", *textwrap.dedent("\n".join(block)).strip("\n").splitlines(), "```"]
    return out


def type_name(annotation: Any) -> str:
    """A field's type as a reader wants it: ``float``, ``tuple[tuple[float, ...], ...] |
    None`` (validators, serializers and strictness left out)."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(arguments[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(argument) for argument in arguments)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(map(repr, arguments)) + "]"
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[" + ", ".join("..." if argument is Ellipsis else type_name(argument)
                                      for argument in arguments) + "]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def default_of(field: Any) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:
        made = field.default_factory()
        return f"`{getattr(made, '__name__', repr(made))}`"
    return "required"


def model_default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_defaults=True)
    return f"`{value!r}`"


def model_section(model: type[BaseModel]) -> list[str]:
    """A pydantic model's heading, docstring and table of fields."""
    lines = [f"### `{model.__name__}`", "", *docstring(model.__doc__), "",
             "| field | type | default | what it is |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        lines.append(f"| `{name}` | `{cell(type_name(field.annotation))}` | "
                     f"{cell(model_default(field))} | {cell(field.description or '')} |")
    return [*lines, ""]


def reference() -> str:
    lines = [
        "# steptrace plugin reference",
        "",
        "Generated from the code by `python docs/make_plugin_reference.py`;",
        "`tests/test_plugin_reference.py` fails when it is not current, or when a hook or a",
        "field has no documentation. An installed steptrace prints it: `steptrace plugins",
        "--reference`. The guide that walks through writing a plugin is the",
        "[Plugins](plugins.md) page beside this one; `steptrace new-plugin NAME` writes a",
        "ready package to start from.",
        "",
        "A plugin imports what it needs from `steptrace`: `hookimpl`, `Nonlinearity`,",
        "`Strategy`, `Option`, `LearningStep`, `Learned`, `gradient_descent`, `Array`,",
        "`Batches`, `ExperimentConfig`, `Event`, `portable`, and for a command `load`.",
        "",
        "## Hooks",
        "",
        "Each is called with keywords, one plugin at a time; an implementation may take",
        "fewer arguments than the hook names, and must be marked `@hookimpl`.",
        "",
    ]
    for hook in hooks():
        signature = inspect.signature(hook)
        arguments = ", ".join(f"{name}: {parameter.annotation}"
                              for name, parameter in signature.parameters.items())
        lines += [f"### `{hook.__name__}`", "",
                  "<!-- not-run: the hook's signature -->", "```python",
                  f"@hookimpl\ndef {hook.__name__}({arguments}) -> None", "```", "",
                  *docstring(hook.__doc__), ""]
    lines += ["## Types a plugin builds", ""]
    for kind in TYPES:
        lines += [f"### `{kind.__name__}`", "", *docstring(kind.__doc__), "",
                  "| field | type | default | what it is |", "|---|---|---|---|"]
        for field in dataclasses.fields(kind):
            lines.append(f"| `{field.name}` | `{cell(str(field.type))}` | {default_of(field)} | "
                         f"{cell(field.metadata.get('doc', ''))} |")
        lines.append("")
    lines += ["## Experiments", "",
              "An experiment file (TOML or JSON), and what `register_experiments` registers:",
              "`ExperimentConfig.model_validate({...})` with these fields. `[strategy]` takes",
              "the strategy's declared options beside its name.", ""]
    for model in MODELS:
        lines += model_section(model)
    lines += ["## Events", "",
              "What `observe_event` receives (complete: every field filled in), and what",
              "`steptrace.load(path).events` holds: one typed, frozen model per kind of step",
              "(`from steptrace import Event`, their union). A matrix is a tuple of rows, one",
              "row per sample of the batch: `np.asarray(event.weights)` makes an array of it.",
              ""]
    for model in EVENTS:
        lines += model_section(model)
    lines += ["## `steptrace.portable`", "",
              *docstring(portable.__doc__.split("\n\n")[0] if portable.__doc__ else ""), "",
              "Use them in a nonlinearity that needs an exponential, a logarithm or a",
              "hyperbolic function, so that exact mode gives the same bits on every machine.",
              ""]
    for name in portable.__all__:
        function = getattr(portable, name)
        lines.append(f"- `portable.{name}(x)`: {cell(inspect.getdoc(function) or '')}")
    lines += ["", "## The authoring kit (`steptrace.testing`, a pytest plugin)", "",
              "Every name `steptrace.testing` exports (`from steptrace.testing import ...`),",
              "with its signature; a fixture is shown as the function it gives a test",
              "(`def test_run(golden_trace): golden_trace(...)`).", ""]
    for name in testing.__all__:
        lines += kit_section(name)
    return "\n".join(lines).rstrip() + "\n"


def kit_signature(name: str) -> tuple[str, inspect.Signature]:
    """A kit name's kind (``function``, ``fixture``, ``class``) and the signature a test
    calls it with: a fixture's is that of the function it gives (its return annotation
    names the protocol in steptrace.testkit that types it)."""
    value = getattr(testing, name)
    if type(value).__name__ == "FixtureFunctionDefinition" or hasattr(value, "_pytestfixturefunction"):
        given = getattr(testkit, str(inspect.signature(value).return_annotation))
        call = inspect.signature(given.__call__)
        return "fixture", call.replace(parameters=list(call.parameters.values())[1:])
    if inspect.isclass(value):
        return "class", inspect.signature(value)
    return "function", inspect.signature(value)


def annotation_text(annotation: Any) -> str:
    if isinstance(annotation, typing.ForwardRef):  # (a NamedTuple's fields, postponed)
        return annotation.__forward_arg__
    return annotation if isinstance(annotation, str) else type_name(annotation)


def signature_text(name: str, signature: inspect.Signature) -> str:
    """``def name(...) -> ...``, one parameter a line, as Python writes it."""
    parts: list[str] = []
    starred = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and not starred:
            parts.append("*")
        starred = starred or parameter.kind in (parameter.KEYWORD_ONLY, parameter.VAR_POSITIONAL)
        text = {parameter.VAR_POSITIONAL: "*", parameter.VAR_KEYWORD: "**"}.get(parameter.kind, "")
        text += parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {annotation_text(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        parts.append(text)
    returned = ("" if signature.return_annotation is signature.empty
                else f" -> {annotation_text(signature.return_annotation)}")
    return f"def {name}(\n" + "".join(f"    {part},\n" for part in parts) + f"){returned}"


def kit_section(name: str) -> list[str]:
    """A kit name's heading, its signature (a class: its fields) and its docstring."""
    kind, signature = kit_signature(name)
    value = getattr(testing, name)
    if kind == "class":
        base = "(NamedTuple)" if issubclass(value, tuple) and hasattr(value, "_fields") else ""
        code = f"class {name}{base}:\n" + "".join(
            f"    {p.name}: {annotation_text(p.annotation)}"
            + ("" if p.default is p.empty else f" = {p.default!r}") + "\n"
            for p in signature.parameters.values()).rstrip("\n")
    else:
        code = signature_text(name, signature)
    text = inspect.cleandoc(value.__doc__ or "")
    if text.startswith(f"``{name}("):  # (a fixture's own line of its signature: shown above)
        text = text.partition("\n\n")[2]
    said = {"fixture": f"A fixture: a test that takes `{name}` gets this function.",
            "class": "A class; its fields:", "function": ""}[kind]
    return [f"### `{name}`", "", *([said, ""] if said else []),
            f"<!-- not-run: the kit's {kind} {name}, its signature -->", "```python", code, "```",
            "", *docstring(text), ""]


def undocumented() -> list[str]:
    """Every hook or field without documentation."""
    missing = [f"hook {hook.__name__}: no Example" for hook in hooks()
               if "Example::" not in (hook.__doc__ or "")]
    missing += [f"hook {hook.__name__}: no Returns" for hook in hooks()
                if "Returns:" not in (hook.__doc__ or "")]
    missing += [f"{kind.__name__}.{field.name}" for kind in TYPES
                for field in dataclasses.fields(kind) if not field.metadata.get("doc")]
    missing += [f"{model.__name__}.{name}" for model in (*MODELS, *EVENTS)
                for name, field in model.model_fields.items() if not field.description]
    return missing


def main(argv: list[str]) -> int:
    text = reference()
    if "--check" in argv:
        stale = [path for path in (REFERENCE, PACKAGED)
                 if not path.is_file() or path.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path} is not current: python docs/make_plugin_reference.py")
        return 1 if stale else 0
    for path in (REFERENCE, PACKAGED):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
