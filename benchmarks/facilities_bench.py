"""City-scale benchmark of the facilities model (not a test): maximal covering under a budget.

    python benchmarks/facilities_bench.py                    # 2,000 towns, seed 1, 1 % gap
    python benchmarks/facilities_bench.py --towns 500 --variant greenfield
    python benchmarks/facilities_bench.py --towns 2000 --candidates 5000 --time-limit 120
        # the city scale of issue 4: 50,587 grids, 5,000 candidate sites (and the 20,859
        # existing ones) over seven services, MCLP under a budget to a 1 % gap within 120 s

Variants:
    city        the instance path (`allocator solve --model facilities --objective mclp`):
                existing sites fixed open, seven services sharing one budget; the budget is
                the existing sites' running cost plus `--share` of what opening every
                candidate would cost (DESIGN §8: "budget for 15 % of sites").
    greenfield  the generic `solve_mclp` on the same reach pairs with nothing open yet
                (existing sites become candidates at their running cost): every pair of
                DESIGN §8's plain model enters, before the exact reductions.

Printed per variant: pairs, what the reductions left, build / hand-over / HiGHS / extract
seconds, total, objective, gap, and the share of time spent outside HiGHS.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.append(str(Path(__file__).resolve().parents[1]))

from allocator.data.generate import generate_city  # noqa: E402
from allocator.plans.make import make_plan  # noqa: E402
from allocator.solving.run import RunOptions  # noqa: E402
from allocator.solving.solve import SolveOptions  # noqa: E402
from allocator.solving.location import solve_mclp  # noqa: E402
from allocator.models.facilities_data import grid_demand, reachable_pairs, service_sites  # noqa: E402


def city_budget(city, share: float) -> float:
    s = city.sites
    existing = s["existing"].to_numpy() == 1
    running = float(s["annual_cost"].to_numpy(float)[existing].sum())
    candidates = float((s["open_cost"] + s["annual_cost"]).to_numpy(float)[~existing].sum())
    return running + share * candidates


def subsample_candidates(city, keep: int, seed: int):
    """The same city with only `keep` candidate sites (all existing sites stay)."""
    from dataclasses import replace

    s = city.sites
    cand = np.flatnonzero(s["existing"].to_numpy() == 0)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(cand, size=min(keep, len(cand)), replace=False))
    rows = np.sort(np.concatenate([np.flatnonzero(s["existing"].to_numpy() == 1), chosen]))
    return replace(city, sites=s.iloc[rows])


def line(label: str, t: dict, total: float, objective, gap) -> None:
    outside = t["build_s"] + t["handover_s"] + t["extract_s"]
    gap_text = "-" if gap is None else f"{100 * gap:.3f}%"
    obj_text = "-" if objective is None else f"{objective:,.1f}"
    print(f"{label}: build {t['build_s']:.2f} s, hand-over {t['handover_s']:.2f} s, HiGHS {t['solve_s']:.2f} s, "
          f"extract {t['extract_s']:.2f} s, total {total:.2f} s; objective {obj_text}, gap {gap_text}; "
          f"outside HiGHS {100 * outside / max(total, 1e-9):.1f}%")


def run_city(city, budget: float, options: SolveOptions) -> None:
    t0 = time.perf_counter()
    plan = make_plan(city, RunOptions(model="facilities", objective="mclp", budget=budget), options)
    wall = time.perf_counter() - t0
    m = plan.meta
    t = m["timings"]
    red = m["facilities"].get("reductions", [])
    print(f"city: status {m['status']}, check {'passed' if m.get('check', {}).get('passed') else 'FAILED'}; "
          f"pairs {sum(r['pairs'] for r in red):,} -> after existing {sum(r['pairs_after_fixed'] for r in red):,} -> "
          f"model {sum(r['model_pairs'] for r in red):,}; rows {sum(r['rows'] for r in red):,}, "
          f"sites {sum(r['kept_sites'] for r in red):,} (dominated {sum(r.get('dominated_sites', 0) for r in red):,}), "
          f"folded grids {sum(r['folded_rows'] for r in red):,}")
    line("city", t, t["total_s"], m["objective_value"], m["mip_gap"])
    print(f"city: coverage rate {m['facilities']['coverage_rate']:.4f}, spend {m['facilities']['spend_10k_cny']:,.1f} "
          f"of {budget:,.1f}; greedy {m['facilities'].get('greedy_objective', float('nan')):,.1f}; "
          f"plan check and tables outside the model: {wall - t['total_s']:.2f} s")


def run_greenfield(city, share: float, options: SolveOptions) -> None:
    t0 = time.perf_counter()
    n = len(city.grids)
    blocks, weights, site_rows = [], [], []
    for k, service in enumerate(city.config.services):
        rows = service_sites(city, service)
        g, j, _ = reachable_pairs(city, rows, float(city.config.norms["coverage_minutes"][service]))
        blocks.append((g + k * n, j + len(np.concatenate(site_rows)) if site_rows else j))
        weights.append(grid_demand(city, service))
        site_rows.append(rows)
    rows_all = np.concatenate([b[0] for b in blocks])
    cols_all = np.concatenate([b[1] for b in blocks])
    sites = np.concatenate(site_rows)
    reach = sp.csr_matrix((np.ones(len(rows_all), bool), (rows_all, cols_all)), shape=(n * len(site_rows), len(sites)))
    s = city.sites.iloc[sites]
    existing = s["existing"].to_numpy() == 1
    cost = s["annual_cost"].to_numpy(float) + np.where(existing, 0.0, s["open_cost"].to_numpy(float))
    budget = share * float(cost.sum())
    prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    r = solve_mclp(np.concatenate(weights), reach, cost=cost, budget=budget, solve_options=options)
    total = time.perf_counter() - t1
    red = r.details.get("reductions", [{}])[0]
    print(f"greenfield: status {r.status}; pairs {reach.nnz:,} -> model {red.get('model_pairs', 0):,}; rows {red.get('rows', 0):,}, "
          f"sites {red.get('kept_sites', 0):,} of {len(sites):,} (dominated {red.get('dominated_sites', 0):,}), "
          f"folded nodes {red.get('folded_rows', 0):,}; budget {budget:,.1f}; pairs computed in {prep:.2f} s")
    line("greenfield", r.timings, total, r.objective, r.gap)
    print(f"greenfield: greedy {r.details.get('greedy_objective', float('nan')):,.1f}, demand {float(np.concatenate(weights).sum()):,.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--towns", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--candidates", type=int, help="keep only this many candidate sites (all existing stay)")
    ap.add_argument("--share", type=float, default=0.15, help="budget share of all candidate costs")
    ap.add_argument("--gap", type=float, default=0.01)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--variant", choices=["city", "greenfield", "both"], default="both")
    args = ap.parse_args()
    t0 = time.perf_counter()
    city = generate_city(args.towns, args.seed)
    if args.candidates:
        city = subsample_candidates(city, args.candidates, args.seed)
    s = city.sites
    print(f"generated {args.towns} towns (seed {args.seed}) in {time.perf_counter() - t0:.2f} s: {len(city.grids):,} grids, "
          f"{int((s['existing'] == 0).sum()):,} candidate and {int((s['existing'] == 1).sum()):,} existing sites, "
          f"{len(city.config.services)} services")
    options = SolveOptions(gap=args.gap, time_limit=args.time_limit, threads=args.threads, seed=0)
    if args.variant in ("city", "both"):
        run_city(city, city_budget(city, args.share), options)
    if args.variant in ("greenfield", "both"):
        run_greenfield(city, args.share, options)


if __name__ == "__main__":
    main()
