"""The names a piece of code takes from outside it: those it reads before it binds them.

A notebook cell that says ``weights_0_1 -= alpha * ...`` reads ``weights_0_1`` and ``alpha``
from the cells before it; one that says ``weights_0_1 = 2*np.random.random((3, 4)) - 1``
first makes its own, and the kernel's older value must not stand in for it. So the
statements are walked in the order Python runs them (a value before the target it is
assigned to, a loop's iterable before its variable), and a name counts when it is read
(or changed in place: ``x += 1``, ``x[i] = 1``, ``del x``) before any statement binds it —
whether or not that statement runs (an ``if``'s branch, a loop's body), as the book's
straight-line cells never need more. The body of a function runs when it is called: the
globals it reads count when the code never binds them. Standard library only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

_FUNCTION = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
_SCOPE = _FUNCTION | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp


def names_read_before_bound(tree: ast.Module) -> list[str]:
    """The names ``tree`` reads before it binds them, in the order first read."""
    walk = _Walk()
    walk.visit(tree)
    for function in walk.functions:  # (their bodies: when called, after the code has run)
        for name in _free_names(function):
            walk.read(name)
    return list(walk.needed)


class _Walk(ast.NodeVisitor):
    """Module-level code in the order it runs: what is bound so far, and what was needed."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.needed: dict[str, None] = {}  # (a dict: ordered, no repeats)
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = []

    def read(self, name: str) -> None:
        if name not in self.bound:
            self.needed.setdefault(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.bound.add(node.id)
        else:  # Load, or Del: the name must hold something already
            self.read(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.read(node.target.id)  # x += 1 reads x first
        self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for statement in [*node.body, *node.orelse]:
            self.visit(statement)

    visit_AsyncFor = visit_For

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self.bound.add(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.bound.add(node.name)
        for statement in node.body:
            self.visit(statement)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expression in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expression is not None:
                self.visit(expression)
        self.bound.add(node.name)
        self.functions.append(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expression in [*node.args.defaults, *node.args.kw_defaults]:
            if expression is not None:
                self.visit(expression)
        self.functions.append(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expression in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expression)
        outside = set(self.bound)  # (a class body's names are the class's, not the module's)
        for statement in node.body:
            self.visit(statement)
        self.bound = outside | {node.name}

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        for name in _free_names(node):
            self.read(name)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension


def _free_names(scope: ast.AST) -> Iterator[str]:
    """The names a function's body, a lambda's or a comprehension's reads that it does not
    bind itself (its own locals, parameters and loop variables): the enclosing code's."""
    local = _bound_in(scope)
    for node in _own_nodes(scope):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store) and node.id not in local:
            yield node.id
        elif isinstance(node, _SCOPE) and node is not scope:
            yield from (name for name in _free_names(node) if name not in local)


def _bound_in(scope: ast.AST) -> set[str]:
    """The names local to a function (or lambda, or comprehension): its parameters and what
    it binds, less those it declares ``global`` or ``nonlocal``."""
    bound: set[str] = set()
    if isinstance(scope, _FUNCTION):
        arguments = scope.args
        bound.update(a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs])
        bound.update(a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None)
    declared: set[str] = set()
    for node in _own_nodes(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node is not scope:
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
    return bound - declared


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a scope's own code: not inside a function, lambda or comprehension it
    holds (those are yielded themselves, with their decorators and defaults, which run here)."""
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
        children: list[ast.AST] = [*scope.body]
    elif isinstance(scope, ast.Lambda):
        children = [scope.body]
    elif isinstance(scope, ast.DictComp):
        children = [scope.key, scope.value, *scope.generators]
    elif isinstance(scope, ast.ListComp | ast.SetComp | ast.GeneratorExp):
        children = [scope.elt, *scope.generators]
    else:
        children = list(ast.iter_child_nodes(scope))
    for child in children:
        yield from _walk_own(child)


def _walk_own(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    if isinstance(node, _SCOPE):
        inner = node.args if isinstance(node, _FUNCTION) else None
        decorators = node.decorator_list if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else []
        around = [*decorators, *(inner.defaults if inner else []),
                  *(d for d in (inner.kw_defaults if inner else []) if d is not None)]
        for expression in around:  # (these run in the enclosing scope)
            yield from _walk_own(expression)
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk_own(child)
