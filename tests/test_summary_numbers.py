"""The summary line reads as figures for people: no exponents, noise gaps shown as 0 %."""
from __future__ import annotations

import json
import re

from click.testing import CliRunner

from allocator.cli import main
from conftest import TINY


def test_large_objectives_are_whole_units_with_separators(tmp_path):
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "facilities", "--objective", "pmedian", "--out", str(out)])
    assert r.exit_code == 0, r.output
    value = json.loads((out / "plan.json").read_text(encoding="utf-8"))["objective_value"]
    assert value > 1e6
    line = next(x for x in r.output.splitlines() if x.startswith("facilities / pmedian"))
    assert f"objective {value:,.0f}," in line and not re.search(r"\de[+-]\d", line), line
    assert "gap 0%" in line


def test_an_infeasible_run_says_why_once(tmp_path):
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "facilities", "--budget", "100", "--out", str(tmp_path / "p")])
    assert r.exit_code == 3
    why = "does not pay today's grid workers and officers"
    assert r.stderr.count(why) == 1 and why not in r.stdout


def test_float_noise_reads_zero():
    from allocator.views.summary import number as _number
    from allocator.views.compare_text import fmt_value

    assert _number(-6.582e-17) == "0" and fmt_value(-6.582e-17) == "0" and fmt_value(-6.582e-17, "ratio") == "0.000"
    assert _number(0.7902) == "0.7902" and fmt_value(1.5e-3) == "0.0015"
