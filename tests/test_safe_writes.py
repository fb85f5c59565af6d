"""Writes replace only what allocator wrote: a user's files are never deleted, a plan or instance
folder is replaced only with --overwrite and only when it holds nothing else, outputs are
checked before any solve, leftovers of killed runs are cleaned, concurrent writers of one
target end with one complete plan, and folder names made from data stay one path component."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import allocator.plans.make as make
from allocator import cli
from allocator.errors import InputError
from allocator.plans.plan import Plan, read_plan, write_plan

ROOT = Path(__file__).resolve().parents[1]
GRID = ("--model", "grid", "--threads", "1")


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_complete_plan(folder: Path, tiny_dir: Path) -> None:
    """A plan folder that reads back and that the independent checker passes."""
    plan = read_plan(folder)
    assert plan.meta["status"] == "optimal" and plan.tables
    result = invoke("check", folder, tiny_dir)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    """One grid plan of the tiny city, copied by the tests that change it."""
    out = tmp_path_factory.mktemp("solved") / "plan"
    result = invoke("solve", ROOT / "tests" / "data" / "tiny", *GRID, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def copy_plan(solved: Path, target: Path) -> Path:
    """A byte-for-byte copy of a plan folder (its manifest included), as if solved there."""
    target.mkdir(parents=True)
    for path in solved.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


# --- a folder the user owns ---------------------------------------------------------------------

@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_holding_a_users_files_and_a_plan_json_is_refused_untouched(tiny_dir, tmp_path, overwrite):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('mine')\n")
    (project / "thesis.tex").write_text("\\documentclass{article}\n")
    (project / "plan.json").write_text(json.dumps({"model": "grid", "status": "optimal"}))
    before = snapshot(project)
    result = invoke("solve", tiny_dir, *GRID, "--out", project, *overwrite)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "holds no plan allocator wrote" in result.output
    assert snapshot(project) == before


def test_re_solving_into_a_plan_folder_needs_overwrite(tiny_dir, tmp_path, solved):
    out = copy_plan(solved, tmp_path / "plan")
    before = snapshot(out)
    result = invoke("solve", tiny_dir, *GRID, "--out", out)
    assert result.exit_code == 2 and "--overwrite" in result.output, result.output
    assert snapshot(out) == before
    result = invoke("solve", tiny_dir, *GRID, "--out", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert snapshot(out)["plan.json"] != before["plan.json"]          # a new run (its own time stamps)
    assert_complete_plan(out, tiny_dir)
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]           # nothing left beside it


@pytest.mark.parametrize("change", ["notes", "attachment_folder", "edited_table"])
def test_a_plan_folder_with_the_users_notes_or_edits_is_refused_even_with_overwrite(tiny_dir, tmp_path, solved, change):
    out = copy_plan(solved, tmp_path / "plan")
    if change == "notes":
        (out / "notes.txt").write_text("ask the district about T2\n")
    elif change == "attachment_folder":
        (out / "attachments").mkdir()
        (out / "attachments" / "letter.pdf").write_bytes(b"%PDF-1.4\n")
    else:
        table = out / "grid_staff.csv"
        table.write_text(table.read_text() + "# my correction\n")
    before = snapshot(out)
    result = invoke("solve", tiny_dir, *GRID, "--out", out, "--overwrite")
    assert result.exit_code == 2, result.output
    assert "nothing was replaced" in result.output
    assert snapshot(out) == before


def test_generate_overwrite_keeps_unrelated_files_and_hand_made_instances(tmp_path, tiny_copy):
    out = tmp_path / "city"
    assert invoke("generate", "--towns", 6, "--seed", 1, "--out", out).exit_code == 0
    (out / "notes.txt").write_text("where the numbers come from\n")
    before = snapshot(out)
    result = invoke("generate", "--towns", 7, "--seed", 2, "--out", out, "--overwrite")
    assert result.exit_code == 2 and "notes.txt" in result.output, result.output
    assert snapshot(out) == before
    before = snapshot(tiny_copy)                # an instance a person made (allocator did not write it)
    result = invoke("generate", "--towns", 7, "--seed", 2, "--out", tiny_copy, "--overwrite")
    assert result.exit_code == 2, result.output
    assert snapshot(tiny_copy) == before


def test_a_plan_folder_is_not_replaced_by_an_instance_nor_the_reverse(tiny_dir, tmp_path, solved):
    city = tmp_path / "city"
    assert invoke("generate", "--towns", 6, "--seed", 1, "--out", city).exit_code == 0
    before = snapshot(city)
    result = invoke("solve", tiny_dir, *GRID, "--out", city, "--overwrite")
    assert result.exit_code == 2 and "not a plan" in result.output, result.output
    assert snapshot(city) == before
    plan = copy_plan(solved, tmp_path / "plan")
    before = snapshot(plan)
    result = invoke("generate", "--towns", 6, "--seed", 1, "--out", plan, "--overwrite")
    assert result.exit_code == 2, result.output
    assert snapshot(plan) == before


@pytest.mark.parametrize("command", ["export", "template", "compare"])
def test_files_are_replaced_only_with_overwrite(tmp_path, solved, command):
    out = tmp_path / ("out.csv" if command == "compare" else "out.xlsx")
    out.write_text("my own sheet")
    args = {"export": ("export", solved, out), "template": ("template", out),
            "compare": ("compare", solved, solved, "--format", "csv", "--out", out)}[command]
    result = invoke(*args)
    assert result.exit_code == 2 and "--overwrite" in result.output, result.output
    assert out.read_text() == "my own sheet"
    result = invoke(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() != b"my own sheet"


# --- outputs checked before any work ------------------------------------------------------------

@pytest.mark.parametrize("where", ["under_a_file", "dot", "a_file"])
def test_solve_refuses_a_bad_out_before_solving(tiny_dir, tmp_path, monkeypatch, where):


    def no_solve(*args, **kwargs):
        raise AssertionError("solved although --out cannot be written")

    monkeypatch.setattr(make, "make_plan", no_solve)
    (tmp_path / "file").write_text("keep")
    monkeypatch.chdir(tmp_path)
    out = {"under_a_file": "file/plan", "dot": ".", "a_file": "file"}[where]
    result = invoke("solve", tiny_dir, *GRID, "--out", out)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert (tmp_path / "file").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("study", [("sweep", "--model", "grid", "--param", "budget=100,200"),
                                   ("frontier", "--model", "enforcement", "--equity", "maxmin"),
                                   ("equity-bench", "--model", "enforcement", "--objectives", "maxmin")])
def test_studies_refuse_an_out_under_a_file_before_solving(tiny_dir, tmp_path, study):
    (tmp_path / "file").write_text("keep")
    result = invoke(study[0], tiny_dir, *study[1:], "--workers", 0, "--out", tmp_path / "file" / "study")
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.output and "internal error" not in result.output
    assert (tmp_path / "file").read_text() == "keep"


# --- leftovers of killed runs, concurrent writers -----------------------------------------------

def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def small_plan(tag: str) -> Plan:
    pool = pd.DataFrame({"district_id": ["D1", "D2"], "pool_staff": [3, 0]})
    return Plan({"model": "enforcement", "status": "optimal", "objective_value": 0.5, "mip_gap": 0.0, "writer": tag},
                {"district_pool": pool})


def test_leftovers_of_a_killed_writer_are_cleaned(tmp_path):
    pid = dead_pid()
    for name in (f".plan.partial-{pid}-k2x9", ".plan.partial-a8b7c6", f".plan.old-{pid}"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "grid_staff.csv").write_text("half")
    (tmp_path / ".plan.lock").write_text(json.dumps({"host": os.uname().nodename, "pid": pid, "time": time.time()}))
    (tmp_path / "other").mkdir()
    (tmp_path / ".other.partial-x").mkdir()           # another target's: not ours to remove
    write_plan(small_plan("new"), tmp_path / "plan")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.partial-x", "other", "plan"]
    assert read_plan(tmp_path / "plan").meta["writer"] == "new"


def test_threads_writing_one_plan_end_with_one_plan_and_a_message_for_the_others(tmp_path, monkeypatch):
    slow = pd.DataFrame.to_csv

    def slow_to_csv(self, *args, **kwargs):              # widen the window in which writers overlap
        time.sleep(0.2)
        return slow(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", slow_to_csv)
    out, start, outcomes = tmp_path / "plan", threading.Barrier(6), {}

    def writer(k: int) -> None:
        start.wait()
        try:
            write_plan(small_plan(f"w{k}"), out)
            outcomes[k] = "wrote"
        except InputError as err:
            outcomes[k] = str(err)
        except Exception as err:             # noqa: BLE001 -- a race the writers lost shows here
            outcomes[k] = f"crash: {err!r}"

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [k for k, o in outcomes.items() if o == "wrote"]
    assert len(winners) == 1, outcomes
    assert all("already holds a plan" in o or "is writing it" in o for k, o in outcomes.items() if k != winners[0]), outcomes
    assert read_plan(out).meta["writer"] == f"w{winners[0]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
WRITER = """
import sys, time
import pandas as pd
from allocator.errors import InputError
from allocator.plans.plan import Plan, write_plan
slow = pd.DataFrame.to_csv
def slow_to_csv(self, *args, **kwargs):
    time.sleep(float(sys.argv[4]))
    return slow(self, *args, **kwargs)
pd.DataFrame.to_csv = slow_to_csv
pool = pd.DataFrame({"district_id": ["D1", "D2"], "pool_staff": [3, 0]})
plan = Plan({"model": "enforcement", "status": "optimal", "objective_value": 0.5, "writer": sys.argv[2]}, {"district_pool": pool})
while time.time() < float(sys.argv[3]):
    time.sleep(0.005)
try:
    write_plan(plan, sys.argv[1])
except InputError as err:
    print(err)
    sys.exit(2)
"""


def test_processes_writing_one_plan_end_with_one_plan_and_a_message_for_the_others(tmp_path):
    out = tmp_path / "plan"
    go = time.time() + 6.0                     # every process imported and waiting when the clock strikes
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(out), f"p{k}", str(go), "0.3"], env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in range(4)]
    results = [(w.wait(timeout=120), w.stdout.read()) for w in writers]
    codes = [code for code, _ in results]
    assert codes.count(0) == 1 and codes.count(2) == 3, results
    assert all("already holds a plan" in text or "is writing it" in text for code, text in results if code == 2), results
    winner = codes.index(0)
    assert read_plan(out).meta["writer"] == f"p{winner}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


# --- folder names made from data ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../OUTSIDE", "ABSOLUTE", "a/b/c"])
def test_the_default_out_is_one_folder_inside_results_whatever_the_citys_name(tiny_copy, tmp_path, monkeypatch, name):
    if name == "ABSOLUTE":
        name = str(tmp_path / "elsewhere")
    config = tiny_copy / "city.yaml"
    config.write_text(config.read_text().replace("name: tiny", f"name: {json.dumps(name)}"))
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = {p for p in tmp_path.rglob("*")}
    result = invoke("solve", tiny_copy, *GRID)
    assert result.exit_code == 0, result.output
    created = {p for p in tmp_path.rglob("*")} - before
    plans = [p for p in created if (p / "plan.json").is_file()]
    assert len(plans) == 1 and plans[0].parent == work / "results", plans
    assert all(work in p.parents for p in created)


def test_a_writer_killed_mid_write_leaves_nothing_the_next_write_keeps(tmp_path):
    out = tmp_path / "plan"
    killed = subprocess.Popen([sys.executable, "-c", WRITER, str(out), "killed", "0", "60"], env=ENV)
    give_up = time.time() + 60
    while not [p for p in tmp_path.iterdir() if ".partial-" in p.name] and time.time() < give_up:
        time.sleep(0.05)
    killed.kill()                                    # kill -9 while its plan is half written
    killed.wait()
    assert [p for p in tmp_path.iterdir() if ".partial-" in p.name], "the writer never started"
    write_plan(small_plan("next"), out)
    assert read_plan(out).meta["writer"] == "next"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]
