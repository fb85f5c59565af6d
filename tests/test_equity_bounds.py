"""An equity measure held as a bound next to another objective (`solve --model city --equity-bound`):
the bound holds in the plan as recomputed from its tables, it costs efficiency, the checker rejects
a plan that breaks it, an impossible bound is explained with the change that makes a plan possible,
and bad bounds are refused."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from allocator import metrics
from allocator.plans.checks import check_plan
from allocator.data.loader import load_instance
from allocator.plans.plan import read_plan
from allocator.cli import main
from conftest import TINY

TOL = 1e-6


def solve(tiny_dir, out, *args):
    return CliRunner().invoke(main, ["solve", str(tiny_dir), "--model", "city", "--objective", "utilitarian",
                                     "--gap", "0", "--threads", "1", "--out", str(out), "--json", *args])


def levels(folder):
    """Service index and population weights of the districts, from the plan's tables and the city."""
    d = read_plan(folder).tables["districts"]
    city = load_instance(read_plan(folder).meta["instance_source"])
    people = city.towns.assign(p=city.town_population().to_numpy(float)).groupby("district_id")["p"].sum()
    w = people.reindex(d["district_id"].astype(str)).to_numpy(float)
    return d["service_index"].to_numpy(float), w / w.sum()


@pytest.fixture(scope="module")
def free(tmp_path_factory):
    out = tmp_path_factory.mktemp("free") / "plan"
    r = solve(TINY, out)
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("measure", ["gini", "maxmin", "range"])
def test_bound_holds_and_costs_efficiency(tiny_dir, free, tmp_path, measure):
    x, w = levels(free)
    value = {"gini": metrics.gini(x, w), "maxmin": x.min(), "range": x.max() - x.min()}[measure]
    bound = value * (1.02 if measure == "maxmin" else 0.5)             # tighter than the free plan
    r = solve(tiny_dir, tmp_path / "p", "--equity-bound", f"{measure}={bound}")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output.strip().splitlines()[-1])
    assert payload["status"] == "optimal" and payload["check_passed"] is True
    y, w = levels(tmp_path / "p")
    held = {"gini": metrics.gini(y, w), "maxmin": y.min(), "range": y.max() - y.min()}[measure]
    assert (held >= bound - TOL) if measure == "maxmin" else (held <= bound + TOL)
    assert metrics.utilitarian(y, w) <= metrics.utilitarian(x, w) + TOL
    assert read_plan(tmp_path / "p").meta["options"]["equity_bounds"] == [[measure, bound]]


def test_checker_rejects_a_plan_that_breaks_its_bound(tiny_dir, free):
    plan = read_plan(free)
    x, w = levels(free)
    city = load_instance(tiny_dir)
    assert check_plan(plan, city).passed
    plan.meta["options"]["equity_bounds"] = [["gini", 0.5 * metrics.gini(x, w)]]
    report = check_plan(plan, city)
    assert not report.passed and any("--equity-bound gini" in v for v in report.violations)


def test_impossible_bound_is_explained_and_the_stated_change_works(tiny_dir, tmp_path):
    r = solve(tiny_dir, tmp_path / "no", "--equity-bound", "maxmin=0.99")
    assert r.exit_code == 3, r.output
    meta = json.loads((tmp_path / "no" / "plan.json").read_text(encoding="utf-8"))
    assert meta["status"] == "infeasible" and "--equity-bound maxmin" in meta["explanation"]
    target = float(re.search(r"lower --equity-bound maxmin to ([0-9]+(?:\.[0-9]+)?)", meta["explanation"]).group(1))
    assert 0 < target < 0.99
    r = solve(tiny_dir, tmp_path / "yes", "--equity-bound", f"maxmin={target}")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("args", [
    ["--equity-bound", "alpha=0.5"],
    ["--equity-bound", "envy=0.1"],
    ["--equity-bound", "gini"],
    ["--equity-bound", "gini=-0.1"],
    ["--equity-bound", "gini=nan"],
    ["--equity-bound", "gini=0.1", "--equity-bound", "gini=0.2"],
])
def test_bad_bounds_exit_2_and_write_nothing(tiny_dir, tmp_path, args):
    r = solve(tiny_dir, tmp_path / "x", *args)
    assert r.exit_code == 2 and "--equity-bound" in r.output, r.output
    assert not (tmp_path / "x").exists()


def test_only_the_city_model_holds_bounds(tiny_dir, tmp_path):
    r = CliRunner().invoke(main, ["solve", str(tiny_dir), "--model", "enforcement", "--equity-bound", "gini=0.1",
                                  "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "frontier" in r.output, r.output
    assert not (tmp_path / "x").exists()
