"""`python -m benchmarks`: a tiny scaling run end to end, the exponent fit, the section options."""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from benchmarks import __main__ as bench  # noqa: E402
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
