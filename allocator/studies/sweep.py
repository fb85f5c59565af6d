"""Parameter sweeps: one model, many scenarios, each solved as its own plan on Dask.

    scenarios = expand_scenarios(parse_params(["budget=6000:9000:500", "basis=actual,registered"]))
    frame = run_sweep("cities/a", RunOptions(model="grid"), scenarios, "out/sweep-a", workers=2)

A scenario is one combination of values of `RunOptions` fields (`allocator.studies.sweep_scenarios`
parses `--param` texts into scenarios; re-exported here). Each scenario runs as one
task: the worker loads the instance from its path (cached per worker process, checked
against the instance hash the sweep started from), solves with `allocator.plans.make.make_plan`,
writes the plan with `write_plan` and returns a small dict. Before the first task every
worker is prepared at once (`prepare_worker`: imports, instance loaded and hashed), so
only paths and options travel through the scheduler and a scenario pays for its own
solve. HiGHS gets one thread per task and every worker one thread, so a scenario gives
the same plan in a sweep as in `allocator solve --threads 1` with the same seed.

Layout of OUT:
    sweep.json            instance and its sha256, model, options, the swept parameters,
                          solver and library versions, start and finish times
    sweep.csv             one row per scenario: scenario, status, objective, gap, one column
                          per swept parameter (a swept objective shows as objective_name),
                          RESULT_COLUMNS (check, timings, worker, plan_dir, message).
                          Appended and flushed as each scenario ends, so an interrupted
                          sweep keeps what it finished; compacted to the last row of each
                          scenario when the sweep ends
    plans/<scenario>/     the plan of each scenario that produced one (`plan_dir`, relative)

A scenario that fails — an infeasible model, an error inside the task, a worker lost
(`KilledWorker`, a closed connection) — gets a row with its status and a message, and
the sweep goes on. `resume=True` skips scenarios whose last row has a final status
(FINAL_STATUSES) and whose plan is still there; the others run again.

`workers=0` solves the scenarios one after another in this process, without Dask.

Time: each scenario's solve options carry its label for the progress line ("scenario 3/12
(budget=6000)"). Without `deadline` every scenario has the whole --time-limit to itself. With
`deadline` (a study bounded as a whole: frontier, equity-bench) the scenarios share the time
left to it: with s workers and r = ⌈n/s⌉ rounds, the i-th scenario takes 1/(r − ⌊i/s⌋) of the
time left when it starts (`SolveOptions.parts`), so a scenario that ends early leaves its time
to those after it.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pandas as pd

from allocator.data.loader import load_instance
from allocator.errors import InfeasibleError, InputError, Problem
from allocator.files import write_json, write_text
from allocator.plans.make import make_plan
from allocator.plans.plan import write_plan
from allocator.solving.run import RunOptions, model_module
from allocator.solving.solve import SolveOptions
from allocator.studies.sweep_scenarios import PARAMETER_KINDS, Scenario, check_scenarios, expand_scenarios, format_value, parse_param, parse_params

__all__ = ["FINAL_STATUSES", "PARAMETER_KINDS", "SWEEP_CSV", "SWEEP_JSON", "Scenario", "expand_scenarios", "parse_param",
           "parse_params", "prepare_worker", "read_sweep", "result_row", "run_sweep", "solve_scenario"]

SWEEP_CSV, SWEEP_JSON, PLANS_DIR = "sweep.csv", "sweep.json", "plans"
FINAL_STATUSES = ("optimal", "time_limit", "infeasible", "unbounded")
ALLOWED_FAILURES = 1          # local cluster: a task that took down this many workers, plus one, is recorded as lost
WAIT_FOR_WORKERS_S = 60.0     # a named scheduler must offer a worker within this time
CLUSTER_START_S = 10.0        # under a deadline closer than this, no workers are started (a busy 2-core machine took 10-20 s)
TIMING_COLUMNS = ("build_s", "handover_s", "solve_s", "extract_s", "total_s", "wall_s")
RESULT_COLUMNS = ("objective_name", "check_passed", "n_violations", *TIMING_COLUMNS, "worker", "plan_dir", "message")


# ----------------------------------------------------------------------------- the task

_INSTANCES: dict[tuple, tuple[Any, str]] = {}     # per worker process: loaded instances and their hashes


def solve_scenario(instance_path: str, instance_sha256: str, options: RunOptions,
                   solve_options: SolveOptions, plan_dir: str) -> dict[str, Any]:
    """Run on a worker: load (cached), solve, write the plan; return a small result dict. Never raises."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"status": "error", "plan_written": False, "worker": worker_name(), "message": ""}
    try:
        city, digest = load_cached(instance_path)
        if digest != instance_sha256:
            row["message"] = f"the worker read a different instance at {instance_path} (sha256 {digest[:12]})"
        else:
            plan = make_plan(city, options, solve_options)
            write_plan(plan, plan_dir, overwrite=True)     # the sweep's own plan folder, re-solved on resume
            row.update(result_row(plan.meta), plan_written=True)
    except InputError as err:
        row["message"] = err.describe()
    except InfeasibleError as err:
        row.update(status="infeasible", message=err.explanation)
    except Exception as err:  # recorded in the scenario's row; the sweep goes on
        row["message"] = f"{type(err).__name__}: {err}"
    row["wall_s"] = time.perf_counter() - t0
    return row


def prepare_worker(instance_path: str, models: Sequence[str]) -> float:
    """Run once on each worker before its first scenario: import the solver stack and the
    models, load and hash the instance into the worker's cache; return the seconds it took.

    Scenarios then pay only for their own solve; a worker that joins later (or replaces a
    lost one) does the same work lazily in its first scenario."""
    t0 = time.perf_counter()
    import highspy  # noqa: F401
    import pyomo.environ  # noqa: F401

    for model in models:
        model_module(model)
    load_cached(instance_path)
    return time.perf_counter() - t0


def load_cached(instance_path: str) -> tuple[Any, str]:

    key = (instance_path, _stamp(Path(instance_path)))
    if key not in _INSTANCES:
        if len(_INSTANCES) >= 4:
            _INSTANCES.clear()
        city = load_instance(instance_path)
        _INSTANCES[key] = (city, city.content_hash())
    return _INSTANCES[key]


def _stamp(path: Path) -> tuple:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())


def worker_name() -> str:
    distributed = sys.modules.get("distributed")     # a Dask worker has it loaded; in process, no need to
    try:
        return str(distributed.get_worker().address) if distributed else f"local-{os.getpid()}"
    except ValueError:                                # loaded, but not running on a worker
        return f"local-{os.getpid()}"


def result_row(meta: dict[str, Any]) -> dict[str, Any]:
    """A plan's row of sweep.csv (and of a study's table): status, objective, gap, check, message, timings."""
    check = meta.get("check") or {}
    timings = meta.get("timings") or {}
    return {"status": meta.get("status"), "objective": meta.get("objective_value"), "gap": meta.get("mip_gap"),
            "objective_name": meta.get("objective"), "check_passed": check.get("passed"),
            "n_violations": check.get("n_violations"), "message": meta.get("explanation") or "",
            **{k: timings.get(k) for k in TIMING_COLUMNS if k in timings}}


# ----------------------------------------------------------------------------- the sweep

def run_sweep(instance_path: str | Path, base_options: RunOptions, scenarios: Sequence[Scenario], out: str | Path,
              workers: int | None = None, scheduler: str | None = None, resume: bool = False,
              progress: Callable[[int, int, dict], None] | None = None,
              solve_options: SolveOptions | None = None, task: Callable[..., dict] = solve_scenario,
              deadline: float | None = None, share: float = 1.0, unit: str = "scenario",
              count: int | None = None) -> pd.DataFrame:
    """Solve every scenario not yet finished in OUT; return one row per scenario of `scenarios`.

    workers: LocalCluster worker processes (default: the CPU count, at most one per scenario);
    0 solves in this process. scheduler: address of a running Dask scheduler instead.
    progress(done, total, row) is called as each scenario finishes. `task` is the function a
    worker runs (signature of `solve_scenario`); the default is the one to use. `deadline`
    (time.time()) bounds all the scenarios together (see the module docstring): they take `share` of
    the time left to it once the workers are ready; `unit` and `count`
    name them on progress lines ("point 3/6": the scenario's place in `scenarios` of `count`).
    """

    if workers is not None and scheduler is not None:
        raise InputError(Problem("--workers", "give either --workers (a local cluster) or --scheduler, not both"))
    if workers is not None and workers < 0:
        raise InputError(Problem("--workers", "must not be negative", value=workers))
    check_scenarios(base_options, scenarios)
    solve_options = solve_options or SolveOptions(threads=1)
    instance_path = Path(instance_path).resolve()
    out = Path(out).resolve()
    city = load_instance(instance_path)
    digest = city.content_hash()
    param_names = list(scenarios[0].as_dict())
    settings = _settings(city, digest, instance_path, base_options, solve_options, scenarios)
    earlier = _check_out(out, settings, param_names, resume)
    done = {name: row for name, row in earlier.items()
            if row.get("status") in FINAL_STATUSES and _plan_kept(out, row)}
    todo = [s for s in scenarios if s.name not in done]
    columns = ["scenario", "status", "objective", "gap", *[p for p in param_names if p != "objective"], *RESULT_COLUMNS]
    if deadline is not None and deadline - time.time() < CLUSTER_START_S:
        workers, scheduler = 0, None            # no time to start workers: the scenarios left run here, briefly
    executor = _start(workers, scheduler, len(todo)) if todo else None
    try:
        settings["runner"] = executor.describe() if executor else "nothing to run"
        write_json(out / SWEEP_JSON, settings)
        with _CsvLog(out / SWEEP_CSV, columns) as log:
            finished = 0
            if executor is not None:
                executor.prepare(instance_path, sorted({s.options(base_options).model for s in todo}))
            labels = _labels(scenarios, unit, count)
            until = None if deadline is None else time.time() + share * max(0.0, deadline - time.time())
            options = _shares(todo, solve_options, until, executor.slots() if executor else 1, labels)
            for scenario, row in (executor.results(task, todo, instance_path, digest, base_options, options, out)
                                  if executor else iter(())):
                row = _complete_row(row, scenario, base_options, out)
                log.append(row)
                earlier[scenario.name] = row
                finished += 1
                if progress is not None:
                    progress(finished, len(todo), row)
    finally:
        if executor is not None:
            executor.close()
    _compact(out / SWEEP_CSV, columns, earlier, [s.name for s in scenarios])
    settings.update(finished=now(), counts=_counts(earlier, scenarios))
    write_json(out / SWEEP_JSON, settings)
    frame = read_sweep(out).set_index("scenario", drop=False).loc[[s.name for s in scenarios]].reset_index(drop=True)
    frame.attrs["skipped"] = len(scenarios) - len(todo)
    return frame


def read_sweep(out: str | Path) -> pd.DataFrame:
    """sweep.csv of the sweep folder OUT as a frame (text columns as text, empty cells as NaN)."""
    path = Path(out) / SWEEP_CSV
    if not path.is_file():
        raise InputError(Problem(str(path), "does not exist: OUT is not a sweep folder"))
    text = {"scenario", "status", "objective_name", "worker", "plan_dir", "message", "model", "basis", "scenarios", "services"}
    header = pd.read_csv(path, nrows=0).columns
    frame = pd.read_csv(path, dtype={c: str for c in header if c in text}, keep_default_na=False, na_values=[""])
    for column in ("plan_dir", "message"):
        frame[column] = frame[column].fillna("")
    return frame


def _settings(city, digest: str, instance_path: Path, base: RunOptions, solve_options: SolveOptions,
              scenarios: Sequence[Scenario]) -> dict[str, Any]:
    swept: dict[str, list] = {}
    for scenario in scenarios:
        for name, value in scenario.values:
            shown = list(value) if isinstance(value, tuple) else value
            if shown not in swept.setdefault(name, []):
                swept[name].append(shown)
    solver_version = highs_version()
    return {"instance": city.name, "instance_path": str(instance_path), "instance_sha256": digest,
            "model": base.model, "base_options": base.as_dict(), "solve_options": solve_options.as_dict(),
            "parameters": swept, "scenarios": len(scenarios), "solver": "highs", "solver_version": solver_version,
            "versions": library_versions(("pyomo", "highspy", "dask", "distributed")), "started": now()}


def highs_version() -> str | None:
    """The version of the HiGHS library that solves (None when it cannot be asked)."""
    try:
        from pyomo.contrib.solver.solvers.highs import Highs

        return ".".join(str(v) for v in Highs().version())
    except Exception:  # information only
        return None


def library_versions(names: Sequence[str]) -> dict[str, str | None]:
    """The installed version of each distribution named (None when it is not installed)."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _check_out(out: Path, settings: dict, param_names: list[str], resume: bool) -> dict[str, dict]:
    """Refuse to mix sweeps; on resume, the rows of the sweep already in OUT by scenario name."""
    if out.exists() and not out.is_dir():
        raise InputError(Problem(str(out), "exists and is not a folder; choose another --out"))
    has_sweep = (out / SWEEP_JSON).exists() or (out / SWEEP_CSV).exists()
    if not resume:
        if has_sweep:
            raise InputError(Problem(str(out), "already holds a sweep; add --resume to finish it or choose another --out"))
        if out.exists() and any(out.iterdir()):
            raise InputError(Problem(str(out), "exists and is not empty; choose another --out"))
        return {}
    if not has_sweep:
        if out.exists() and any(out.iterdir()):
            raise InputError(Problem(str(out), "holds no sweep to resume (no sweep.json) and is not empty; choose another --out"))
        return {}
    try:
        before = json.loads((out / SWEEP_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise InputError(Problem(str(out / SWEEP_JSON), "is missing or unreadable; cannot resume this sweep")) from None
    for key, what in (("instance_sha256", "instance"), ("model", "model"), ("solve_options", "solver options")):
        if before.get(key) != settings[key]:
            raise InputError(Problem(str(out), f"holds a sweep with another {what}; resume needs the same {what}"))
    if list(before.get("parameters", {})) != param_names:
        raise InputError(Problem(str(out), f"holds a sweep over {', '.join(before.get('parameters', {})) or 'nothing'}; "
                                           f"resume needs the same parameters (values may change)"))
    fixed = {k: v for k, v in settings["base_options"].items() if k not in param_names}
    if {k: v for k, v in before.get("base_options", {}).items() if k not in param_names} != fixed:
        raise InputError(Problem(str(out), "holds a sweep with other fixed options (e.g. --objective); resume needs the same"))
    return _read_rows(out / SWEEP_CSV)


def _read_rows(path: Path) -> dict[str, dict]:
    """Rows of sweep.csv by scenario (last wins); a line cut short by an interruption is ignored."""
    rows: dict[str, dict] = {}
    if not path.exists():
        return rows
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for row in reader:
            if None in row or any(v is None for v in row.values()) or not row.get("scenario"):
                continue
            rows[row["scenario"]] = row
    return rows


def _plan_kept(out: Path, row: dict) -> bool:
    """A finished scenario counts as done only while its plan is still in OUT."""
    plan_dir = row.get("plan_dir") or ""
    if not plan_dir:
        return row.get("status") == "infeasible"
    return (out / plan_dir / "plan.json").exists()


def _complete_row(row: dict, scenario: Scenario, base: RunOptions, out: Path) -> dict[str, Any]:
    row = dict(row)
    row["scenario"] = scenario.name
    for name, value in scenario.values:
        if name != "objective":
            row[name] = format_value(value)
    row.setdefault("objective_name", scenario.options(base).objective)
    row["plan_dir"] = str(Path(PLANS_DIR) / scenario.name) if row.pop("plan_written", False) else ""
    return row


def _counts(rows: dict[str, dict], scenarios: Sequence[Scenario]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in scenarios:
        status = rows.get(s.name, {}).get("status") or "not run"
        counts[status] = counts.get(status, 0) + 1
    return counts


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(float(value))          # numpy's floats are floats whose repr is "np.float64(…)"
    return str(value)


class _CsvLog:
    """sweep.csv opened for appending: one flushed line per finished scenario."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = path, columns

    def __enter__(self) -> "_CsvLog":
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                cut_short = f.read(1) != b"\n"
        self.file = open(self.path, "a", newline="", encoding="utf-8")
        if not new and cut_short:
            self.file.write("\n")                  # end a line an interruption left unfinished
        self.writer = csv.writer(self.file, lineterminator="\n")
        if new:
            self.writer.writerow(self.columns)
            self.file.flush()
        return self

    def append(self, row: dict) -> None:
        self.writer.writerow([_cell(row.get(c)) for c in self.columns])
        self.file.flush()
        os.fsync(self.file.fileno())

    def __exit__(self, *exc) -> None:
        self.file.close()


def _compact(path: Path, columns: list[str], rows: dict[str, dict], order: list[str]) -> None:
    """Rewrite sweep.csv with the last row of each scenario, grid order first."""
    names = [n for n in order if n in rows] + [n for n in rows if n not in set(order)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for name in names:
        writer.writerow([_cell(rows[name].get(c)) for c in columns])
    write_text(path, text.getvalue())


# ----------------------------------------------------------------------------- executors

def _start(workers: int | None, scheduler: str | None, n_tasks: int):
    if scheduler is None and workers == 0:
        return _InProcess()
    return _Dask.start(workers, scheduler, n_tasks)


def _labels(scenarios: Sequence[Scenario], unit: str, count: int | None) -> dict[str, str]:
    return {s.name: f"{unit} {k}/{count or len(scenarios)} ({s.name})" for k, s in enumerate(scenarios, start=1)}


def _shares(todo: Sequence[Scenario], solve_options: SolveOptions, deadline: float | None, slots: int,
            labels: dict[str, str]) -> list[SolveOptions]:
    """Each scenario's solve options: its progress label and, under a deadline, its share of the time left."""
    rounds = max(1, math.ceil(len(todo) / max(1, slots)))
    options = []
    for i, s in enumerate(todo):
        one = replace(solve_options, label=labels.get(s.name))
        if deadline is not None:
            one = replace(one, deadline=deadline, parts=rounds - i // max(1, slots))
        options.append(one)
    return options


def _jobs(todo, instance_path: Path, digest: str, base: RunOptions, solve_options: list[SolveOptions], out: Path):
    return [(str(instance_path), digest, s.options(base), o, str(out / PLANS_DIR / s.name)) for s, o in zip(todo, solve_options)]


class _InProcess:
    def describe(self) -> str:
        return "in process"

    def slots(self) -> int:
        return 1

    def prepare(self, instance_path, models) -> None:
        pass

    def results(self, task, todo, instance_path, digest, base, solve_options, out) -> Iterator[tuple[Scenario, dict]]:
        for scenario, args in zip(todo, _jobs(todo, instance_path, digest, base, solve_options, out)):
            try:
                row = task(*args)
            except Exception as err:  # as on a Dask worker: recorded, the sweep goes on
                row = {"status": "error", "message": f"{type(err).__name__}: {err}"}
            yield scenario, row

    def close(self) -> None:
        pass


def local_cluster(n: int):
    """A Dask LocalCluster of `n` single-threaded worker processes, as a sweep starts it."""
    import logging

    import dask
    from distributed import LocalCluster

    # One task at a time per worker (saturation 1.0): a worker that dies takes down only the
    # task it was running, so a crashing scenario cannot use up the retries of its neighbours.
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.scheduler.worker-saturation": 1.0}):
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.ERROR)


class _Dask:
    """A Dask client on a LocalCluster of worker processes or on a named scheduler."""

    def __init__(self, client, cluster, label: str):
        self.client, self.cluster, self.label = client, cluster, label

    @classmethod
    def start(cls, workers: int | None, scheduler: str | None, n_tasks: int) -> "_Dask":
        from distributed import Client

        if scheduler is not None:
            try:
                client = Client(scheduler, timeout="10s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as err:
                raise InputError(Problem("--scheduler", f"no Dask scheduler answered at {scheduler} ({err})")) from None
            try:
                client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
            except TimeoutError:
                client.close()
                raise InputError(Problem("--scheduler", f"the scheduler at {scheduler} has no worker")) from None
            return cls(client, None, f"scheduler {scheduler}")
        n = max(1, min(workers or os.cpu_count() or 1, n_tasks))
        cluster = local_cluster(n)
        return cls(Client(cluster, set_as_default=False), cluster, f"local cluster of {n} worker process{'es' if n != 1 else ''}")

    def describe(self) -> str:
        return self.label

    def prepare(self, instance_path, models) -> None:
        """Every worker at once, before the first scenario: imports, the instance loaded (`prepare_worker`)."""
        self.client.run(prepare_worker, str(instance_path), models, on_error="ignore")

    def slots(self) -> int:
        """Scenarios solved at once: the cluster's worker threads."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # information only: one at a time is the safe guess
            return 1

    def results(self, task, todo, instance_path, digest, base, solve_options, out) -> Iterator[tuple[Scenario, dict]]:
        from distributed import as_completed

        jobs = _jobs(todo, instance_path, digest, base, solve_options, out)
        futures = self.client.map(task, *zip(*jobs), pure=False)
        scenario_of = {f.key: s for f, s in zip(futures, todo)}
        try:
            for future in as_completed(futures, loop=self.client.loop):   # this client's loop, not the default one
                yield scenario_of[future.key], _outcome(future)
                future.release()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _outcome(future) -> dict[str, Any]:
    """The task's dict, or an error row when the task raised or its worker was lost."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    try:
        return future.result()
    except KilledWorker as err:
        return {"status": "error", "message": f"worker lost: the scenario's task took down {ALLOWED_FAILURES + 1} "
                                              f"worker(s) or the cluster lost them ({err})"}
    except (CommClosedError, OSError) as err:
        return {"status": "error", "message": f"worker lost: connection closed ({type(err).__name__}: {err})"}
    except CancelledError as err:
        return {"status": "error", "message": f"cancelled by the cluster ({err})"}
    except Exception as err:  # raised inside the task: recorded, the sweep goes on
        return {"status": "error", "message": f"{type(err).__name__}: {err}"}
