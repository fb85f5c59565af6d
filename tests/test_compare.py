"""allocator compare: plans side by side, exact in CSV/JSON/xlsx, readable in 80 columns."""
from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import cli
from _plans import DISTRICTS, session_plans
from allocator.views.compare import compare, load_plans, unit_metrics
from allocator.views.compare_text import fit, fmt_delta, text_width
from allocator.data.loader import load_instance
from allocator.metrics import equity_table
from allocator.plans.levels import plan_levels
from allocator.plans.plan import read_plan


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    return session_plans(tmp_path_factory)


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def test_terminal_table_fits_80_columns_with_chinese_names_and_deltas(plans):
    result = invoke("compare", plans["maxmin"], plans["shortfall"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(text_width(line) for line in lines) <= 80
    assert "渝北区" in result.stdout and "巴南区" in result.stdout
    assert "B-A" in result.stdout and "Gini" in result.stdout and "population" in result.stdout


def test_many_plans_are_paged_not_cut(plans):
    five = [plans[k] for k in ("maxmin", "shortfall", "maxmin", "shortfall", "maxmin")]
    result = invoke("compare", *five, "--lang", "zh")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(text_width(line) for line in lines) <= 80
    assert sum(line.startswith("方案") for line in lines) >= 2          # head block paged
    assert "E-A" in result.stdout                                       # every delta column is there


def test_csv_is_for_people_and_deltas_are_against_the_first_plan(plans, tmp_path):
    """Rounded to each metric's unit (persons whole, money to 0.1, ratios to 4 decimals); --json keeps
    full precision."""
    out = tmp_path / "cmp.csv"
    result = invoke("compare", plans["maxmin"], plans["shortfall"], "--out", out)
    assert result.exit_code == 0 and f"wrote {out}" in result.output
    table = pd.read_csv(out, dtype={"district_id": str}).set_index("district_id")
    a = read_plan(plans["maxmin"]).table("districts").set_index("district_id")
    b = read_plan(plans["shortfall"]).table("districts").set_index("district_id")
    assert table["spend [A]"].to_dict() == a["spend"].round(1).to_dict()
    assert table["spend [B-A]"].to_dict() == (b["spend"] - a["spend"]).round(1).to_dict()
    town = read_plan(plans["maxmin"]).table("town_staff")
    t1 = town[town["district_id"] == "D1"]
    expected = (t1["enforcement_staff"] + t1["pool_share"]).sum() / t1["enforcement_demand"].sum()
    assert table.loc["D1", "enforcement_coverage [A]"] == round(expected, 4)
    assert all(len(str(v).split(".")[-1]) <= 4 for v in table.select_dtypes(float).to_numpy().ravel())
    assert table.loc["D1", "name"] == DISTRICTS["D1"]


def test_json_output(plans):
    result = invoke("compare", plans["maxmin"], plans["shortfall"], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["label"] for p in data["plans"]] == ["A", "B"]
    assert data["plans"][0]["objective"] == "maxmin" and data["plans"][0]["weights"] == "population"
    d1 = next(u for u in data["units"] if u["id"] == "D1")
    spend = d1["values"]["spend"]
    assert d1["deltas"]["spend"]["B"] == pytest.approx(spend["B"] - spend["A"])


def test_xlsx_has_bilingual_headers_and_exact_values(plans, tmp_path):
    out = tmp_path / "cmp.xlsx"
    result = invoke("compare", plans["maxmin"], plans["shortfall"], "--format", "xlsx", "--out", out)
    assert result.exit_code == 0 and f"wrote {out}" in result.output
    book = openpyxl.load_workbook(out)
    assert {"summary", "by_district", "long"} <= set(book.sheetnames)
    sheet = book["by_district"]
    header = [c.value for c in sheet[1]]
    assert "district_id / 区县编号" in header and "spend (10k CNY/yr) / 支出（万元/年） [B-A]" in header
    frame = pd.read_excel(out, sheet_name="by_district", dtype={"district_id / 区县编号": str})
    a = read_plan(plans["maxmin"]).table("districts")
    assert frame["spend (10k CNY/yr) / 支出（万元/年） [A]"].tolist() == a["spend"].tolist()


def test_plans_of_different_instances_are_refused_unless_forced(plans, tmp_path):
    out = tmp_path / "never.csv"
    result = invoke("compare", plans["maxmin"], plans["other"], "--out", out)
    assert result.exit_code == 2
    assert "different instances" in result.output and "--force" in result.output
    assert "Traceback" not in result.output and not out.exists()
    forced = invoke("compare", plans["maxmin"], plans["other"], "--force")
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize("args, words", [
    (["compare", "{city}"], "is not a plan folder"),
    (["compare", "{maxmin}", "--format", "xlsx"], "--out"),
    (["compare", "{maxmin}", "--out", "{tmp}/missing/dir/x.csv"], "does not exist"),
    (["compare", "{maxmin}", "--format", "csv", "--out", "{tmp}/x.xlsx"], ".csv"),
    (["compare", "{maxmin}", "--by", "grid"], "Invalid value"),
])
def test_bad_input_is_one_message_and_exit_2(plans, tmp_path, args, words):
    values = {**{k: str(v) for k, v in plans.items()}, "tmp": str(tmp_path)}
    result = invoke(*[a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def test_by_town_uses_town_names_and_instance(plans):
    result = invoke("compare", plans["facilities"], plans["facilities"], "--by", "town")
    assert result.exit_code == 0, result.output
    assert "龙溪街道" in result.stdout and "cov_all" in result.stdout


def test_infeasible_plan_is_shown_not_fatal(plans):
    result = invoke("compare", plans["maxmin"], plans["infeasible"])
    assert result.exit_code == 0, result.output
    assert "infeasible" in result.stdout


def test_equity_is_allocator_metrics_on_population_weights(plans):
    planset = load_plans([plans["shortfall"]])
    city = load_instance(plans["city"])
    head = compare(planset).head.loc["A"]
    levels = plan_levels(read_plan(plans["shortfall"]), city, "district")
    expected = equity_table(levels["enforcement"], levels["weight"])
    for key in ("gini", "theil", "mean", "min", "jain"):
        assert head[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15)


def test_unit_metrics_cover_every_model(plans):
    grid = unit_metrics(read_plan(plans["grid"]))
    assert {"fulltime", "grid_workers", "grid_coverage", "spend"} <= set(grid.columns)
    facilities = unit_metrics(read_plan(plans["facilities"]))
    assert {"sites_open", "new_sites", "cov_all"} <= set(facilities.columns)
    assert (facilities["cov_all"].between(0, 1)).all()
    city = unit_metrics(read_plan(plans["city_plan"]))
    assert {"transfer", "service_index", "enforcement_coverage", "grid_coverage", "sites_open"} <= set(city.columns)


def test_city_plan_is_judged_by_its_service_index(plans):
    head = compare(load_plans([plans["city_plan"], plans["maxmin"]])).head
    assert head.loc["A", "level"] == "service_index" and head.loc["A", "weights"] == "population"
    assert head.loc["B", "level"] == "enforcement_coverage"


def test_display_width_and_numbers():
    assert text_width("渝北区") == 6 and text_width("D1") == 2
    assert text_width(fit("秀山土家族苗族自治县", 9)) <= 9
    assert fmt_delta(34, 283, "count") == "+34 (+12%)"
    assert fmt_delta(0.22, 0.71, "ratio") == "+0.220"
    assert fmt_delta(0.0, 5, "count") == "0"
