"""Linear Pyomo expressions and constraints built directly, for models with many rows.

Pyomo's operator overloading (`2 * x + y >= 3`) builds each row through several
intermediate expression objects; these helpers build the final objects at once
(LinearExpression of MonomialTermExpression terms, then the relation), which takes about a
third of the time and gives the standard-form compiler its fastest path. Coefficients must
be Python numbers; the rows they build are the same rows (same coefficients and bounds).

    linear(coefs, variables, constant=0.0)     Σ_i coefs[i]·variables[i] + constant
    at_least(expr, lower)                      lower ≤ expr
    at_most(expr, upper)                       expr ≤ upper
    equal(expr, value)                         expr = value
    rows(index_set, expressions)               an indexed Constraint from {index: relation}
                                               (indices missing from a mapping get no row)
    centred(relation)                          k·(left − right) = 0 (≤ 0): the same row, scaled by the
                                               power of 2 that centres its coefficients on 1
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression
from pyomo.repn.standard_repn import generate_standard_repn


def linear(coefs: Sequence[float], variables: Sequence, constant: float = 0.0) -> LinearExpression:
    """Σ_i coefs[i]·variables[i] + constant (a coefficient of exactly 1 keeps the bare variable)."""
    args = [v if c == 1 else MonomialTermExpression((c, v)) for c, v in zip(coefs, variables)]
    if constant:
        args.insert(0, constant)
    return LinearExpression(args)


def at_least(expr, lower: float) -> InequalityExpression:
    return InequalityExpression((lower, expr), False)


def at_most(expr, upper: float) -> InequalityExpression:
    return InequalityExpression((expr, upper), False)


def equal(expr, value: float) -> EqualityExpression:
    return EqualityExpression((expr, value))


def rows(index_set, expressions: Mapping | Iterable, doc: str | None = None) -> pyo.Constraint:
    """An indexed Constraint over `index_set` whose row at each index is the given relation
    (a mapping from index to relation, or relations in the order of `index_set`); an index
    the mapping lacks gets no row."""
    table = expressions if isinstance(expressions, Mapping) else dict(zip(index_set, expressions))
    skip = pyo.Constraint.Skip
    return pyo.Constraint(index_set, rule=lambda m, *key: table.get(key[0] if len(key) == 1 else key, skip), doc=doc)


def centring_factor(coefs: Iterable[float]) -> float:
    """The power of 2 k that centres the nonzero |coefs| on 1: after scaling, their largest times
    their smallest is within a factor 2 of 1, so a row spanning R keeps its coefficients within
    [1/√(2R), √(2R)]. A power of 2 changes no digit of any coefficient (1 when there is none)."""
    logs = [math.log2(abs(c)) for c in coefs if c]
    if not logs:
        return 1.0
    return 2.0 ** -round(0.5 * (max(logs) + min(logs)))


def centred(relation):
    """The row `left = right` or `left ≤ right` as k·(left − right) = 0 (≤ 0), k = centring_factor of the
    coefficients of its variables (those not fixed now; fixed ones stay in the row, scaled by the same
    k). The same row, handed to HiGHS on a scale where its coefficients lie about 1."""
    if relation.__class__ not in (EqualityExpression, InequalityExpression) or getattr(relation, "_strict", False):
        raise ValueError(f"centred takes left = right or left ≤ right, not {relation}")
    left, right = relation.args
    body = left - right
    k = centring_factor(generate_standard_repn(body, compute_values=True, quadratic=False).linear_coefs)
    body = k * body if k != 1.0 else body
    return equal(body, 0.0) if relation.__class__ is EqualityExpression else at_most(body, 0.0)
