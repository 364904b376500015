"""Chapter 6 programs of any depth and strategy, and each of their statements made to depart.

:func:`program` writes the book's backprop loop for a network of ``depth`` weight layers
(3 inputs, hidden layers of 4 and 3 units, 2 outputs; relu hidden layers, a linear output),
trained stochastically, on the full batch or in mini-batches of 2, with every step of the
book on a line of its own: each forward layer, the pass's error, the output delta, each
hidden delta, each weight_delta (averaged over the batch) and each update. :func:`depart`
rewrites one of those statements the ways a value departs from the book's: scaled, negated,
transposed, with another operand of its kind, another layer, or a factor left out.
``tests/test_learner_departures.py`` checks that ``steptrace check`` names each at its line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

SIZES = (3, 4, 3)  # the input and the hidden layers, as deep as needed
OUTPUTS = 2
DEPTHS = (1, 2, 3)
STRATEGIES = {"stochastic": 1, "minibatch": 2, "full": 4}
WAYS = ("scaled", "negated", "transposed", "other-operand", "other-layer", "missing-factor")


@dataclass(frozen=True)
class Statement:
    """One step statement of a program: its line, its kind and the layer it belongs to."""

    line: int
    kind: str  # forward, error, output-delta, hidden-delta, weight-delta, update
    layer: int


def sizes(depth: int) -> list[int]:
    return [*SIZES[:depth], OUTPUTS]


def program(depth: int, strategy: str) -> tuple[str, list[Statement]]:
    """The book's loop for ``depth`` weight layers under ``strategy``, and its statements."""
    n = sizes(depth)
    out = depth
    lines = [
        "import numpy as np",
        "",
        "np.random.seed(1)",
        "",
        "def relu(x):",
        "    return (x > 0) * x",
        "",
        "def relu2deriv(output):",
        "    return output > 0",
        "",
        "streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])",
        "walk_vs_stop = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])",
        "alpha = 0.2",
        f"batch_size = {STRATEGIES[strategy]}",
        "",
    ]
    lines += [f"weights_{k - 1}_{k} = 2 * np.random.random(({n[k - 1]}, {n[k]})) - 1"
              for k in range(1, depth + 1)]
    lines += [
        "",
        "for iteration in range(6):",
        f"    layer_{out}_error = 0",
        "    for start in range(0, len(streetlights), batch_size):",
        "        layer_0 = streetlights[start:start + batch_size]",
    ]
    body: list[tuple[str, str, int]] = []
    goal = "walk_vs_stop[start:start + batch_size]"
    for k in range(1, depth + 1):
        product = f"np.dot(layer_{k - 1}, weights_{k - 1}_{k})"
        body.append((f"layer_{k} = {product if k == out else f'relu({product})'}", "forward", k))
    body.append((f"layer_{out}_error += np.sum((layer_{out} - {goal}) ** 2)", "error", out))
    body.append((f"layer_{out}_delta = layer_{out} - {goal}", "output-delta", out))
    for k in range(out - 1, 0, -1):
        body.append((f"layer_{k}_delta = layer_{k + 1}_delta.dot(weights_{k}_{k + 1}.T) "
                     f"* relu2deriv(layer_{k})", "hidden-delta", k))
    for k in range(out, 0, -1):
        body.append((f"weight_delta_{k - 1}_{k} = layer_{k - 1}.T.dot(layer_{k}_delta) / len(layer_0)",
                     "weight-delta", k))
    for k in range(out, 0, -1):
        body.append((f"weights_{k - 1}_{k} -= alpha * weight_delta_{k - 1}_{k}", "update", k))
    statements = []
    for text, kind, layer in body:
        lines.append(f"        {text}")
        statements.append(Statement(len(lines), kind, layer))
    lines += ["    if iteration % 2 == 1:", f"        print('Error:' + str(layer_{out}_error))", ""]
    return "\n".join(lines), statements


def _names(tree: ast.AST) -> list[ast.Name]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Name)]


def _family(name: str) -> str:
    """What kind of value a name holds: layer, delta, weights, weight_delta, or itself."""
    parts = name.split("_")
    if name.startswith("weight_delta_"):
        return "weight_delta"
    if name.startswith("weights_"):
        return "weights"
    if name.startswith("layer_") and name.endswith("_delta"):
        return "delta"
    if name.startswith("layer_") and len(parts) == 2:
        return "layer"
    return name


def _known(source: str, line: int) -> set[str]:
    """The book names a program has assigned by the statement at ``line`` (in that pass)."""
    tree = ast.parse(source)
    known: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign) and node.lineno < line:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            known.update(t.id for t in targets if isinstance(t, ast.Name))
    return known


def depart(source: str, statement: Statement, way: str) -> str | None:
    """``source`` with ``statement`` rewritten to depart ``way``; None where that way does
    not apply to it (no other operand of its kind, no factor to leave out)."""
    lines = source.splitlines()
    text = lines[statement.line - 1]
    indent = text[: len(text) - len(text.lstrip())]
    node = ast.parse(text.strip()).body[0]
    assert isinstance(node, ast.Assign | ast.AugAssign)
    value = node.value
    if way == "scaled":
        value = ast.BinOp(ast.Constant(3), ast.Mult(), value)
    elif way == "negated":
        value = ast.UnaryOp(ast.USub(), value)
    elif way == "transposed":
        value = ast.Attribute(value, "T", ast.Load())
    elif way in ("other-operand", "other-layer"):
        families = ("layer",) if way == "other-layer" else ("weights", "delta", "weight_delta")
        known = _known(source, statement.line)
        for name in _names(value):
            if _family(name.id) not in families:
                continue
            others = sorted(k for k in known if _family(k) == _family(name.id) and k != name.id)
            if others:
                name.id = others[0]
                break
        else:
            return None
    elif way == "missing-factor":
        products = [n for n in ast.walk(value) if isinstance(n, ast.BinOp)
                    and isinstance(n.op, ast.Mult | ast.Div)]
        if products:
            products[0].op, products[0].right = ast.Mult(), ast.Constant(1)
        elif isinstance(value, ast.Call) and len(value.args) == 1:
            value = value.args[0]
        else:
            return None
    else:
        raise ValueError(way)
    node.value = value
    lines[statement.line - 1] = indent + ast.unparse(ast.fix_missing_locations(node))
    return "\n".join(lines) + "\n"


def every_case() -> list[tuple[int, str, int, str]]:
    """(depth, strategy, statement index, way) for every departure that applies."""
    cases = []
    for depth in DEPTHS:
        for strategy in STRATEGIES:
            source, statements = program(depth, strategy)
            for index, statement in enumerate(statements):
                for way in WAYS:
                    if depart(source, statement, way) is not None:
                        cases.append((depth, strategy, index, way))
    return cases
