"""Roadmaps in chart, compare and report: each view shows the years of roadmap.csv and districts.csv
as they are, and a single-year view never mixes a roadmap's years."""
from __future__ import annotations

import html
import json
import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from allocator.views import fonts
from allocator.views.chart_data import ChartOptions, build_chart, roadmap_data
from allocator.views.compare import load_plans
from conftest import invoke, refused

needs_cjk = pytest.mark.skipif(fonts.cjk_font() is None and not os.environ.get("CI"),
                               reason="no CJK font installed (apt-get install fonts-noto-cjk; required with CI=true)")
YEARS = [2026, 2027, 2028]
KINDS = ("fulltime", "parttime", "professional", "officers")


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """A small generated city, two roadmaps over 2026–2028 (utilitarian, maxmin) and a city plan of one year."""
    root = tmp_path_factory.mktemp("roadmaps")
    city = root / "city"
    assert invoke("generate", "--towns", 8, "--seed", 2, "--out", city).exit_code == 0
    out = {}
    for name, args in (("a", ["--model", "roadmap", "--years", "2026:2028"]),
                       ("b", ["--model", "roadmap", "--years", "2026:2028", "--objective", "maxmin"]),
                       ("single", ["--model", "city"])):
        result = invoke("solve", city, *args, "--threads", 1, "--out", root / name)
        assert result.exit_code == 0, result.output
        out[name] = root / name
    return out


def roadmap_csv(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "roadmap.csv").set_index("year")


def hires(table: pd.DataFrame) -> pd.Series:
    return sum(table[f"hires_{k}"] for k in KINDS)


# ---------------------------------------------------------------- chart

def test_chart_data_are_the_roadmap_table(plans):
    data = roadmap_data(load_plans([plans["a"]]))
    table = roadmap_csv(plans["a"])
    assert list(data.index) == YEARS == list(table.index)
    for column in [f"hires_{k}" for k in KINDS] + ["sites_opened", "mean_index", "lowest_index"]:
        np.testing.assert_allclose(data[column].to_numpy(float), table[column].to_numpy(float), rtol=0, atol=1e-12)


def test_chart_draws_hires_sites_and_index_of_each_year(plans):
    fig = build_chart("roadmap", load_plans([plans["a"]]), ChartOptions(lang="en"))
    assert isinstance(fig, Figure)
    table = roadmap_csv(plans["a"])
    top, middle, bottom = fig.axes[:3]
    stacked = {}
    for bar in top.patches:                                   # stacked bars: one segment per kind and year
        x = round(bar.get_x() + bar.get_width() / 2)
        stacked[x] = stacked.get(x, 0.0) + bar.get_height()
    np.testing.assert_allclose([stacked[i] for i in range(3)], hires(table).to_numpy(float))
    assert len(top.patches) == 3 * len(KINDS)
    np.testing.assert_allclose([b.get_height() for b in middle.patches], table["sites_opened"].to_numpy(float))
    lines = {line.get_label(): line.get_ydata() for line in bottom.get_lines()}
    np.testing.assert_allclose(lines["mean (population-weighted)"], table["mean_index"].to_numpy(float))
    np.testing.assert_allclose(lines["lowest district"], table["lowest_index"].to_numpy(float))
    assert [t.get_text() for t in bottom.get_xticklabels()] == [str(y) for y in YEARS]
    words = [t.get_text() for t in top.texts] + [t.get_text() for t in bottom.texts]
    assert [f"{v:,.0f}" for v in hires(table)] == words[:3]              # totals in whole persons
    assert f"{table.at[2027, 'lowest_index']:.3f}" in words                # the index to three decimals
    assert "2026–2028" in fig._suptitle.get_text()


def test_cli_chart_roadmap_writes_an_image(plans, tmp_path):
    out = tmp_path / "roadmap.png"
    result = invoke("chart", plans["a"], "--kind", "roadmap", "--lang", "en", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000


@needs_cjk
def test_chart_roadmap_in_chinese_without_missing_glyphs(plans, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = build_chart("roadmap", load_plans([plans["a"]]), ChartOptions(lang="zh"))
        fig.savefig(tmp_path / "roadmap.png")
    words = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    for word in ("多年规划", "各年新增人员", "专职网格员", "执法人员", "各年新开设施", "最低区县", "年份"):
        assert word in words, word
    assert not [w for w in caught if "missing" in str(w.message).lower()], [str(w.message) for w in caught]


@pytest.mark.parametrize("kind", ["bars", "lorenz", "map", "coverage", "tradeoff"])
def test_single_year_charts_refuse_a_roadmap(plans, tmp_path, kind):
    out = tmp_path / "x.png"
    refused(invoke("chart", plans["a"], "--kind", kind, "--out", out), "is a roadmap over the years 2026–2028",
            "--kind roadmap")
    assert not out.exists()


def test_roadmap_chart_refuses_a_plan_of_one_year_and_two_roadmaps(plans, tmp_path):
    out = tmp_path / "x.png"
    refused(invoke("chart", plans["single"], "--kind", "roadmap", "--out", out), "city plan of one year, not a roadmap")
    refused(invoke("chart", plans["a"], plans["b"], "--kind", "roadmap", "--out", out), "draws one roadmap, not 2")
    assert not out.exists()


# ---------------------------------------------------------------- compare

def test_compare_json_is_year_by_year_with_differences(plans):
    result = invoke("compare", plans["a"], plans["b"], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    a, b = roadmap_csv(plans["a"]), roadmap_csv(plans["b"])
    a["hires"], b["hires"] = hires(a), hires(b)
    assert [y["year"] for y in data["years"]] == YEARS
    assert [p["objective"] for p in data["plans"]] == ["utilitarian", "maxmin"]
    for row in data["years"]:
        y = row["year"]
        for metric in ("spend", "hires", "sites_opened", "mean_index", "lowest_index"):
            assert row["values"][metric]["A"] == pytest.approx(a.at[y, metric], abs=1e-12)
            assert row["values"][metric]["B"] == pytest.approx(b.at[y, metric], abs=1e-12)
            assert row["deltas"][metric]["B"] == pytest.approx(b.at[y, metric] - a.at[y, metric], abs=1e-9)


def test_compare_csv_rows_per_year_rounded_to_their_unit(plans):
    result = invoke("compare", plans["a"], plans["b"], "--format", "csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(pd.io.common.StringIO(result.stdout)).set_index("year")
    a, b = roadmap_csv(plans["a"]), roadmap_csv(plans["b"])
    assert list(table.index) == YEARS
    np.testing.assert_allclose(table["spend [B-A]"], (b["spend"] - a["spend"]).round(1), atol=1e-9)
    np.testing.assert_allclose(table["hires [A]"], hires(a))
    np.testing.assert_allclose(table["sites_opened [B-A]"], b["sites_opened"] - a["sites_opened"])
    np.testing.assert_allclose(table["lowest_index [B-A]"], (b["lowest_index"] - a["lowest_index"]).round(4), atol=1e-9)
    np.testing.assert_allclose(table["mean_index [B]"], b["mean_index"].round(4), atol=1e-9)


def test_compare_table_and_workbook_have_a_row_per_year(plans, tmp_path):
    result = invoke("compare", plans["a"], plans["b"])
    assert result.exit_code == 0, result.output
    a = roadmap_csv(plans["a"])
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for year in YEARS:
        row = next(line for line in lines if line.startswith(str(year)))
        assert f"{a.at[year, 'spend']:,.0f}" in row                        # spend [A], first page
    out = tmp_path / "years.xlsx"
    assert invoke("compare", plans["a"], plans["b"], "--out", out).exit_code == 0
    sheet = pd.read_excel(out, sheet_name="by_year")
    assert list(sheet.iloc[:, 0]) == YEARS


def test_compare_refuses_a_roadmap_beside_a_plan_of_one_year(plans, tmp_path):
    refused(invoke("compare", plans["a"], plans["single"]), "is a city plan of one year", "a roadmap over the years 2026–2028")
    refused(invoke("compare", plans["single"], plans["a"], "--force"), "is a city plan of one year")
    refused(invoke("compare", plans["a"], plans["b"], "--by", "town"), "--by town does not apply")
    out = tmp_path / "x.csv"
    refused(invoke("compare", plans["a"], plans["single"], "--out", out), "plan of one year")
    assert not out.exists()


# ---------------------------------------------------------------- report

def section(page: str, year: int) -> str:
    found = re.search(rf'<section class="year" id="year-{year}">([\s\S]*?)</section>', page)
    assert found, year
    return found.group(1)


def cells(fragment: str) -> dict[str, list[str]]:
    """Each table row's header cell → its data cells."""
    rows = {}
    for row in re.findall(r"<tr>([\s\S]*?)</tr>", fragment):
        head = re.search(r"<th>(.*?)</th>", row)
        if head:
            rows[html.unescape(head.group(1))] = [html.unescape(c) for c in re.findall(r'<td class="num">(.*?)</td>', row)]
    return rows


def money(v: float) -> str:
    return f"{v:,.0f}" if v == round(v) or abs(v) >= 100 else f"{v:,.1f}"


@pytest.fixture(scope="module")
def report(plans, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "roadmap.html"
    result = invoke("report", plans["a"], "--lang", "en", "--out", out)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_report_has_one_section_per_year_with_that_years_figures(report, plans):
    table = roadmap_csv(plans["a"])
    assert re.findall(r'<section class="year" id="year-(\d+)">', report) == [str(y) for y in YEARS]
    for year in YEARS:
        figures = cells(section(report, year).split("<h3>")[1])
        assert figures["spend (10k CNY/yr)"] == [money(table.at[year, "spend"])]
        assert figures["budget (10k CNY/yr)"] == [money(table.at[year, "budget"])]
        assert figures["officers hired"] == [f"{table.at[year, 'hires_officers']:,.0f}"]
        assert figures["full-time grid workers hired"] == [f"{table.at[year, 'hires_fulltime']:,.0f}"]
        assert figures["sites opened"] == [f"{table.at[year, 'sites_opened']:,.0f}"]
        assert figures["mean district service index (population-weighted)"] == [f"{table.at[year, 'mean_index']:.3f}"]
        assert figures["lowest district service index"] == [f"{table.at[year, 'lowest_index']:.3f}"]


def test_report_year_sections_hold_that_years_districts(report, plans):
    districts = pd.read_csv(plans["a"] / "districts.csv")
    for year in YEARS:
        rows = cells(section(report, year).split("<h3>")[2])
        own = districts[districts["year"] == year]
        assert set(rows) - {"district"} == set(own["name"])
        header = re.findall(r"<th>(.*?)</th>", section(report, year).split("<h3>")[2])
        spend, index, officers = (header.index(h) - 1 for h in ("spend (10k CNY/yr)", "district service index",
                                                                "enforcement staff posted"))
        for _, d in own.iterrows():
            assert rows[d["name"]][spend] == money(d["spend"])
            assert rows[d["name"]][index] == f"{d['service_index']:.3f}"
            assert rows[d["name"]][officers] == f"{d['enforcement_staff']:,.0f}"


def test_report_summary_is_roadmap_csv_with_its_chart(report, plans):
    table = roadmap_csv(plans["a"])
    summary = report.split('<table class="roadmap">')[1].split("</table>")[0]
    assert re.findall(r"<th>(\d{4})</th>", summary) == [str(y) for y in YEARS]
    rows = cells(summary)
    assert rows["spend (10k CNY/yr)"] == [money(v) for v in table["spend"]]
    assert rows["officers employed"] == [f"{v:,.0f}" for v in table["employed_officers"]]
    assert rows["lowest district service index"] == [f"{v:.3f}" for v in table["lowest_index"]]
    chart = re.search(r"<svg[\s\S]*?</svg>", report.split('<table class="roadmap">')[1]).group(0)
    for word in ("Hires per year", "Sites opened per year", "2027"):
        assert word in chart, word
    assert "equity" not in report.lower().split("solver status")[0]    # no district comparison mixing the years


@needs_cjk
def test_report_in_chinese(plans, tmp_path):
    out = tmp_path / "zh.html"
    result = invoke("report", plans["a"], "--out", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    for words in ("逐年概览", "年度 2027", "本年主要数字", "新招执法人员", "区县服务指数", "各年新增人员"):
        assert words in page, words


def test_report_refuses_mixed_plans_and_two_roadmaps(plans, tmp_path):
    out = tmp_path / "x.html"
    refused(invoke("report", plans["a"], plans["single"], "--out", out), "is a city plan of one year", "report a roadmap alone")
    refused(invoke("report", plans["a"], plans["b"], "--out", out), "one roadmap, not 2")
    assert not out.exists()


# ---------------------------------------------------------------- export

def test_export_workbook_holds_the_roadmap_and_every_year(plans, tmp_path):
    out = tmp_path / "a.xlsx"
    result = invoke("export", plans["a"], out)
    assert result.exit_code == 0, result.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets)[:2] == ["summary", "roadmap"]
    table = sheets["roadmap"]
    assert table.iloc[:, 0].tolist() == YEARS
    want = roadmap_csv(plans["a"])
    spend = next(c for c in table.columns if c.startswith("spend"))
    assert np.allclose(table[spend].to_numpy(float), want["spend"].to_numpy(float), atol=0.5)
    districts = sheets["districts"]
    assert sorted(set(districts.iloc[:, 0])) == YEARS


def test_gis_export_refuses_a_roadmap(plans, tmp_path):
    out = tmp_path / "a.gpkg"
    city = plans["a"].parent / "city"
    result = invoke("export", plans["a"], out, "--instance", city)
    if "pip install 'allocator[gis]'" in result.output:          # without the gis extra the export says so first
        refused(result, "allocator[gis]")
    else:
        refused(result, "is a roadmap", ".xlsx")
    assert not out.exists()
