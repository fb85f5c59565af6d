"""allocator export: a plan as one workbook, headers in English and Chinese, values exact."""
from __future__ import annotations

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator import cli
from _plans import session_plans
from allocator.plans.plan import ID_COLUMNS, read_plan
from allocator.views.compare_text import for_people


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    return session_plans(tmp_path_factory)


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


@pytest.mark.parametrize("key", ["maxmin", "grid", "facilities"])
def test_every_table_is_a_sheet_with_bilingual_headers_and_values_for_people(plans, tmp_path, key):
    """Each table's values as the plan holds them, rounded to their unit (persons whole, money to 0.1,
    shares to 4 decimals): no cell reads 978.9842000000001."""
    out = tmp_path / "plan.xlsx"
    result = invoke("export", plans[key], out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    plan = read_plan(plans[key])
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[0] == "summary" and "by_district" in book.sheetnames
    assert set(plan.tables) <= set(book.sheetnames)
    for name, table in plan.tables.items():
        header = [c.value for c in book[name][1]]
        assert len(header) == table.shape[1]
        assert all(h.startswith(f"{c} / ") or h == c for h, c in zip(header, table.columns))
        sheet = pd.read_excel(out, sheet_name=name, dtype={h: str for h, c in zip(header, table.columns) if c in ID_COLUMNS})
        sheet.columns = list(table.columns)
        rounded = for_people(table, unknown=4)
        for column in table.columns:
            if pd.api.types.is_numeric_dtype(table[column]):
                assert sheet[column].fillna(-1).tolist() == pytest.approx(rounded[column].astype(float).fillna(-1).tolist(),
                                                                          abs=1e-12), (name, column)
                if pd.api.types.is_float_dtype(table[column]):
                    assert all(len(repr(float(v)).split(".")[-1]) <= 4 for v in sheet[column].dropna()), (name, column)
    assert "town_id / 街镇编号" in [c.value for c in book["town_staff"][1]] if "town_staff" in plan.tables else True


def test_summary_says_what_the_solver_said(plans, tmp_path):
    out = tmp_path / "plan.xlsx"
    assert invoke("export", plans["shortfall"], out).exit_code == 0
    summary = pd.read_excel(out, sheet_name="summary")
    rows = dict(zip(summary.iloc[:, 0], summary.iloc[:, 1]))
    assert rows["status / 求解状态"] == "optimal" and rows["objective / 目标"] == "shortfall"
    assert rows["weights / 权重"] == "population / 人口"
    assert 0 <= float(rows["Gini / 基尼系数"]) < 1


@pytest.mark.parametrize("target, words", [("plan.csv", ".xlsx"), ("no/such/plan.xlsx", "does not exist")])
def test_bad_output_writes_nothing(plans, tmp_path, target, words):
    result = invoke("export", plans["maxmin"], tmp_path / target)
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def test_not_a_plan_folder(plans, tmp_path):
    result = invoke("export", plans["city"], tmp_path / "x.xlsx")
    assert result.exit_code == 2 and "is not a plan folder" in result.output
    assert not any(tmp_path.iterdir())


def test_infeasible_plan_exports_its_summary(plans, tmp_path):
    out = tmp_path / "x.xlsx"
    assert invoke("export", plans["infeasible"], out).exit_code == 0
    assert openpyxl.load_workbook(out).sheetnames == ["summary"]
