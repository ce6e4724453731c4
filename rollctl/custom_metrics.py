"""Custom plan metrics: a numerator and optional denominator over canonical fields, never pasted into SQL.

A plan may define a metric the catalog lacks, e.g. "share of requests that failed JSON parsing or were
retried":

    [metrics.broken_or_retried]
    numerator = "error == 'json_parse' or retried"
    denominator = "1"                # default: one per request
    higher_is_better = false

Both are per-request expressions, summed per randomization unit (so the metric is a ratio of per-unit
sums and gets the delta method like every built-in rate). The expression is parsed with Python's `ast`
and accepted only if every node is on an allow-list: canonical field names, number/string/bool
literals, `+ - * /`, comparisons (`== != < <= > >=`, `is None`, `is not None`, `in (...)`), `and`, `or`,
`not`, unary minus, and the functions `coalesce(x, y)` and `abs(x)`. Field names become quoted
identifiers and literals become bound parameters; the user's text itself never reaches SQL.
A NULL per-request value counts as 0.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

from rollctl.errors import PlanError
from rollctl.load.canonical import TRACE_FIELDS
from rollctl.load.expressions import SqlParams

# Fields an expression may read: the canonical per-request scalars (not text bodies, tags or metadata).
ALLOWED_FIELDS: frozenset[str] = frozenset(
    f.name for f in TRACE_FIELDS if f.kind in ("string", "bool", "float", "int", "thumbs")
    and f.name not in ("request_id", "user_id", "session_id", "variant", "timestamp")
)

_BINOPS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMPOPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
}
_FUNCTIONS = {"coalesce": (2, None), "abs": (1, 1)}


def _error(expr: str, key: str, what: str) -> PlanError:
    return PlanError(
        f"custom metric {key}: {what}", field=key,
        fix="use canonical fields (" + ", ".join(sorted(ALLOWED_FIELDS)) + "), literals, + - * /, comparisons, "
        "and/or/not, is None, in (...), coalesce(), abs()",
    )


# Canonical kinds as the expression sees them: text, or a number (booleans take part as 0/1, as in DuckDB).
FIELD_TYPES: dict[str, str] = {
    f.name: "text" if f.kind == "string" else "number" for f in TRACE_FIELDS if f.name in ALLOWED_FIELDS
}
MAX_DEPTH = 64
"""Deeper nesting is refused (a plan of 2,000 nested minus signs exhausted Python's recursion)."""
_INT64 = 2**63


def validate_expression(expr: str, key: str) -> ast.expr:
    """Parse, allow-list and type-check an expression against the canonical schema; raise a `PlanError`
    naming the key on anything else, so whatever `plan check` accepts, decide can run."""
    if not isinstance(expr, str) or not expr.strip():
        raise _error(expr, key, "must be a non-empty string")
    if len(expr) > 2000:
        raise _error(expr, key, "is longer than 2000 characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise _error(expr, key, "is not a valid expression") from None
    except (RecursionError, MemoryError):
        raise _error(expr, key, f"nests deeper than {MAX_DEPTH} levels") from None
    if _depth(tree.body) > MAX_DEPTH:
        raise _error(expr, key, f"nests deeper than {MAX_DEPTH} levels")
    if _type(tree.body, expr, key) == "text":
        raise _error(expr, key, "is text, not a number or a condition; compare it, e.g. error == 'timeout'")
    return tree.body


def _depth(root: ast.AST) -> int:
    """The nesting depth, counted without recursion (the tree may be thousands deep)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _literal_type(value: object, expr: str, key: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "number"
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise _error(expr, key, "has a number literal too large for a 64-bit integer")
        return "number"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _error(expr, key, "has a number literal that is not finite")
        return "number"
    if isinstance(value, str):
        return "text"
    raise _error(expr, key, "unsupported literal")


def _same(types: list[str], expr: str, key: str, what: str) -> str:
    """The one type of several operands (null mixes with anything); a number beside text is an error."""
    known = {t for t in types if t != "null"}
    if len(known) > 1:
        raise _error(expr, key, f"{what} mixes text and numbers")
    return known.pop() if known else "null"


def _numeric(t: str, expr: str, key: str, what: str) -> None:
    if t == "text":
        raise _error(expr, key, f"{what} needs numbers or conditions, not text")


def _type(node: ast.AST, expr: str, key: str) -> str:
    """Check a node against the allow-list and return its type: "number", "text" or "null"."""
    if isinstance(node, ast.Name):
        if node.id not in ALLOWED_FIELDS:
            raise _error(expr, key, f"unknown field {node.id!r}")
        return FIELD_TYPES[node.id]
    if isinstance(node, ast.Constant):
        return _literal_type(node.value, expr, key)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise _error(expr, key, f"operator {type(node.op).__name__} is not allowed")
        for side in (node.left, node.right):
            _numeric(_type(side, expr, key), expr, key, f"'{_BINOPS[type(node.op)]}'")
        return "number"
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub):
            raise _error(expr, key, f"operator {type(node.op).__name__} is not allowed")
        _numeric(_type(node.operand, expr, key), expr, key, "'not'" if isinstance(node.op, ast.Not) else "'-'")
        return "number"
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _numeric(_type(v, expr, key), expr, key, "'and' / 'or'")
        return "number"
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise _error(expr, key, "chained comparisons are not allowed; combine with 'and'")
        op, right = node.ops[0], node.comparators[0]
        left = _type(node.left, expr, key)
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise _error(expr, key, "'is' only compares with None")
            return "number"
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.Tuple | ast.List) or not right.elts:
                raise _error(expr, key, "'in' needs a literal tuple, e.g. error in ('timeout', 'rate_limit')")
            items = []
            for elt in right.elts:
                if not isinstance(elt, ast.Constant) or not isinstance(elt.value, int | float | str):
                    raise _error(expr, key, "'in' accepts literals only")
                items.append(_literal_type(elt.value, expr, key))
            _same([left, *items], expr, key, "'in'")
            return "number"
        if type(op) not in _CMPOPS:
            raise _error(expr, key, "unsupported comparison")
        _same([left, _type(right, expr, key)], expr, key, "a comparison")
        return "number"
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            raise _error(expr, key, "only coalesce() and abs() may be called")
        low, high = _FUNCTIONS[node.func.id]
        if len(node.args) < low or (high is not None and len(node.args) > high):
            raise _error(expr, key, f"{node.func.id}() takes the wrong number of arguments")
        types = [_type(a, expr, key) for a in node.args]
        if node.func.id == "abs":
            _numeric(types[0], expr, key, "abs()")
            return "number"
        return _same(types, expr, key, "coalesce()")
    raise _error(expr, key, f"{type(node).__name__} is not allowed")


def to_sql(node: ast.expr, params: SqlParams) -> str:
    """SQL for an allow-listed tree: identifiers quoted, literals bound as parameters."""
    from rollctl.db import quote_identifier  # here: parsing a plan must not import DuckDB (`rollctl --help` reads none)

    if isinstance(node, ast.Name):
        return quote_identifier(node.id)
    if isinstance(node, ast.Constant):
        if node.value is None:
            return "NULL"
        if isinstance(node.value, bool):
            return "TRUE" if node.value else "FALSE"
        return params.add(node.value)
    if isinstance(node, ast.BinOp):
        lhs, rhs = to_sql(node.left, params), to_sql(node.right, params)
        if isinstance(node.op, ast.Div):
            return f"(CAST({lhs} AS DOUBLE) / NULLIF(CAST({rhs} AS DOUBLE), 0))"
        return f"({_num(lhs)} {_BINOPS[type(node.op)]} {_num(rhs)})"
    if isinstance(node, ast.UnaryOp):
        inner = to_sql(node.operand, params)
        return f"(NOT {inner})" if isinstance(node.op, ast.Not) else f"(- {_num(inner)})"
    if isinstance(node, ast.BoolOp):
        joiner = " AND " if isinstance(node.op, ast.And) else " OR "
        return "(" + joiner.join(to_sql(v, params) for v in node.values) + ")"
    if isinstance(node, ast.Compare):
        op, right = node.ops[0], node.comparators[0]
        left = to_sql(node.left, params)
        if isinstance(op, ast.Is):
            return f"({left} IS NULL)"
        if isinstance(op, ast.IsNot):
            return f"({left} IS NOT NULL)"
        if isinstance(op, ast.In | ast.NotIn):
            assert isinstance(right, ast.Tuple | ast.List)
            items = ", ".join(to_sql(e, params) for e in right.elts)
            return f"({left} {'NOT IN' if isinstance(op, ast.NotIn) else 'IN'} ({items}))"
        return f"({left} {_CMPOPS[type(op)]} {to_sql(right, params)})"
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = ", ".join(to_sql(a, params) for a in node.args)
        return f"{node.func.id}({args})"
    raise AssertionError(f"unchecked node {type(node).__name__}")


def _num(sql: str) -> str:
    # Booleans take part in arithmetic as 0/1 (`retried + abandoned`).
    return f"CAST({sql} AS DOUBLE)"


def per_unit_sum(node: ast.expr) -> Callable[[SqlParams], str]:
    """The per-unit aggregate `sum(value)` of a per-request expression, NULL counted as 0."""
    def build(params: SqlParams) -> str:
        return f"sum(coalesce(CAST({to_sql(node, params)} AS DOUBLE), 0))"
    return build


def fields_of(node: ast.expr) -> tuple[str, ...]:
    """Canonical fields an expression reads (for require_fields)."""
    return tuple(sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in ALLOWED_FIELDS}))
