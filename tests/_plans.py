"""Solved plans for the compare, chart, report and export tests.

The tiny city again, with Chinese district and town names (what district leaders read),
solved by the real models: two enforcement objectives, grid staffing and facilities,
plus one plan of the English-named original (another instance) and one infeasible plan.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from allocator.data.loader import load_instance
from allocator.plans.plan import write_plan
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny"
NAMES = {"Centre": "渝北区", "Outskirts": "巴南区", "Old Town": "龙溪街道", "New Town": "回兴街道", "Hill Village": "木耳镇"}
DISTRICTS = {"D1": "渝北区", "D2": "巴南区"}


def chinese_city(folder: Path) -> Path:
    shutil.copytree(TINY, folder)
    for name in ("districts.csv", "towns.csv"):
        path = folder / name
        text = path.read_text(encoding="utf-8")
        for en, zh in NAMES.items():
            text = text.replace(en, zh)
        path.write_text(text, encoding="utf-8")
    return folder


def solve(city_dir: Path, out: Path, **options) -> Path:
    plan = make_plan(load_instance(city_dir), RunOptions(**options), SolveOptions(progress=False, threads=1))
    return write_plan(plan, out)


def make_plans(root: Path) -> dict[str, Path]:
    """city, maxmin, shortfall, grid, facilities, city_plan, other (another instance), infeasible."""
    city = chinese_city(root / "city")
    return {
        "city": city,
        "maxmin": solve(city, root / "enf-maxmin", model="enforcement", objective="maxmin"),
        "shortfall": solve(city, root / "enf-shortfall", model="enforcement", objective="shortfall"),
        "grid": solve(city, root / "grid-cost", model="grid"),
        "facilities": solve(city, root / "facilities", model="facilities"),
        "city_plan": solve(city, root / "city-plan", model="city"),
        "other": solve(TINY, root / "other-city", model="enforcement"),
        "infeasible": solve(city, root / "infeasible", model="enforcement", headcount=2),
    }


def session_plans(tmp_path_factory) -> dict[str, Path]:
    """make_plans once per test session (the compare, chart, report and export tests share them)."""
    root = tmp_path_factory.getbasetemp() / "people-plans"
    done = root / "done"
    if not done.exists():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        plans = make_plans(root)
        done.write_text("\n".join(f"{k}={v}" for k, v in plans.items()), encoding="utf-8")
    pairs = (line.split("=", 1) for line in done.read_text(encoding="utf-8").splitlines())
    return {key: Path(value) for key, value in pairs}
