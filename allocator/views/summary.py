"""The summary `allocator solve` prints under a plan, in lines: the headline, the stages, the timings,
the money, the staff kept, a roadmap's years, the check. Figures are rounded for people (`number`,
`percent`); plan.json keeps them whole.
"""
from __future__ import annotations

from pathlib import Path

from allocator.solving.split import BOUND_PART, LP_PART

MAX_STAGE_LINES = 12


def summary_lines(plan, folder: Path) -> list[str]:
    """The headline (the objective asked: its value, bound and gap), a line per stage of a sequence, the
    words for a sequence cut short, timings, money, staff, the roadmap's years, check, note."""
    m = plan.meta
    lines: list[str] = []
    t = m["timings"]
    asked = f" (asked: {m['objective_asked']})" if m.get("objective_asked") else ""
    lines.append(f"{m['model']} / {m['objective']}{asked}: status {m['status']}, objective {number(m['objective_value'])}, "
                 f"bound {number(m.get('bound'))}, gap {percent(m['mip_gap'])}")
    if m.get("status_text"):
        lines.append(f"  {m['status_text']}")
    stages = m.get("stages") or []
    if len(stages) > 1:
        for k, stage in enumerate(stages[:MAX_STAGE_LINES], start=1):
            kept = " (kept from an earlier solve)" if stage.get("kept_from_earlier_solve") else ""
            lines.append(f"  stage {k}, {stage['stage']}: {stage['status']}, value {number(stage['value'])}, "
                         f"bound {number(stage['bound'])}, gap {percent(stage['gap'])}, {stage['seconds']:.1f} s"
                         f"{kept}{_split_text(stage)}")
        if len(stages) > MAX_STAGE_LINES:
            lines.append(f"  ... {len(stages) - MAX_STAGE_LINES} more stages in plan.json")
    lines.append(f"time: build {t['build_s']:.2f} s, hand-over {t['handover_s']:.2f} s, HiGHS {t['solve_s']:.2f} s, "
                 f"extract {t['extract_s']:.2f} s, total {t['total_s']:.2f} s")
    lines += _money_lines(m.get("money")) + staff_lines(m) + roadmap_lines(plan)
    check = m.get("check")
    if check is not None:
        lines.append("check: passed" if check["passed"] else f"check: FAILED ({check['n_violations']} violations)")
    if m.get("explanation") and m["status"] != "infeasible":       # an infeasible run says why once, on stderr
        lines.append(f"note: {m['explanation']}")
    lines.append(f"wrote {folder}")
    return lines


def number(value) -> str:
    """A figure for people: whole units from 100,000 on (7,617,599,039, not 7.6176e+09), else six digits."""
    if value is None:
        return "-"
    if abs(value) < 1e-9:               # float noise (e.g. -6.6e-17) reads 0
        return "0"
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:,.6g}"


def percent(gap) -> str:
    """A gap for people: solver noise below 1e-6 % is 0 %."""
    return "-" if gap is None else ("0%" if abs(gap) < 1e-8 else f"{100 * gap:.3g}%")


def roadmap_lines(plan) -> list[str]:
    """A roadmap's years, a line each: budget, spend, hires, sites opened, mean and lowest index, norm."""
    table = plan.tables.get("roadmap")
    if table is None or not len(table):
        return []
    norm = "urban districts at the community-worker norm"
    headline = {"target": "spend over the years", "leximin": "the lowest index of any year"}.get(
        plan.meta.get("objective"), "mean over the years")
    lines = [f"year by year ({headline} above; hires are staff employed over the year before):",
             f"  {'year':>4} {'budget':>10} {'spend':>10}  {'hires: full-time':>16} {'part-time':>9} {'profess.':>8} "
             f"{'officers':>8}  {'sites':>5}  {'mean':>6} {'lowest':>6}  {norm}"]
    for r in table.itertuples(index=False):
        lines.append(f"  {r.year:>4} {r.budget:>10,.0f} {r.spend:>10,.0f}  {r.hires_fulltime:>16,.0f} {r.hires_parttime:>9,.0f} "
                     f"{r.hires_professional:>8,.0f} {r.hires_officers:>8,.0f}  {r.sites_opened:>5,.0f}  {r.mean_index:>6.3f} "
                     f"{r.lowest_index:>6.3f}  {r.urban_districts_at_worker_norm:,.0f} of {r.urban_districts:,.0f}")
    return lines


def staff_lines(meta: dict) -> list[str]:
    """The summary's lines on staff kept, released and the move limit (enforcement, grid and city plans)."""
    e = meta.get("enforcement") or {}
    lines = []
    staff = e.get("staff")
    if staff:
        released = (f"{staff['released']:,} released (leaving the service)" if e.get("allow_release")
                    else "none released (--allow-release not given)")
        lines.append(f"officers: {staff['today']:,} employed today, {staff['posted']:,} posted, {staff['pooled']:,} in "
                     f"district pools, {staff['new_posts']:,} new posts; {released}")
    grid = (meta.get("grid") or {}).get("staff")
    if grid:
        released = (f"{grid['fulltime']['released']:,} full-time and {grid['parttime']['released']:,} part-time released "
                    f"(leaving the service)" if grid.get("allow_release") else "none released (--allow-release not given)")
        lines.append(f"grid workers: {grid['fulltime']['today']:,} full-time and {grid['parttime']['today']:,} part-time "
                     f"employed today; {grid['fulltime']['posted']:,} full-time and {grid['parttime']['posted']:,} part-time "
                     f"posted, {grid['fulltime']['pooled']:,} full-time and {grid['parttime']['pooled']:,} part-time in "
                     f"district pools; {released}")
    if "max_moves" in e and e.get("move_limit_source"):
        limit = "none" if e["max_moves"] is None else f"{e['max_moves']:,}"
        lines.append(f"move limit: {limit} ({e['move_limit_source']})")
    fair = (meta.get("equity") or {}).get("fairness")
    if fair:
        unproven = meta.get("status") != "optimal"
        lines.extend(line + (" (not proven: the run stopped before every stage was proven, so a plan as fair may "
                             "cost less)" if unproven and line.startswith("price of fairness") else "")
                     for line in fair.get("lines", []))
    return lines


def _split_text(stage: dict) -> str:
    """'; first a bound from the LP relaxation, 0.762562 (1.0 s), and a plan from its whole sites, 0.762514
    (6.2 s)': each round of allocator.solving.split, a bound and the plan from it, the later ones after 'then'."""
    texts = []
    for part in stage.get("split") or []:
        words = _BOUND_WORDS.get(part["stage"])
        if words is not None and part.get("bound") is not None:
            texts.append(f"a bound {words}, {number(part['bound'])} ({part['seconds']:.1f} s)")
        elif words is None and texts and part.get("value") is not None:
            texts[-1] += f", and a plan from its whole sites, {number(part['value'])} ({part['seconds']:.1f} s)"
    return "; first " + "; then ".join(texts) if texts else ""


_BOUND_WORDS = {LP_PART: "from the LP relaxation", BOUND_PART: "with sites opened in part"}


def _money_lines(money: dict | None) -> list[str]:
    """The plan's money on screen (README, "What the budget pays"), rounded to 10k CNY."""
    if not money:
        return []
    lines = [money["budget_line"]]
    spend = {k: v for k, v in (money.get("spend_10k_cny") or {}).items() if k != "total"}
    if spend:
        words = {"grid_workers": "grid workers", "officers": "officers", "new_sites": "new sites"}
        parts = ", ".join(f"{words.get(k, k)} {v:,.0f}" for k, v in spend.items())
        lines.append(f"spend charged to the budget: {money['spend_10k_cny']['total']:,.0f} ({parts})")
    lines.append(f"committed, not charged: existing sites' running cost {money['committed_sites_10k_cny']:,.0f}")
    return lines
