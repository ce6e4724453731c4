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
from collections.abc import Callable

from rollctl.db import quote_identifier
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


def validate_expression(expr: str, key: str) -> ast.expr:
    """Parse and allow-list an expression; raise a `PlanError` naming the key on anything else."""
    if not isinstance(expr, str) or not expr.strip():
        raise _error(expr, key, "must be a non-empty string")
    if len(expr) > 2000:
        raise _error(expr, key, "is longer than 2000 characters")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise _error(expr, key, "is not a valid expression") from None
    _check(tree.body, expr, key)
    return tree.body


def _check(node: ast.AST, expr: str, key: str) -> None:
    if isinstance(node, ast.Name):
        if node.id not in ALLOWED_FIELDS:
            raise _error(expr, key, f"unknown field {node.id!r}")
        return
    if isinstance(node, ast.Constant):
        if node.value is None or isinstance(node.value, bool | int | float | str):
            return
        raise _error(expr, key, "unsupported literal")
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise _error(expr, key, f"operator {type(node.op).__name__} is not allowed")
        _check(node.left, expr, key)
        _check(node.right, expr, key)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub):
            raise _error(expr, key, f"operator {type(node.op).__name__} is not allowed")
        _check(node.operand, expr, key)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, expr, key)
        return
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise _error(expr, key, "chained comparisons are not allowed; combine with 'and'")
        op, right = node.ops[0], node.comparators[0]
        _check(node.left, expr, key)
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise _error(expr, key, "'is' only compares with None")
            return
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.Tuple | ast.List) or not right.elts:
                raise _error(expr, key, "'in' needs a literal tuple, e.g. error in ('timeout', 'rate_limit')")
            for elt in right.elts:
                if not isinstance(elt, ast.Constant) or not isinstance(elt.value, int | float | str):
                    raise _error(expr, key, "'in' accepts literals only")
            return
        if type(op) not in _CMPOPS:
            raise _error(expr, key, "unsupported comparison")
        _check(right, expr, key)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            raise _error(expr, key, "only coalesce() and abs() may be called")
        low, high = _FUNCTIONS[node.func.id]
        if len(node.args) < low or (high is not None and len(node.args) > high):
            raise _error(expr, key, f"{node.func.id}() takes the wrong number of arguments")
        for a in node.args:
            _check(a, expr, key)
        return
    raise _error(expr, key, f"{type(node).__name__} is not allowed")


def to_sql(node: ast.expr, params: SqlParams) -> str:
    """SQL for an allow-listed tree: identifiers quoted, literals bound as parameters."""
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
