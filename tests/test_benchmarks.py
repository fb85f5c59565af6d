"""`python -m benchmarks`: a tiny scaling run end to end, the exponent fit, the section options."""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from benchmarks import __main__ as bench  # noqa: E402
from benchmarks import scaling, spopt_compare  # noqa: E402
from benchmarks.scaling import fit_exponent  # noqa: E402


def test_fit_exponent_recovers_a_power_law():
    xs = [50, 500, 2000]
    assert fit_exponent(xs, [3.0 * x ** 1.5 for x in xs]) == pytest.approx(1.5)
    assert fit_exponent([50], [1.0]) is None                     # one size: nothing to fit
    assert fit_exponent([50, 500], [0.0, 2.0]) is None           # a zero cannot be on log-log


def test_a_tiny_scaling_run_prints_the_table_and_writes_csvs(tmp_path, capsys):
    bench.main(["--only", "scaling", "--sizes", "8,16", "--models", "enforcement,facilities", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "growth exponents" in text and "enforcement" in text and "facilities" in text
    with open(tmp_path / "scaling.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["towns"], r["model"]) for r in rows] == [("8", "enforcement"), ("8", "facilities"),
                                                         ("16", "enforcement"), ("16", "facilities")]
    assert all(r["status"] == "optimal" and float(r["total_s"]) > 0 and int(r["nonzeros"]) > 0 for r in rows)
    with open(tmp_path / "fits.csv", newline="") as f:
        fits = {(r["model"], r["quantity"], r["against"]): r["exponent"] for r in csv.DictReader(f)}
    assert math.isfinite(float(fits[("facilities", "total_s", "towns")]))


def test_unknown_sections_are_refused():
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "scaling,everything"])


def _row(total_s: float, solve_s: float) -> scaling.ScalingRow:
    return scaling.ScalingRow(2000, "facilities", "mclp", "optimal", 0.0, 0.0, solve_s, 0.0, total_s, 1.0, 0.0,
                              (total_s - solve_s) / total_s, 1.0, 1, 1, 1, 1, 1, 1)


def test_overhead_is_a_share_only_where_highs_worked_a_second():
    """A share of a run HiGHS barely touched says nothing: below 1 s of HiGHS the overhead is given
    in seconds, and runs above 2 s outside HiGHS are named."""
    busy, quick, slow = _row(10.0, 8.0), _row(1.6, 0.06), _row(3.5, 0.2)
    assert scaling.overhead_text(busy) == "20.0%"
    assert scaling.overhead_text(quick) == "1.54s"
    assert scaling.overhead_text(slow) == "3.30s!"
    text = scaling.format_overheads([busy, quick, slow])
    assert "2000 towns facilities, 3.30 s" in text and "1.54" not in text
    assert "every run within the target" in scaling.format_overheads([busy, quick])
    assert spopt_compare.outside_text(0.3, 0.1) == "0.20s" and spopt_compare.outside_text(4.0, 3.0) == "25%"


def test_dense_cases_reach_a_fifth_to_two_fifths_of_the_demand():
    """The dense comparison cases: every point a site, each reaching 20-40 % of the points on average,
    the same instance for the same n (seeded)."""
    cases = spopt_compare.dense_cases([300], ["mclp", "lscp", "pmedian"])
    assert [c.model for c in cases] == ["mclp", "lscp", "pmedian"]
    mclp = cases[0]
    assert mclp.dist.shape == (300, 300) and np.all(np.diag(mclp.dist) == 0)
    share = mclp.reach.sum(axis=0).mean() / 300
    assert 0.2 <= share <= 0.4
    assert mclp.reach.sum(axis=0).max() / 300 > 0.4            # dense districts: some sites reach far more
    again = spopt_compare.dense_cases([300], ["mclp"])[0]
    assert np.array_equal(again.dist, mclp.dist) and again.radius == mclp.radius
