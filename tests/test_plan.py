"""The plan format: atomic writing, reading back, refusing what is not a plan."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from allocator.errors import InputError
from allocator.plans.plan import Plan, read_plan, write_plan


def sample_plan() -> Plan:
    pool = pd.DataFrame({"district_id": ["D1", "D2"], "pool_staff": [3, 0]})
    return Plan({"model": "enforcement", "status": "optimal", "objective_value": 0.5, "mip_gap": 0.0}, {"district_pool": pool})


def test_write_then_read_gives_the_same_tables(tmp_path):
    out = write_plan(sample_plan(), tmp_path / "p")
    plan = read_plan(out)
    assert plan.meta["status"] == "optimal"
    assert plan.tables["district_pool"]["district_id"].tolist() == ["D1", "D2"]
    assert plan.tables["district_pool"]["pool_staff"].tolist() == [3, 0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary folder left


def test_failed_write_leaves_no_plan(tmp_path):
    plan = sample_plan()
    plan.tables["district_pool"] = pd.DataFrame({"district_id": ["D1"]})    # lacks pool_staff
    with pytest.raises(ValueError):
        write_plan(plan, tmp_path / "p")
    assert list(tmp_path.iterdir()) == []


def test_rewriting_a_plan_replaces_it(tmp_path):
    write_plan(sample_plan(), tmp_path / "p")
    plan = sample_plan()
    plan.meta["status"] = "time_limit"
    with pytest.raises(InputError, match="--overwrite"):
        write_plan(plan, tmp_path / "p")
    write_plan(plan, tmp_path / "p", overwrite=True)
    assert json.loads((tmp_path / "p" / "plan.json").read_text())["status"] == "time_limit"
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_plan(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds no plan"):
        write_plan(sample_plan(), tmp_path / "docs")
    assert (tmp_path / "docs" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("content", [None, "not json", json.dumps({"x": 1})])
def test_read_plan_refuses_non_plans(tmp_path, content):
    folder = tmp_path / "p"
    folder.mkdir()
    if content is not None:
        (folder / "plan.json").write_text(content)
    with pytest.raises(InputError) as err:
        read_plan(folder)
    assert str(folder) in str(err.value)
