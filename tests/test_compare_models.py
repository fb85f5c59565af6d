"""compare refuses plans of different models unless --force; chart --kind coverage takes city plans."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.views.compare import load_plans, unit_metrics
from conftest import TINY


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    out = {}
    for model in ("enforcement", "grid", "city", "facilities"):
        out[model] = root / model
        r = CliRunner().invoke(main, ["solve", str(TINY), "--model", model, "--threads", "1", "--out", str(out[model])])
        assert r.exit_code == 0, r.output
    return out


def test_plans_of_different_models_are_refused_without_force(plans):
    r = CliRunner().invoke(main, ["compare", str(plans["enforcement"]), str(plans["grid"])])
    assert r.exit_code == 2 and "different models (A = enforcement, B = grid)" in r.output and "--force" in r.output


def test_with_force_only_shared_columns_are_compared_and_the_rest_named(plans):
    r = CliRunner().invoke(main, ["compare", str(plans["enforcement"]), str(plans["grid"]), "--force", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "left out" in r.stderr and "enforcement_staff" in r.stderr and "grid_workers" in r.stderr
    assert "enforcement_staff" not in r.stdout and "grid_workers" not in r.stdout


def test_city_plans_carry_coverage_per_district_and_chart_it(plans, tmp_path):
    city = load_plans([plans["city"]], instance=TINY)
    rates = unit_metrics(city.plans[0], "district", city.instance)
    index = city.plans[0].tables["districts"].set_index("district_id")["facilities_coverage"]
    assert rates["cov_all"].to_numpy() == pytest.approx(index.loc[rates.index].to_numpy())
    out = tmp_path / "coverage.png"
    r = CliRunner().invoke(main, ["chart", str(plans["city"]), "--kind", "coverage", "--out", str(out), "--lang", "en"])
    assert r.exit_code == 0 and out.exists(), r.output
