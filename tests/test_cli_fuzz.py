"""Fuzzing the command line: random argument combinations and corrupt files never give a
traceback; the exit code is 0, 2 (bad input) or 3 (infeasible) — 5 only when `check` finds a
plan violated — and a command that fails writes nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from allocator.cli import main
from conftest import TINY

EXAMPLES = int(os.environ.get("ALLOCATOR_FUZZ_EXAMPLES", "60"))      # raise it for a deeper run
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OK, BAD_INPUT, INFEASIBLE = 0, 2, 3


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Instances and plans the fuzzer picks from: valid, infeasible, violated, foreign, broken."""
    root = tmp_path_factory.mktemp("world")
    other = root / "other"
    shutil.copytree(TINY, other)
    text = (other / "city.yaml").read_text(encoding="utf-8").replace("budget: 500", "budget: 600")
    (other / "city.yaml").write_text(text, encoding="utf-8")
    runner = CliRunner()
    paths = {"tiny": TINY, "other": other, "missing": root / "no-such-city", "empty_dir": root / "empty",
             "text_file": root / "notes.txt", "plan": root / "plan", "infeasible_plan": root / "infeasible",
             "violated_plan": root / "violated", "broken_plan": root / "broken", "not_a_plan": root / "not-a-plan"}
    paths["empty_dir"].mkdir()
    paths["text_file"].write_text("not an instance\n", encoding="utf-8")
    assert runner.invoke(main, ["solve", str(TINY), "--model", "enforcement", "--out", str(paths["plan"])]).exit_code == OK
    assert runner.invoke(main, ["solve", str(TINY), "--model", "enforcement", "--headcount", "3",
                                "--out", str(paths["infeasible_plan"])]).exit_code == INFEASIBLE
    shutil.copytree(paths["plan"], paths["violated_plan"])
    staff = paths["violated_plan"] / "town_staff.csv"
    lines = staff.read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[4] = str(int(cells[4]) + 40)                      # enforcement_staff of the first town
    staff.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n", encoding="utf-8")
    shutil.copytree(paths["plan"], paths["broken_plan"])
    (paths["broken_plan"] / "plan.json").write_text('{"model": "enforcement", "status": ', encoding="utf-8")
    paths["not_a_plan"].mkdir()
    (paths["not_a_plan"] / "town_staff.csv").write_text("town_id\nT1\n", encoding="utf-8")
    return paths


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_clean(result, command: str, sandbox: Path, before: set[str]) -> None:
    event(f"{command} exit {result.exit_code}")
    text = result.output
    assert "Traceback" not in text and "internal error" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    allowed = {OK, BAD_INPUT, INFEASIBLE} | ({5} if command == "check" else set())
    assert result.exit_code in allowed, (command, result.exit_code, text)
    if result.exit_code not in (OK, INFEASIBLE):
        assert snapshot(sandbox) == before, f"{command} failed with exit {result.exit_code} but wrote files"


# --- random argument combinations ------------------------------------------------------------

BAD_NUMBERS = ["-5", "0", "1e400", "nan", "inf", "abc", "", "-0.0", "2:1:1", "1,5"]


def value(*good: str):
    """Mostly sensible values, sometimes a broken one."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(BAD_NUMBERS))


MODELS = st.sampled_from(["grid", "enforcement", "facilities", "grid", "enforcement", "facilities", "city", "nope", ""])
INSTANCES = st.sampled_from(["tiny", "tiny", "tiny", "other", "missing", "empty_dir", "text_file", "plan"])
PLANS = st.sampled_from(["plan", "infeasible_plan", "violated_plan", "broken_plan", "not_a_plan", "missing", "text_file"])
OBJECTIVES = st.sampled_from(["cost", "unmet", "maxmin", "shortfall", "moves", "expected", "mclp", "lscp", "pmedian",
                              "pcenter", "cflp", "x"])
SERVICES = st.sampled_from(["health", "education,health", "nosuch", ",", "health,,", "elderly_care"])
SCENARIOS = st.sampled_from(["surge:3", "surge:0", "surge:x", "district-surge", "missing.csv"])
PARAMS = st.sampled_from(["budget=100:300:100", "budget=10:5:1", "budget=1:2:0", "budget=-1", "headcount=3,20",
                          "basis=actual,nowhere", "nosuch=1", "budget", "=3", "p=1:3:0.5", "max_moves=0,2",
                          "services=health+education", "services=nosuch", "objective=maxmin,shortfall"])
SOLVE_OPTIONS = (("--objective", OBJECTIVES), ("--budget", value("250", "500", "72", "10", "1000")),
                 ("--headcount", value("3", "15", "20", "40")),
                 ("--basis", st.sampled_from(["actual", "resident", "registered", "bogus"])),
                 ("--scenarios", SCENARIOS), ("--cvar", value("0.5", "0.9")), ("--cvar-weight", value("0.5", "2")),
                 ("--target", value("0.5", "1", "1.5")), ("--max-moves", value("0", "2", "10")),
                 ("--services", SERVICES), ("--p", value("1", "2", "3")), ("--time-limit", value("5", "20")),
                 ("--gap", value("0.01", "0.5")), ("--threads", value("1")), ("--seed", value("0", "3")))
# --threads is fuzzed with 1 only: within one process HiGHS keeps the thread count of its first solve
# (see test_limits.py::test_thread_count_can_change_within_one_process); each CLI process has one.


@st.composite
def solve_args(draw) -> list[str]:
    args = ["solve", draw(INSTANCES), "--model", draw(MODELS)]
    for option, values in SOLVE_OPTIONS:
        if draw(st.integers(0, 4)) == 0:
            args += [option, draw(values)]
    args += draw(st.sampled_from([[], [], ["--json"], ["--iis"], ["--bogus-flag"]]))
    return args


@st.composite
def other_args(draw) -> list[str]:
    kind = draw(st.sampled_from(["validate", "template", "generate", "check", "sweep", "junk"]))
    if kind == "validate":
        return ["validate", draw(INSTANCES), *draw(st.sampled_from([[], ["--basis", "resident"], ["--basis", "x"]]))]
    if kind == "template":
        return ["template", "OUT" + draw(st.sampled_from([".xlsx", ".csv", "", ".XLSX"]))]
    if kind == "generate":
        return ["generate", "--towns", draw(st.sampled_from(["5", "0", "-3", "x", "100000", "6"])),
                "--seed", draw(st.sampled_from(["0", "-1", "x", "7"])), "--out", "OUT" + draw(st.sampled_from(["", ".xlsx", ".txt"])),
                *draw(st.sampled_from([[], ["--format", "xlsx"], ["--format", "csv"], ["--overwrite"]]))]
    if kind == "check":
        return ["check", draw(PLANS), draw(INSTANCES)]
    if kind == "sweep":
        params = draw(st.lists(PARAMS, min_size=0, max_size=2))
        return ["sweep", draw(INSTANCES), "--model", draw(MODELS), "--workers", "0", "--out", "OUT",
                *[a for p in params for a in ("--param", p)], *draw(st.sampled_from([[], ["--resume"], ["--json"]]))]
    return draw(st.lists(st.sampled_from(["solve", "--model", "grid", "-x", "--", "check", "🙂", ""]), max_size=4))


def _resolve(args: list[str], world: dict[str, Path], sandbox: Path) -> list[str]:
    out = []
    for a in args:
        if a in world:
            out.append(str(world[a]))
        elif a.startswith("OUT"):
            out.append(str(sandbox / ("out" + a[3:])))
        else:
            out.append(a)
    if args and args[0] == "solve" and "--out" not in args:
        out += ["--out", str(sandbox / "plan")]
    return out


@FUZZ
@given(args=st.one_of(solve_args(), other_args()))
def test_random_arguments_never_crash(world, args):
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        before = snapshot(sandbox)
        result = CliRunner().invoke(main, _resolve(args, world, sandbox))
        assert_clean(result, args[0] if args else "", sandbox, before)


# --- corrupt instance files --------------------------------------------------------------------

FILES = ["city.yaml", "districts.csv", "towns.csv", "grids.csv", "sites.csv"]


@st.composite
def corruption(draw):
    file = draw(st.sampled_from(FILES))
    how = draw(st.sampled_from(["truncate", "bytes", "cell", "delete", "empty", "line", "yaml"]))
    return file, how, draw(st.integers(0, 10_000)), draw(st.binary(min_size=1, max_size=40)), draw(
        st.text(min_size=0, max_size=12))


def _corrupt(folder: Path, file: str, how: str, at: int, junk: bytes, text: str) -> None:
    path = folder / file
    data = path.read_bytes()
    at = at % max(1, len(data))
    if how == "truncate":
        path.write_bytes(data[:at])
    elif how == "bytes":
        path.write_bytes(data[:at] + junk + data[at:])
    elif how == "delete":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "line":
        lines = data.split(b"\n")
        lines.insert(at % len(lines), text.encode("utf-8"))
        path.write_bytes(b"\n".join(lines))
    elif how == "yaml":
        (folder / "city.yaml").write_text((folder / "city.yaml").read_text(encoding="utf-8") + f"\n{text}: [{text}\n",
                                          encoding="utf-8")
    else:                                   # one cell of a CSV (or one value of city.yaml) replaced
        lines = data.decode("utf-8").split("\n")
        row = 1 + at % max(1, len(lines) - 2)
        cells = lines[row].split(",") if "," in lines[row] else lines[row].split(":")
        cells[at % len(cells)] = text
        lines[row] = ("," if "," in lines[row] else ":").join(cells)
        path.write_text("\n".join(lines), encoding="utf-8")


@settings(max_examples=max(10, EXAMPLES * 2 // 3), deadline=None)
@given(damage=corruption(), command=st.sampled_from(["validate", "solve-grid", "solve-enforcement", "solve-facilities"]))
def test_corrupt_instances_give_one_clear_message(damage, command):
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        city = sandbox / "city"
        shutil.copytree(TINY, city)
        _corrupt(city, *damage)
        before = snapshot(sandbox)
        if command == "validate":
            args = ["validate", str(city)]
        else:
            args = ["solve", str(city), "--model", command.split("-")[1], "--out", str(sandbox / "plan"), "--time-limit", "10"]
        result = CliRunner().invoke(main, args)
        assert_clean(result, command, sandbox, before)
        if result.exit_code == BAD_INPUT:
            assert result.output.startswith("error: ") or "Error:" in result.output


# --- named cases from the issue, and real processes -------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["solve", "tiny", "--model", "grid", "--budget", "-3"], "must be a positive number"),
    (["solve", "tiny", "--model", "facilities", "--services", "nosuch"], "unknown service(s) nosuch"),
    (["sweep", "tiny", "--model", "grid", "--workers", "0", "--param", "budget=10:5:1"], "the range has no value"),
    (["check", "not_a_plan", "tiny"], "is not a plan folder"),
    (["check", "broken_plan", "tiny"], "is not valid JSON"),
    (["check", "plan", "other"], "the plan was made for instance 'tiny'"),
], ids=["negative-budget", "unknown-service", "empty-range", "not-a-plan", "broken-plan", "foreign-plan"])
def test_bad_parameters_give_one_message_and_exit_2(world, tmp_path, args, message):
    result = CliRunner().invoke(main, _resolve(args, world, tmp_path))
    assert result.exit_code == BAD_INPUT and message in result.output
    assert "Traceback" not in result.output


def test_check_reports_a_violated_plan_with_exit_5(world):
    result = CliRunner().invoke(main, ["check", str(world["violated_plan"]), str(TINY)])
    assert result.exit_code == 5 and "check: FAILED" in result.output and "violation:" in result.output
    assert CliRunner().invoke(main, ["check", str(world["plan"]), str(TINY)]).exit_code == OK
    assert CliRunner().invoke(main, ["check", str(world["infeasible_plan"]), str(TINY)]).exit_code == INFEASIBLE


@pytest.mark.parametrize("case", ["bad-yaml", "missing", "negative-budget", "infeasible"])
def test_real_processes_speak_one_line_and_exit_right(world, tmp_path, case):
    city = tmp_path / "city"
    shutil.copytree(TINY, city)
    args, code = {
        "bad-yaml": (["validate", str(city)], BAD_INPUT),
        "missing": (["solve", str(tmp_path / "nowhere"), "--model", "grid"], BAD_INPUT),
        "negative-budget": (["solve", str(city), "--model", "grid", "--budget", "-1"], BAD_INPUT),
        "infeasible": (["solve", str(city), "--model", "grid", "--budget", "10", "--out", str(tmp_path / "plan")], INFEASIBLE),
    }[case]
    if case == "bad-yaml":
        (city / "city.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "allocator", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    if code == BAD_INPUT:
        assert not (tmp_path / "plan").exists()
    else:
        meta = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
        assert meta["status"] == "infeasible" and "raise the budget" in meta["explanation"]
