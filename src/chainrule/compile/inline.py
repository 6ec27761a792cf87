"""Kernels written into the replay as source, as a compiler inlines a call.

A W1 step calls four kernels and seven local rules; each call (and each rule made as a closure)
costs Python far more than its numpy work on small arrays: the same numpy calls with the calls
written out in place took 48.7 µs against 53.3 (docs/performance.md). So a kernel whose source
has a simple shape is copied into the generated replay instead of called, its local names
renamed so that two copies do not meet, and each of its rules is copied to the backward edge
that applies it. There is still one statement of each kernel: the one in its op's module.

A kernel can be inlined when it is a module-level function with positional parameters whose
body ends in its only `return`, `return out, (rule, ...)`, each rule a `lambda g: ...` or a
function defined in the body that ends in its only `return`. Anything else (and any kernel
whose source cannot be read) is called, as before.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import inspect
import linecache
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Names whose meaning depends on the frame they run in: a kernel that uses them is called.
_FRAME_NAMES = {"locals", "vars", "globals", "eval", "exec", "super", "__class__"}
_REFUSED = (
    ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal,
    ast.ClassDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom, ast.Lambda, ast.FunctionDef,
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """One local rule: its upstream parameter, the statements before its result, the result."""

    param: str
    body: list[ast.stmt]
    result: ast.expr


@dataclass(frozen=True)
class Form:
    """A kernel's source, parsed once: parameters, body, returned value and rules."""

    kernel: Callable[..., Any]
    module: types.ModuleType
    params: list[str]
    defaults: dict[str, Any]
    body: list[ast.stmt]
    out: ast.expr
    rules: list[Rule]


_forms: dict[Any, Form | None] = {}


def form(kernel: Any) -> Form | None:
    """The kernel's inlinable form, or None when it must be called."""
    try:
        return _forms[kernel]
    except KeyError:
        pass
    except TypeError:  # an unhashable callable
        return None
    try:
        found = _parse(kernel)
    except (OSError, TypeError, SyntaxError, ValueError):  # no source, or not a function
        found = None
    _forms[kernel] = found
    return found


def _parse(kernel: Any) -> Form | None:
    if not isinstance(kernel, types.FunctionType) or kernel.__closure__:
        return None
    code = kernel.__code__
    if code.co_kwonlyargcount or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        return None
    tree = ast.parse(textwrap.dedent(inspect.getsource(kernel)))
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    fn = tree.body[0]
    if fn.decorator_list or not fn.body or not _is_the_code_of(kernel):
        return None
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    values = kernel.__defaults__ or ()
    defaults = dict(zip(params[len(params) - len(values) :], values, strict=True))
    *body, last = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
    returned = _out_and_rules(last)
    if returned is None:
        return None
    out, rules_tuple = returned
    defined = {s.name: s for s in body if isinstance(s, ast.FunctionDef)}
    rules = []
    for node in rules_tuple.elts:
        rule = _rule(node, defined)
        if rule is None:
            return None
        rules.append(rule)
    body = [s for s in body if not isinstance(s, ast.FunctionDef)]
    if any(_refused(s) for s in body) or _refused(out) or any(_refused_rule(r) for r in rules):
        return None
    module = sys.modules.get(kernel.__module__)
    if module is None or module.__dict__ is not kernel.__globals__:
        return None
    local = set(params) | _assigned(list(body))
    for r in rules:
        local |= {r.param} | _assigned(list(r.body))
    free = _read([*body, out, *(s for r in rules for s in r.body), *(r.result for r in rules)])
    if any(n not in module.__dict__ and not hasattr(builtins, n) for n in free - local):
        return None  # a name the kernel would find some other way (a nested function)
    return Form(kernel, module, params, defaults, body, out, rules)


def _is_the_code_of(kernel: types.FunctionType) -> bool:
    """Whether the kernel's file, as it reads now, still compiles to the kernel's bytecode: an
    edited file must not put new code into a replay while eager runs the old."""
    code = kernel.__code__
    linecache.checkcache(code.co_filename)
    found = _compiled(code.co_filename, "".join(linecache.getlines(code.co_filename)))
    mine = _fingerprint(code)
    return any(c.co_firstlineno == code.co_firstlineno and _fingerprint(c) == mine for c in found)


def _fingerprint(code: types.CodeType) -> tuple:
    """What a function computes: its bytecode, names and constants, and its inner functions'."""
    consts = tuple(_fingerprint(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.co_name, code.co_code, code.co_names, code.co_varnames, consts


@functools.lru_cache(maxsize=32)
def _compiled(filename: str, source: str) -> list[types.CodeType]:
    """Every function's code object in the module `source` compiles to (once per text)."""
    found: list[types.CodeType] = []
    todo = [compile(source, filename, "exec", dont_inherit=True)]
    while todo:
        code = todo.pop()
        found.append(code)
        todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return found


def _out_and_rules(stmt: ast.stmt) -> tuple[ast.expr, ast.Tuple] | None:
    """`out` and `(rule, ...)` of a final `return out, (rule, ...)`."""
    if not isinstance(stmt, ast.Return) or not isinstance(stmt.value, ast.Tuple):
        return None
    if len(stmt.value.elts) != 2 or not isinstance(stmt.value.elts[1], ast.Tuple):
        return None
    return stmt.value.elts[0], stmt.value.elts[1]


def _rule(node: ast.expr, defined: dict[str, ast.FunctionDef]) -> Rule | None:
    """`lambda g: expr`, or the name of `def rule(g): ...; return expr` in the kernel."""
    if isinstance(node, ast.Lambda):
        args = node.args
        if len(args.args) != 1 or args.posonlyargs or args.kwonlyargs or args.vararg:
            return None
        return Rule(args.args[0].arg, [], node.body)
    if isinstance(node, ast.Name) and node.id in defined:
        fn = defined[node.id]
        args = fn.args
        if len(args.args) != 1 or args.posonlyargs or args.kwonlyargs or args.vararg:
            return None
        *body, last = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
        if fn.decorator_list or not isinstance(last, ast.Return) or last.value is None:
            return None
        return Rule(args.args[0].arg, body, last.value)
    return None


def _refused(node: ast.AST) -> bool:
    return any(
        isinstance(n, _REFUSED) or (isinstance(n, ast.Name) and n.id in _FRAME_NAMES)
        for n in ast.walk(node)
    )


def _refused_rule(rule: Rule) -> bool:
    return any(_refused(s) for s in rule.body) or _refused(rule.result)


def _read(nodes: list[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _assigned(nodes: list[ast.AST]) -> set[str]:
    """The names these statements bind (their locals, had they run in a function)."""
    return {
        n.id
        for node in nodes
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)
    }


class _Renamer(ast.NodeTransformer):
    """Locals get their prefix; a kernel module's globals are read through `spell`."""

    def __init__(self, names: dict[str, str], spell: Callable[[str], str]) -> None:
        self.names = names
        self.spell = spell

    def visit_Name(self, node: ast.Name) -> ast.Name:
        new = self.names.get(node.id)
        if new is None:
            new = self.spell(node.id)
        return ast.copy_location(ast.Name(new, node.ctx), node)


class Inliner:
    """Writes kernels and their rules as lines of one generated function, binding what they
    read from their modules into its namespace `names`."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names
        self.bound: dict[int, str] = {}  # id(value) -> its name in `names`
        self.written: dict[int, tuple[Form, dict[str, str]]] = {}  # slot -> its kernel's copy

    def forward(self, f: Form, arguments: list[str], k: int) -> list[str] | None:
        """Lines computing slot k (`v{k}`) from `arguments`, or None to call the kernel."""
        if len(arguments) > len(f.params) or any(
            p not in f.defaults for p in f.params[len(arguments) :]
        ):
            return None
        prefix = f"k{k}_"
        local = {n: prefix + n for n in set(f.params) | _assigned(list(f.body))}
        lines = [f"{local[p]} = {a}" for p, a in zip(f.params, arguments, strict=False)]
        for p in f.params[len(arguments) :]:
            lines.append(f"{local[p]} = {self._bind(f.defaults[p])}")
        renamer = _Renamer(local, self._speller(f.module))
        lines += _lines(renamer, f.body)
        lines.append(f"v{k} = {_source(renamer, f.out)}")
        self.written[k] = (f, local)
        return lines

    def rule(self, k: int, i: int, upstream: str, edge: int) -> list[str] | None:
        """Lines setting `g` to rule i of slot k's kernel applied to `upstream`; None when
        that kernel was called (its rules are then called too)."""
        if k not in self.written:
            return None
        f, local = self.written[k]
        r = f.rules[i]
        prefix = f"e{edge}_"
        names = {**local, **{n: prefix + n for n in _assigned(list(r.body))}, r.param: upstream}
        renamer = _Renamer(names, self._speller(f.module))
        return [*_lines(renamer, r.body), f"g = {_source(renamer, r.result)}"]

    def _speller(self, module: types.ModuleType) -> Callable[[str], str]:
        def spell(name: str) -> str:
            value = module.__dict__.get(name, _builtin)
            if value is _builtin:
                return name
            if isinstance(value, types.ModuleType):  # np and the like: bound once
                return self._bind(value)
            # any other global is read from its module when the line runs, as the kernel
            # reads it (a test may replace it)
            return f"{self._bind(module)}.{name}"

        return spell

    def _bind(self, value: Any) -> str:
        name = self.bound.get(id(value))
        if name is None:
            name = self.bound[id(value)] = f"m{len(self.names)}"
            self.names[name] = value
        return name


_builtin = object()


def _source(renamer: _Renamer, node: ast.AST) -> str:
    return ast.unparse(renamer.visit(copy.deepcopy(node)))


def _lines(renamer: _Renamer, body: list[ast.stmt]) -> list[str]:
    return [line for s in body for line in _source(renamer, s).splitlines()]
