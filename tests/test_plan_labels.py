"""Plans are named by what tells them apart: --label, else their folders, else the options that differ."""
from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.views.chart_data import ChartOptions, build_chart
from allocator.views.compare import load_plans
from conftest import TINY


@pytest.fixture(scope="module")
def two_bases(tmp_path_factory):
    """The same enforcement run on two population bases, written to x/plan and y/plan."""
    root = tmp_path_factory.mktemp("labels")
    folders = []
    for sub, basis in (("x", "registered"), ("y", "actual")):
        out = root / sub / "plan"
        r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "enforcement", "--basis", basis, "--threads", "1",
                                      "--out", str(out)])
        assert r.exit_code == 0, r.output
        folders.append(out)
    return folders


def test_same_folder_names_are_told_apart_by_the_option_that_differs(two_bases):
    assert load_plans(two_bases).names == ["basis=registered", "basis=actual"]


def test_different_folder_names_name_the_plans(two_bases, tmp_path):
    renamed = [shutil.copytree(f, tmp_path / name) for f, name in zip(two_bases, ("registered-count", "actual-count"))]
    assert load_plans(renamed).names == ["registered-count", "actual-count"]


def test_identical_plans_fall_back_to_letters(two_bases, tmp_path):
    copy = shutil.copytree(two_bases[0], tmp_path / "z" / "plan")
    assert load_plans([two_bases[0], copy]).names == ["A", "B"]


def test_charts_and_compare_say_which_plan_is_which(two_bases):
    planset = load_plans(two_bases, instance=TINY)
    figure = build_chart("bars", planset, ChartOptions(lang="en"))
    legend = [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend[-2:] == ["basis=registered", "basis=actual"]          # after today's staffing
    r = CliRunner().invoke(main, ["compare", *map(str, two_bases)])
    assert r.exit_code == 0, r.output
    assert f"A = basis=registered ({two_bases[0].name})" in r.output and "B = basis=actual" in r.output


def test_given_labels_name_the_plans_everywhere(two_bases, tmp_path):
    r = CliRunner().invoke(main, ["compare", *map(str, two_bases), "--label", "census", "--label", "actual"])
    assert r.exit_code == 0, r.output
    assert "census = census (plan)" in r.output and "actual-census" in r.output
    out = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["report", *map(str, two_bases), "--label", "census", "--label", "actual", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "census (plan)" in out.read_text(encoding="utf-8")


def test_labels_must_be_one_per_plan_and_different(two_bases):
    for labels in (["one"], ["same", "same"]):
        r = CliRunner().invoke(main, ["compare", *map(str, two_bases), *[w for x in labels for w in ("--label", x)]])
        assert r.exit_code == 2 and "--label" in r.output, r.output
