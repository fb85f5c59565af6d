"""An irreducible infeasible subset (IIS) from HiGHS, named in Pyomo's terms.

    iis = compute_iis(model)        # {"status", "strategy", "rows": [...], "bounds": [...]}

HiGHS computes the IIS of the LP relaxation (integrality is not part of it): a smallest
set of rows and variable bounds that cannot hold together. `iis_strategy` 4 asks for an
irreducible set, 2 for one found from the LP; the default strategy 0 can return a valid
but empty set (PYOMO-HIGHS-NOTES). Rows and columns are mapped back through the maps the
persistent interface keeps (`_solver_con_to_pyomo_con_map`, `_pyomo_var_to_solver_var_map`).
Strategy 4 can take minutes on a city-sized model, so above IRREDUCIBLE_MAX_SIZE rows and
columns only strategy 2 runs and the set is reported as possibly reducible.
When the LP relaxation is feasible the conflict lies in whole numbers and there is no IIS
to show; the elastic figures of `allocator.explain` still apply.
"""
from __future__ import annotations

from typing import Any

import pyomo.environ as pyo

IRREDUCIBLE_MAX_SIZE = 5_000   # rows + columns up to which strategy 4 (irreducible) is asked: it took 81 s on 14,000
IRREDUCIBLE = 3                # HighsIis.status_ of an irreducible set (HiGHS 1.15: "IIS status : Irreducible")
_BOUND = {-1: "dropped", 0: "none", 1: "free", 2: "lower", 3: "upper", 4: "both"}


def compute_iis(model: pyo.ConcreteModel, time_limit: float = 30.0) -> dict[str, Any]:
    """The IIS of `model`'s LP relaxation as constraint and variable names with their bounds."""
    import highspy
    from pyomo.contrib.solver.solvers.highs import Highs

    opt = Highs()
    opt.set_instance(model)
    h = opt._solver_model
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    lp = h.getLp()
    strategies = (4, 2) if lp.num_row_ + lp.num_col_ <= IRREDUCIBLE_MAX_SIZE else (2,)
    for strategy in strategies:
        h.setOptionValue("iis_strategy", strategy)
        status, iis = h.getIis()
        if status != highspy.HighsStatus.kError and iis.valid_ and (len(iis.row_index_) or len(iis.col_index_)):
            return _named(opt, iis, strategy)
    return {"status": "none", "strategy": None, "rows": [], "bounds": [],
            "note": "HiGHS found no infeasible subset of the LP relaxation: the conflict comes from whole numbers "
                    "(integrality), so no IIS can name it; see the elastic figures"}


def _named(opt, iis, strategy: int) -> dict[str, Any]:
    rows = []
    for r, b in zip(iis.row_index_, iis.row_bound_):
        con = opt._solver_con_to_pyomo_con_map.get(int(r))
        if con is None:
            continue
        rows.append({"constraint": con.name, "family": con.parent_component().local_name, "index": _index(con),
                     "bound": _BOUND.get(int(b), str(b)), "lower": _num(con.lower), "upper": _num(con.upper)})
    columns = {col: vid for vid, col in opt._pyomo_var_to_solver_var_map.items()}
    bounds = []
    for c, b in zip(iis.col_index_, iis.col_bound_):
        var = opt._vars[columns[int(c)]][0] if int(c) in columns else None
        if var is None or _BOUND.get(int(b)) in ("free", "dropped", "none"):
            continue
        bounds.append({"variable": var.name, "family": var.parent_component().local_name, "index": _index(var),
                       "bound": _BOUND.get(int(b), str(b)), "lower": _num(var.lb), "upper": _num(var.ub)})
    irreducible = int(iis.status_) == IRREDUCIBLE
    note = ("IIS of the LP relaxation (HiGHS): these rows and bounds cannot all hold" if irreducible else
            "infeasible subset of the LP relaxation (HiGHS; not reduced to an irreducible one on a model this size)")
    return {"status": "found", "strategy": strategy, "irreducible": irreducible, "rows": rows, "bounds": bounds, "note": note}


def _index(component) -> Any:
    index = component.index()
    if index is None:
        return None
    return [str(i) for i in index] if isinstance(index, tuple) else str(index)


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(pyo.value(value))
    return value if abs(value) < 1e30 else None


def iis_lines(iis: dict[str, Any], limit: int = 20) -> list[str]:
    """Readable lines: one per row or bound, grouped per family when there are many."""
    if iis.get("status") != "found":
        return [iis.get("note", "no IIS")]
    entries = [(e["family"], e["constraint"], _row_text(e), e["index"]) for e in iis["rows"]]
    entries += [(e["family"], e["variable"], f"{e['bound']} bound {_fmt(e['lower'] if e['bound'] == 'lower' else e['upper'])}",
                 e["index"]) for e in iis["bounds"]]
    n_rows, n_bounds = len(iis["rows"]), len(iis["bounds"])
    lines = [f"{iis['note']} ({n_rows} row{'s' * (n_rows != 1)}, {n_bounds} bound{'s' * (n_bounds != 1)}):"]
    if len(entries) <= limit:
        return lines + [f"  {name}: {text}" for _, name, text, _ in entries]
    families: dict[str, list[str]] = {}
    for family, name, _, index in entries:
        shown = name if index is None else (", ".join(index) if isinstance(index, list) else index)
        families.setdefault(family, []).append(shown)
    for family, names in families.items():
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5:,} more" if len(names) > 5 else "")
        lines.append(f"  {family}: {len(names):,} ({shown})")
    return lines


def _row_text(e: dict) -> str:
    if e["lower"] is not None and e["upper"] is not None and e["lower"] == e["upper"]:
        return f"= {_fmt(e['upper'])}"
    parts = []
    if e["lower"] is not None:
        parts.append(f"≥ {_fmt(e['lower'])}")
    if e["upper"] is not None:
        parts.append(f"≤ {_fmt(e['upper'])}")
    return " and ".join(parts)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:,.6g}"
