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
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression


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
