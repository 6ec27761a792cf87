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
import re
import sys
import textwrap
import types
import weakref
from dataclasses import dataclass
from typing import Any

HELPER_DEPTH = 3  # helpers of helpers of a kernel's helpers are called
# Names whose meaning depends on the frame they run in: a function that uses them is called.
_FRAME_NAMES = {"locals", "vars", "globals", "eval", "exec", "super", "__class__"}
_REFUSED = (
    ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal,
    ast.ClassDef, ast.AsyncFunctionDef, ast.Import, ast.ImportFrom, ast.Lambda, ast.FunctionDef,
    ast.Match,  # its patterns bind names that are not Name nodes
)  # fmt: skip


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

    @functools.cached_property
    def local_names(self) -> set[str]:
        return set(self.params) | _assigned(self.body)

    @functools.cached_property
    def as_kernel(self) -> Form | None:
        """This function as a kernel to copy, or None."""
        return _kernel_form(self)

    @functools.cached_property
    def as_helper(self) -> bool:
        """Whether a copy may copy this function in where it calls it."""
        read = [*self.body, *([self.result] if self.result is not None else [])]
        return not self.defined and _copyable(read, self.local_names, self.module)


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
    return None if f is None else f.as_kernel


def _kernel_form(f: Function) -> Form | None:
    if f.result is None:
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
    local = f.local_names | {r.param for r in rules}
    for r in rules:
        local |= _assigned(r.body)
    read = [*f.body, out, *(s for r in rules for s in r.body), *(r.result for r in rules)]
    return Form(f, out, rules) if _copyable(read, local, f.module) else None


def _helper(value: Any) -> Function | None:
    """A function a copy calls, when it can be copied too."""
    f = _function(value)
    return f if f is not None and f.as_helper else None


def _copyable(nodes: list, local: set[str], module: types.ModuleType) -> bool:
    """No construct that a copy would change, and every other name the module's or a builtin
    (not, say, a nested function's)."""
    return not any(_refused(node) for node in nodes) and _resolved(_read(nodes) - local, module)


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
    # the block at the code's own first line (inspect.getsource would follow __wrapped__)
    lines = linecache.getlines(code.co_filename)[code.co_firstlineno - 1 :]
    source = "".join(inspect.getblock(lines))
    if "ℳ" in source:  # the letter that marks names in a copy's template (_Marker)
        return None
    tree = ast.parse(textwrap.dedent(source))
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    node = tree.body[0]
    if node.decorator_list or node.name != code.co_name:
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
    found = set()
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del):
                found.add(n.id)
            elif isinstance(n, ast.ExceptHandler) and n.name:  # `except E as name`
                found.add(n.name)
    return found


class _Marker(ast.NodeTransformer):
    """Marks each name, and each `lib.attr`, in a copy of a statement, for `Inliner._fill`."""

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(f"ℳN{node.id}ℳ", node.ctx), node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        base = node.value
        if isinstance(node.ctx, ast.Load) and isinstance(base, ast.Name):
            return ast.copy_location(ast.Name(f"ℳA{base.id}ℵ{node.attr}ℳ"), node)
        return self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = f"ℳN{node.name}ℳ"
        return self.generic_visit(node)


_templates: dict[int, tuple[ast.AST, str]] = {}  # id(node) -> the node, its marked source
# letters no name in chainrule uses, so that the marks survive unparsing (inside f-strings too);
# a function whose source has one is called
_MARK = re.compile("ℳ([NA])([^ℳ]*)ℳ")


def _template(node: ast.AST) -> str:
    """The node's source with its names marked, unparsed once: a step's records are written
    at every fit, and unparsing a kernel each time took 25 ms of one."""
    hit = _templates.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    if len(_templates) > 4096:
        _templates.clear()
    text = ast.unparse(_Marker().visit(copy.deepcopy(node)))
    _templates[id(node)] = (node, text)
    return text


def _call_statement(statement: ast.stmt) -> tuple[ast.expr | None, str | None]:
    """The call of `f(args)` or `x = f(args)`, and x."""
    if isinstance(statement, ast.Expr):
        return statement.value, None
    if (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
    ):
        return statement.value, statement.targets[0].id
    return None, None


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
        local = {n: f"k{k}_{n}" for n in fn.local_names}
        lines = self._enter(fn, arguments, local)
        lines += self._lines(fn.body, local, fn, 0, (f"v{k}", f.out))
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
        return self._lines(r.body, names, f.function, 0, ("g", r.result))

    def _enter(self, fn: Function, arguments: list[str], local: dict[str, str]) -> list[str]:
        """The parameters set as a call would set them."""
        lines = [f"{local[p]} = {a}" for p, a in zip(fn.params, arguments, strict=False)]
        lines += [f"{local[p]} = {self._bind(fn.defaults[p])}" for p in fn.params[len(arguments) :]]
        return lines

    def _lines(
        self,
        body: list[ast.stmt],
        names: dict[str, str],
        fn: Function,
        depth: int,
        result: tuple[str | None, ast.expr] | None = None,
    ) -> list[str]:
        """The body, renamed by `names`, then `target = result` (the result alone for no
        target); helpers it calls as a whole statement are copied in."""
        lines = []
        for statement in body:
            call, target = _call_statement(statement)
            copied = None
            if call is not None:
                copied = self._helper_call(call, target and names[target], names, fn, depth)
            lines += copied if copied is not None else self._fill(statement, names, fn).splitlines()
        if result is not None:
            target, value = result
            copied = self._helper_call(value, target, names, fn, depth)
            if copied is None:
                text = self._fill(value, names, fn)
                copied = [f"{target} = {text}" if target is not None else text]
            lines += copied
        return lines

    def _helper_call(
        self, call: ast.expr, target: str | None, names: dict[str, str], fn: Function, depth: int
    ) -> list[str] | None:
        """`f(args)` (into `target`, when given) with f's body copied in, when f is a helper
        that can be."""
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
        local = {n: f"h{self.copies}_{n}" for n in helper.local_names}
        lines = self._enter(helper, [self._fill(a, names, fn) for a in call.args], local)
        if helper.result is None:  # it returns None
            lines += self._lines(helper.body, local, helper, depth + 1)
            return lines + ([f"{target} = None"] if target is not None else [])
        return lines + self._lines(helper.body, local, helper, depth + 1, (target, helper.result))

    def _fill(self, node: ast.AST, names: dict[str, str], fn: Function) -> str:
        """The node's source with its locals renamed and its module's globals spelled."""
        module = fn.module.__dict__

        def spell(name: str) -> str:
            if name in names:
                return names[name]
            value = module.get(name, _builtin)
            if value is _builtin:
                return name
            if isinstance(value, types.ModuleType):  # np and the like: bound once
                return self._bind(value)
            # any other global is read from its module when the line runs, as the function
            # reads it (a test may replace it)
            return f"{self._bind(fn.module)}.{name}"

        def fill(mark: re.Match[str]) -> str:
            kind, name = mark.groups()
            if kind == "N":
                return spell(name)
            base, attr = name.split("ℵ")
            lib = None if base in names else module.get(base)
            # a library's functions (np.exp) do not change: bound once, one lookup fewer
            if isinstance(lib, types.ModuleType) and lib.__name__.split(".")[0] != "chainrule":
                value = getattr(lib, attr, _builtin)
                if value is not _builtin:
                    return self._bind(value)
            return f"{spell(base)}.{attr}"

        return _MARK.sub(fill, _template(node))

    def _bind(self, value: Any) -> str:
        name = self.bound.get(id(value))
        if name is None:
            name = self.bound[id(value)] = f"m{len(self.names)}"
            self.names[name] = value
        return name


_builtin = object()
