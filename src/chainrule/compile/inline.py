"""Kernels written into the replay as source, as a compiler inlines a call.

A W1 step calls four kernels and seven local rules; each call (and each rule made as a closure)
costs Python more than its numpy work on small arrays: the same numpy calls written out in
place took 48.7 µs against 53.3 (docs/performance.md). So a kernel whose source has a simple
shape is copied into the generated replay instead of called, its local names renamed so that
two copies do not meet, and each of its rules is copied to the backward edge that applies it.
A helper the copy calls as a whole statement (`f(x)`, `y = f(x)`), or as a rule's result, is
copied in the same way when it has that shape too, up to HELPER_DEPTH deep. There is still one
statement of each kernel: the one in its op's module, from which the copy is made.

A kernel can be copied when it is a module-level function with positional parameters whose
body ends in its only `return`, `return out, (rule, ...)`, each rule a `lambda g: ...` or a
function defined in the body that ends in its only `return`. A helper can be copied when it
has no `return` or ends in its only one, and defines no function. Anything else, and any
function whose file no longer compiles to its code, is called, as before.
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
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HELPER_DEPTH = 3  # helpers of helpers of a kernel's helpers are called
# Names whose meaning depends on the frame they run in: a function that uses them is called.
_FRAME_NAMES = {"locals", "vars", "globals", "eval", "exec", "super", "__class__"}
_REFUSED = (
    ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal,
    ast.ClassDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom, ast.Lambda, ast.FunctionDef,
)  # fmt: skip
_RESULT = "__result__"  # stands for the variable a copied function's value goes to


@dataclass(frozen=True)
class Function:
    """A module-level function's source, parsed once."""

    module: types.ModuleType
    params: list[str]
    defaults: dict[str, Any]
    body: list[ast.stmt]  # without its docstring, its functions and its final return
    result: ast.expr | None  # what that return gives; None when there is none
    defined: dict[str, ast.FunctionDef]  # functions defined in the body (a kernel's rules)

    def takes(self, count: int) -> bool:
        """Whether a call with `count` positional arguments fills every parameter."""
        return count <= len(self.params) and all(p in self.defaults for p in self.params[count:])

    def locals(self) -> set[str]:
        return set(self.params) | _assigned(self.body)


@dataclass(frozen=True)
class Rule:
    """One local rule: its upstream parameter, the statements before its result, the result."""

    param: str
    body: list[ast.stmt]
    result: ast.expr


@dataclass(frozen=True)
class Form:
    """A kernel: a function that returns its value and its rules, `return out, (rule, ...)`."""

    function: Function
    out: ast.expr
    rules: list[Rule]


def form(kernel: Any) -> Form | None:
    """The kernel's form to copy, or None when it must be called."""
    f = _function(kernel)
    if f is None or f.result is None:
        return None
    returned = _out_and_rules(f.result)
    if returned is None:
        return None
    out, rules_tuple = returned
    rules = []
    for node in rules_tuple.elts:
        rule = _rule(node, f.defined)
        if rule is None:
            return None
        rules.append(rule)
    local = f.locals() | {r.param for r in rules}
    for r in rules:
        local |= _assigned(r.body)
    read = [*f.body, out, *(s for r in rules for s in r.body), *(r.result for r in rules)]
    if any(_refused(node) for node in read) or not _resolved(_read(read) - local, f.module):
        return None
    return Form(f, out, rules)


def _helper(value: Any) -> Function | None:
    """A function a copy calls, when it can be copied too."""
    f = _function(value)
    if f is None or f.defined:
        return None
    read = [*f.body, *([f.result] if f.result is not None else [])]
    if any(_refused(node) for node in read) or not _resolved(_read(read) - f.locals(), f.module):
        return None
    return f


_functions: weakref.WeakKeyDictionary[Any, Function | None] = weakref.WeakKeyDictionary()


def _function(fn: Any) -> Function | None:
    """fn's source parsed, once per function (a kernel made per call is forgotten with it)."""
    if not isinstance(fn, types.FunctionType):
        return None
    try:
        return _functions[fn]
    except KeyError:
        pass
    try:
        found = _parse(fn)
    except (OSError, TypeError, SyntaxError, ValueError):  # no source to read
        found = None
    _functions[fn] = found
    return found


def _parse(fn: types.FunctionType) -> Function | None:
    if fn.__closure__:
        return None
    code = fn.__code__
    if code.co_kwonlyargcount or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        return None
    module = sys.modules.get(fn.__module__)
    if module is None or module.__dict__ is not fn.__globals__ or not _is_the_code_of(fn):
        return None
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    node = tree.body[0]
    if node.decorator_list:
        return None
    params = [a.arg for a in node.args.posonlyargs + node.args.args]
    values = fn.__defaults__ or ()
    defaults = dict(zip(params[len(params) - len(values) :], values, strict=True))
    body = _without_docstring(node)
    result = None
    last = body[-1] if body else None
    if isinstance(last, ast.Return):
        if last.value is None:
            return None
        result = last.value
        body.pop()
    defined = {s.name: s for s in body if isinstance(s, ast.FunctionDef)}
    body = [s for s in body if not isinstance(s, ast.FunctionDef)]
    return Function(module, params, defaults, body, result, defined)


def _without_docstring(node: ast.FunctionDef) -> list[ast.stmt]:
    return node.body[1:] if ast.get_docstring(node) is not None else list(node.body)


def _is_the_code_of(fn: types.FunctionType) -> bool:
    """Whether the function's file, as it reads now, still compiles to the function's code: an
    edited file must not put new code into a replay while eager runs the old."""
    code = fn.__code__
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


def _out_and_rules(value: ast.expr) -> tuple[ast.expr, ast.Tuple] | None:
    """`out` and `(rule, ...)` of a kernel's `return out, (rule, ...)`."""
    if not isinstance(value, ast.Tuple) or len(value.elts) != 2:
        return None
    out, rules = value.elts
    return (out, rules) if isinstance(rules, ast.Tuple) else None


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
        *body, last = _without_docstring(fn)
        if fn.decorator_list or not isinstance(last, ast.Return) or last.value is None:
            return None
        return Rule(args.args[0].arg, body, last.value)
    return None


def _refused(node: ast.AST) -> bool:
    return any(
        isinstance(n, _REFUSED) or (isinstance(n, ast.Name) and n.id in _FRAME_NAMES)
        for n in ast.walk(node)
    )


def _resolved(names: set[str], module: types.ModuleType) -> bool:
    """Whether each name is the module's or a builtin (not, say, a nested function's)."""
    return all(n in module.__dict__ or hasattr(builtins, n) for n in names)


def _read(nodes: list) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _assigned(nodes: list) -> set[str]:
    """The names these statements bind (their locals, had they run in a function)."""
    return {
        n.id
        for node in nodes
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)
    }


class _Renamer(ast.NodeTransformer):
    """Locals get their new names; a module's globals are read through `spell`, and a
    library's functions (`np.exp`) through `fetch`."""

    def __init__(
        self,
        names: dict[str, str],
        spell: Callable[[str], str],
        fetch: Callable[[str, str], str | None],
    ) -> None:
        self.names = names
        self.spell = spell
        self.fetch = fetch

    def visit_Name(self, node: ast.Name) -> ast.Name:
        new = self.names.get(node.id)
        if new is None:
            new = self.spell(node.id)
        return ast.copy_location(ast.Name(new, node.ctx), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        base = node.value
        if (
            isinstance(node.ctx, ast.Load)
            and isinstance(base, ast.Name)
            and base.id not in self.names
        ):
            fetched = self.fetch(base.id, node.attr)
            if fetched is not None:
                return ast.copy_location(ast.Name(fetched, ast.Load()), node)
        return self.generic_visit(node)


class Inliner:
    """Writes kernels and their rules as lines of one generated function, binding what they
    read from their modules into its namespace `names`."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names
        self.bound: dict[int, str] = {}  # id(value) -> its name in `names`
        self.written: dict[int, tuple[Form, dict[str, str]]] = {}  # slot -> its kernel's copy
        self.copies = 0  # helpers copied so far: each copy's names get its number

    def forward(self, f: Form, arguments: list[str], k: int) -> list[str] | None:
        """Lines computing slot k (`v{k}`) from `arguments`, or None to call the kernel."""
        fn = f.function
        if not fn.takes(len(arguments)):
            return None
        local = {n: f"k{k}_{n}" for n in fn.locals()}
        lines = self._enter(fn, arguments, local)
        lines += self._lines([*fn.body, _result_of(f.out)], {**local, _RESULT: f"v{k}"}, fn, 0)
        self.written[k] = (f, local)
        return lines

    def rule(self, k: int, i: int, upstream: str, edge: int) -> list[str] | None:
        """Lines setting `g` to rule i of slot k's kernel applied to `upstream`; None when
        that kernel was called (its rules are then called too)."""
        if k not in self.written:
            return None
        f, local = self.written[k]
        r = f.rules[i]
        names = {**local, **{n: f"e{edge}_{n}" for n in _assigned(r.body)}, r.param: upstream}
        return self._lines([*r.body, _result_of(r.result)], {**names, _RESULT: "g"}, f.function, 0)

    def _enter(self, fn: Function, arguments: list[str], local: dict[str, str]) -> list[str]:
        """The parameters set as a call would set them."""
        lines = [f"{local[p]} = {a}" for p, a in zip(fn.params, arguments, strict=False)]
        lines += [f"{local[p]} = {self._bind(fn.defaults[p])}" for p in fn.params[len(arguments) :]]
        return lines

    def _lines(
        self, body: list[ast.stmt], names: dict[str, str], fn: Function, depth: int
    ) -> list[str]:
        renamer = _Renamer(names, self._speller(fn.module), self._fetcher(fn.module))
        lines = []
        for statement in body:
            copied = self._helper_call(statement, names, renamer, fn, depth)
            lines += copied if copied is not None else _source(renamer, statement).splitlines()
        return lines

    def _helper_call(
        self,
        statement: ast.stmt,
        names: dict[str, str],
        renamer: _Renamer,
        fn: Function,
        depth: int,
    ) -> list[str] | None:
        """`f(args)` or `x = f(args)` with f's body copied in, when f is a helper that can be."""
        if isinstance(statement, ast.Expr):
            call, target = statement.value, None
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            call, target = statement.value, statement.targets[0].id
        else:
            return None
        if (
            depth >= HELPER_DEPTH
            or not isinstance(call, ast.Call)
            or not isinstance(call.func, ast.Name)
            or call.func.id in names  # a local: not the module's function
            or call.keywords
            or any(isinstance(a, ast.Starred) for a in call.args)
        ):
            return None
        helper = _helper(fn.module.__dict__.get(call.func.id))
        if helper is None or not helper.takes(len(call.args)):
            return None
        self.copies += 1
        local = {n: f"h{self.copies}_{n}" for n in helper.locals()}
        lines = self._enter(helper, [_source(renamer, a) for a in call.args], local)
        result = helper.result if helper.result is not None else ast.Constant(None)
        if target is None:  # its value is dropped, but what computes it still runs
            tail: list[ast.stmt] = [ast.Expr(result)] if helper.result is not None else []
            into = {}
        else:
            tail, into = [_result_of(result)], {_RESULT: names.get(target, target)}
        return lines + self._lines([*helper.body, *tail], {**local, **into}, helper, depth + 1)

    def _speller(self, module: types.ModuleType) -> Callable[[str], str]:
        def spell(name: str) -> str:
            value = module.__dict__.get(name, _builtin)
            if value is _builtin:
                return name
            if isinstance(value, types.ModuleType):  # np and the like: bound once
                return self._bind(value)
            # any other global is read from its module when the line runs, as the function
            # reads it (a test may replace it)
            return f"{self._bind(module)}.{name}"

        return spell

    def _fetcher(self, module: types.ModuleType) -> Callable[[str, str], str | None]:
        def fetch(base: str, attr: str) -> str | None:
            """`lib.attr`, where lib is a library outside chainrule (numpy), bound once: its
            functions do not change, and one lookup fewer is measurable on small arrays."""
            lib = module.__dict__.get(base)
            if not isinstance(lib, types.ModuleType) or lib.__name__.split(".")[0] == "chainrule":
                return None
            value = getattr(lib, attr, _builtin)
            return None if value is _builtin else self._bind(value)

        return fetch

    def _bind(self, value: Any) -> str:
        name = self.bound.get(id(value))
        if name is None:
            name = self.bound[id(value)] = f"m{len(self.names)}"
            self.names[name] = value
        return name


_builtin = object()


def _result_of(value: ast.expr) -> ast.Assign:
    """`__result__ = value`: the statement a copied function's value is given by."""
    return ast.Assign([ast.Name(_RESULT, ast.Store())], value, lineno=0)


def _source(renamer: _Renamer, node: ast.AST) -> str:
    return ast.unparse(renamer.visit(copy.deepcopy(node)))
