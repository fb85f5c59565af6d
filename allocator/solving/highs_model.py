"""A Pyomo model assembled into one in-memory HiGHS model, and solutions read back.

    compiled = compile_model(model, track_parameters=False)
    compiled.highs                 # a highspy.Highs holding  min/max c·x + offset
                                   #   s.t. L ≤ A·x ≤ U, l ≤ x ≤ u, x_j integer for integer columns
    compiled.load(values)          # column values written back to the Pyomo variables

Every active constraint becomes one row (a ranged constraint one row with both bounds);
columns are the variables in the order they are first met, row by row, then in the
objective (so the columns of one row family reach HiGHS in the order the rows list them).
A, the bounds, costs and integrality go to HiGHS in one `passModel` call.

Reading a row: a row whose body is a LinearExpression of numeric coefficients and
unfixed variables (or one variable), with bounds free of variables, is read term by term
(`models.linear` builds such rows); any other row is read by Pyomo's LinearRepnVisitor (the
walker of Pyomo's LP and standard-form writers), which folds fixed variables and parameters
into numbers. A row that is not linear is refused (ValueError). The same numbers reach
HiGHS either way: coefficients of a variable met twice in a row are summed, constants of
the body move to the bounds.

The LP relaxation of a compiled model (`relax(True)`) drops the integrality in HiGHS alone;
`relax(False)` restores it, so one hand-over serves an LP bound and the MIP after it.

Re-solves of the same model (`refresh`): with `track_parameters`, rows whose lower or upper
bound is an expression in mutable parameters are noted with the body's constant (only rows
read by the walker or with non-numeric bounds are inspected: the others hold numbers only); a refresh
recomputes only those bounds and hands them to HiGHS (`changeRowsBounds`). A mutable
parameter anywhere else (a coefficient, the objective, a variable bound) cannot be updated
that way, and such a model is assembled again on every refresh.
"""
from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo
import scipy.sparse
from pyomo.common.gc_manager import PauseGC
from pyomo.common.numeric_types import native_types, value
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.relational_expr import EqualityExpression, InequalityExpression, RangedExpression
from pyomo.core.expr.visitor import identify_mutable_parameters
from pyomo.repn.linear import LinearRepnVisitor

INF = highspy.kHighsInf


@dataclass
class _ParametricRows:
    """Rows whose bounds are expressions in mutable parameters: bound = value(expression) − constant."""

    rows: np.ndarray                  # HiGHS row numbers
    constraints: list                 # their ConstraintData
    constant: np.ndarray              # the body's constant, moved to the bounds


@dataclass
class CompiledModel:
    """One Pyomo model as a highspy model; `columns[j]` is the variable of HiGHS column j and
    `constraints[i]` the constraint of HiGHS row i (active constraints in Pyomo's order, less
    any without bounds)."""

    model: pyo.ConcreteModel
    objective: object | None
    highs: highspy.Highs
    columns: list
    constraints: list
    index: dict                                      # id(variable) → column
    offset: float
    parametric: _ParametricRows | None = None
    recompile: bool = False                          # a mutable parameter outside the row bounds
    integer: np.ndarray | None = None                # integrality of each column as compiled (1: integer)
    relaxed: bool = False                            # integrality currently dropped in HiGHS (`relax`)

    def column_of(self, var) -> int | None:
        """HiGHS column of a Pyomo variable (None if it is in no row and not in the objective)."""
        return self.index.get(id(var))

    def load(self, values) -> None:
        """Write HiGHS's column values back into the Pyomo variables."""
        with PauseGC():
            for v, x in zip(self.columns, np.asarray(values, dtype=float).tolist()):
                v.set_value(x, skip_validation=True)

    def relax(self, relaxed: bool) -> None:
        """Drop (True) or restore (False) the integrality of every integer column in HiGHS only:
        the LP relaxation of the same rows, with no change to the Pyomo model and no new hand-over."""
        if relaxed == self.relaxed or self.integer is None or not self.integer.any():
            return
        cols = np.flatnonzero(self.integer).astype(np.int32)
        kind = np.zeros(len(cols), np.uint8) if relaxed else self.integer[cols].astype(np.uint8)
        self.highs.changeColsIntegrality(len(cols), cols, kind)
        self.relaxed = relaxed

    def refresh(self) -> bool:
        """Push changed mutable parameters to HiGHS; False when the model must be assembled again."""
        if self.recompile:
            return False
        p = self.parametric
        if p is not None and len(p.rows):
            lower, upper = np.empty(len(p.rows)), np.empty(len(p.rows))
            for i, con in enumerate(p.constraints):
                lb, _, ub = con.to_bounded_expression()
                lower[i] = -INF if lb is None else value(lb) - p.constant[i]
                upper[i] = INF if ub is None else value(ub) - p.constant[i]
            self.highs.changeRowsBounds(len(p.rows), p.rows, lower, upper)
        return True


class _Rows:
    """The row-wise matrix as it is read: entries, bounds, and the columns met so far."""

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.columns: list = []
        self.entries: list[int] = []
        self.values: list[float] = []
        self.start: list[int] = [0]
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.constraints: list = []
        self.inspect: list[int] = []         # rows that may hold mutable parameters (see _track_parameters)
        self.visitor = LinearRepnVisitor({})

    def column(self, var) -> int:
        j = self.index.get(id(var))
        if j is None:
            j = self.index[id(var)] = len(self.columns)
            self.columns.append(var)
        return j

    def add(self, con) -> None:
        """One constraint as one row (a row with no bounds is left out)."""
        if not self._add_direct(con):
            self._add_walked(con)

    def _close(self, con, lower, upper, constant: float) -> None:
        self.start.append(len(self.entries))
        self.lower.append(-INF if lower is None else lower - constant)
        self.upper.append(INF if upper is None else upper - constant)
        self.constraints.append(con)

    def _add_direct(self, con) -> bool:
        """A body that is a LinearExpression of numbers and unfixed variables, or one variable."""
        parts = _relation(con.expr)
        if parts is None:
            return False
        lower, body, upper = parts
        if body.__class__ is LinearExpression:
            terms = body.args        # not _args_: a sum shares that list with sums built on it later, counting its own by nargs
            for t in terms:
                if t.__class__ is MonomialTermExpression:
                    c, v = t._args_
                    if c.__class__ not in native_types or v.fixed:
                        return False
                elif t.__class__ not in native_types and not (t.is_variable_type() and not t.fixed):
                    return False
        elif body.__class__ not in native_types and body.is_variable_type() and not body.fixed:
            terms = (body,)
        else:
            return False
        if lower is None and upper is None:
            return True
        if lower.__class__ not in native_types or upper.__class__ not in native_types:
            self.inspect.append(len(self.lower))
        lower, upper = _number(lower), _number(upper)
        constant = 0.0
        index, columns, entries, values = self.index, self.columns, self.entries, self.values
        for t in terms:
            if t.__class__ is MonomialTermExpression:
                c, v = t._args_
            elif t.__class__ in native_types:
                constant += t
                continue
            else:
                c, v = 1.0, t
            j = index.get(id(v))
            if j is None:
                j = index[id(v)] = len(columns)
                columns.append(v)
            if c:
                entries.append(j)
                values.append(c)
        self._close(con, lower, upper, constant)
        return True

    def _add_walked(self, con) -> None:
        lower, body, upper = con.to_bounded_expression()
        if lower is None and upper is None:
            return
        repn = self.visitor.walk_expression(body)
        if repn.nonlinear is not None:
            raise ValueError(f"constraint {con.name} is not linear; HiGHS takes linear models only")
        self.inspect.append(len(self.lower))
        var_map = self.visitor.var_map
        for vid, c in repn.linear.items():
            j = self.column(var_map[vid])
            if c:
                self.entries.append(j)
                self.values.append(float(c))
        self._close(con, _number(lower), _number(upper), float(repn.constant))

    def objective(self, obj) -> tuple[np.ndarray, float]:
        """Cost of each column (columns met only here are added) and the constant."""
        repn = self.visitor.walk_expression(obj.expr)
        if repn.nonlinear is not None:
            raise ValueError(f"objective {obj.name} is not linear; HiGHS takes linear models only")
        pairs = [(self.column(self.visitor.var_map[vid]), float(c)) for vid, c in repn.linear.items()]
        cost = np.zeros(len(self.columns))
        for j, c in pairs:
            cost[j] += c
        return cost, float(repn.constant)

    def matrix(self) -> scipy.sparse.csc_array:
        """A in compressed columns, duplicate entries of a row summed."""
        shape = (len(self.lower), len(self.columns))
        a = scipy.sparse.csr_array((np.asarray(self.values, dtype=np.float64), np.asarray(self.entries, dtype=np.int32),
                                    np.asarray(self.start, dtype=np.int64)), shape=shape)
        a.sum_duplicates()
        a = a.tocsc()
        a.eliminate_zeros()
        return a


def _relation(expr):
    """(lower, body, upper) of a relation whose bounds are free of variables, else None."""
    cls = expr.__class__
    if cls is InequalityExpression and not expr._strict:
        a, b = expr._args_
        if _no_variable(a):
            return a, b, None
        if _no_variable(b):
            return None, a, b
    elif cls is EqualityExpression:
        a, b = expr._args_
        if _no_variable(b):
            return b, a, b
        if _no_variable(a):
            return a, b, a
    elif cls is RangedExpression and not any(expr._strict):
        a, b, c = expr._args_
        if _no_variable(a) and _no_variable(c):
            return a, b, c
    return None


def _no_variable(x) -> bool:
    return x.__class__ in native_types or not x.is_potentially_variable()


def _number(x) -> float | None:
    if x is None:
        return None
    return float(x) if x.__class__ in native_types else float(value(x))


def compile_model(model: pyo.ConcreteModel, track_parameters: bool = False) -> CompiledModel:
    """Assemble `model` (linear, at most one active objective) into a new highspy.Highs."""
    objectives = list(model.component_data_objects(pyo.Objective, active=True))
    if len(objectives) > 1:
        raise ValueError(f"model {model.name!r} has {len(objectives)} active objectives; HiGHS takes one")
    rows = _Rows()
    with PauseGC():          # the reading makes many small objects; a collection mid-way only costs time
        for con in model.component_data_objects(pyo.Constraint, active=True):
            rows.add(con)
        cost, offset = rows.objective(objectives[0]) if objectives else (np.zeros(len(rows.columns)), 0.0)
        columns = rows.columns
        col_lower, col_upper, integer = _column_bounds(columns)
        A = rows.matrix()
    _check_numbers(rows, columns, cost, offset, A, col_lower, col_upper)
    sense = highspy.ObjSense.kMaximize if objectives and objectives[0].sense == pyo.maximize else highspy.ObjSense.kMinimize
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    status = highs.passModel(
        len(columns), len(rows.lower), int(A.nnz), int(highspy.MatrixFormat.kColwise), int(sense), offset,
        cost, col_lower, col_upper, np.asarray(rows.lower, dtype=np.float64), np.asarray(rows.upper, dtype=np.float64),
        A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64), integer)
    if status == highspy.HighsStatus.kError:
        raise ValueError(f"HiGHS refused model {model.name!r}")
    highs.HandleKeyboardInterrupt = True       # Ctrl-C stops HiGHS, which then reports "interrupted"
    compiled = CompiledModel(model, objectives[0] if objectives else None, highs, columns, rows.constraints, rows.index, offset,
                             integer=integer)
    if track_parameters:
        _track_parameters(compiled, rows)
    return compiled


LARGEST = 1e15      # HiGHS's large_matrix_value: it refuses a model with a larger coefficient
BOUND_AS_INFINITE = 1e20   # HiGHS's infinite_bound: a finite bound this large would be read as infinite


def _check_numbers(rows: _Rows, columns: list, cost: np.ndarray, offset: float, A, col_lower, col_upper) -> None:
    """Every coefficient and cost HiGHS receives is a finite number below LARGEST; else say where it
    comes from (a number of the input beyond its range reached the model), instead of HiGHS's bare refusal."""
    bad = np.flatnonzero(~np.isfinite(A.data) | (np.abs(A.data) >= LARGEST))
    if len(bad):
        k = int(bad[0])
        column = int(np.searchsorted(A.indptr, k, side="right")) - 1
        raise ValueError(f"constraint {rows.constraints[int(A.indices[k])].name} has the coefficient {A.data[k]:g} on "
                         f"{columns[column].name}, beyond the {LARGEST:g} HiGHS takes: an input number lies outside its range")
    bad = np.flatnonzero(~np.isfinite(cost) | (np.abs(cost) >= LARGEST))
    if len(bad) or not np.isfinite(offset):
        where = f"the cost {cost[bad[0]]:g} of {columns[int(bad[0])].name}" if len(bad) else f"the constant {offset:g}"
        raise ValueError(f"the objective has {where}, beyond the {LARGEST:g} HiGHS takes: an input number lies outside its range")
    for kind, names, lower, upper in (("constraint", rows.constraints, rows.lower, rows.upper),
                                      ("variable", columns, col_lower, col_upper)):
        bounds = np.column_stack([np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)])
        bad = np.flatnonzero((np.isnan(bounds) | (np.isfinite(bounds) & (np.abs(bounds) >= BOUND_AS_INFINITE))).any(axis=1))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{kind} {names[i].name} has the bounds [{bounds[i, 0]:g}, {bounds[i, 1]:g}], which HiGHS "
                             "would read as infinite: an input number lies outside its range")


def _column_bounds(columns: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper bounds (±inf when absent) and integrality (1: integer) of each column:
    the tighter of each variable's own bounds and its domain's, read in bulk when the own
    bounds are plain numbers (else variable by variable, through `bounds`)."""
    domains = [v.domain for v in columns]
    info: dict[int, tuple[float, float, int]] = {}
    for d in domains:
        if id(d) not in info:
            lb, ub = d.bounds()
            info[id(d)] = (-INF if lb is None else lb, INF if ub is None else ub, _domain_step(d))
    per_column = np.array([info[id(d)] for d in domains], dtype=float).reshape(-1, 3)
    try:
        own = np.array([(v._lb, v._ub) for v in columns], dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):       # a bound given as an expression
        own = np.array([v.bounds for v in columns], dtype=float).reshape(-1, 2)
    col_lower = np.fmax(np.where(np.isnan(own[:, 0]), -INF, own[:, 0]), per_column[:, 0])
    col_upper = np.fmin(np.where(np.isnan(own[:, 1]), INF, own[:, 1]), per_column[:, 1])
    return col_lower, col_upper, per_column[:, 2].astype(np.int32)


def _domain_step(domain) -> int:
    step = domain.get_interval()[2]
    if step not in (0, 1):
        raise ValueError(f"HiGHS takes continuous or integer variables, not the domain {domain}")
    return int(step)


def _track_parameters(compiled: CompiledModel, rows: _Rows) -> None:
    """Note the rows whose bounds hold mutable parameters; a mutable parameter elsewhere means assembling again."""
    found, cons, constant = [], [], []
    compiled.parametric = _ParametricRows(np.zeros(0, dtype=np.int32), [], np.zeros(0))
    if not any(param.mutable for param in compiled.model.component_objects(pyo.Param, descend_into=True)):
        return                             # no mutable parameter anywhere: nothing to track (a walk of every row spared)
    for i in rows.inspect:                 # the other rows hold numbers only
        con = rows.constraints[i]
        lb, body, ub = con.to_bounded_expression()
        if _mutable(body):
            compiled.recompile = True
            return
        if _mutable(lb) or _mutable(ub):
            found.append(i)
            cons.append(con)
            constant.append(value(ub) - rows.upper[i] if ub is not None else value(lb) - rows.lower[i])
    if compiled.objective is not None and _mutable(compiled.objective.expr):
        compiled.recompile = True
    if any(_mutable(v.lower) or _mutable(v.upper) for v in compiled.columns):
        compiled.recompile = True
    compiled.parametric = _ParametricRows(np.asarray(found, dtype=np.int32), cons, np.asarray(constant, dtype=float))


def _mutable(expr) -> bool:
    if expr is None or expr.__class__ in native_types:
        return False
    return next(identify_mutable_parameters(expr), None) is not None
