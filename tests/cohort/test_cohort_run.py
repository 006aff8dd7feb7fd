"""A cohort on a real 2-worker LocalCluster: four 12-minute simulated recordings at 25 Hz (one as
per-location files) and a broken file. Every result equals a plain `posturewatch replay` of the
same files byte for byte, the broken one is listed in failed.csv while the rest finish, the
cohort tables agree with the participants' own files and the simulator's truth, and a run
interrupted after its first recording continues without redoing it."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from distributed import Client
from study import make_study, replay_args

from posturewatch.analytics.records import Posture
from posturewatch.app import cli
from posturewatch.cohort import workerserver
from posturewatch.cohort.manifest import Defaults, load_specs
from posturewatch.cohort.runner import CohortOptions, run_cohort
from posturewatch.cohort.timeline import STEPS, breakdown
from posturewatch.simulators.recording import read_truth

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    return root, make_study(root)


@pytest.fixture(scope="module")
def cohort(study, tmp_path_factory):
    root, _ = study
    out = tmp_path_factory.mktemp("cohort")
    specs = load_specs(root / "manifest.csv", Defaults())
    outcome = run_cohort(specs, out, CohortOptions(workers=2, valid_min=5.0))
    # a copy as this run left it: a later test reruns a participant in ``out`` with another config
    shutil.copytree(out, out.with_name("as-run"))
    return out, outcome


def test_results_equal_plain_replay_and_the_broken_file_is_listed(study, cohort, tmp_path):
    root, recordings = study
    out, outcome = cohort
    assert sorted(outcome.done) == sorted(recordings)
    assert [f["participant"] for f in outcome.failed] == ["BROKEN"]
    failed = pacsv.read_csv(out / "failed.csv").to_pylist()
    assert [r["participant"] for r in failed] == ["BROKEN"]
    assert "no sensor columns" in failed[0]["error"]
    assert not (out / "BROKEN").exists()
    workers = {r["worker"] for r in outcome.results if r["status"] == "done"}
    assert len(workers) == 2, workers  # both workers took recordings
    for participant, files in recordings.items():
        plain = tmp_path / participant
        assert cli.main(["replay", *replay_args(files), "--out", str(plain)]) == 0
        written = sorted(p.relative_to(plain) for p in plain.rglob("*.csv"))
        assert {"angles.csv", "episodes.csv", "alerts.csv", "daily.csv"} <= {str(p) for p in written}
        assert any(p.parts[0] == "days" for p in written)
        assert sorted(p.relative_to(out / participant) for p in (out / participant).rglob("*.csv")) \
            == written, participant
        for name in written:  # the whole recording, daily.csv and every day's files
            assert (out / participant / name).read_bytes() == (plain / name).read_bytes(), (participant, name)
        done = json.loads((out / participant / "done.json").read_text())
        assert {"config_hash", "inputs_hash", "version"} <= set(done)


def test_the_runs_timeline_is_in_the_order_things_happened(cohort):
    _, outcome = cohort
    m = outcome.timings
    order = ["cluster_began", "worker_born", "worker_ready_last", "cluster_up", "started", "first_task",
             "last_task_end", "tasks_done", "tables", "report", "end"]
    if not workerserver.available():  # spawned workers do not know when they were born
        order.remove("worker_born")
    assert [m[k] for k in order] == sorted(m[k] for k in order), m
    assert m["worker_server"] <= m["worker_born"]  # the server was there before its first fork
    assert 0.0 <= m["scanned"] <= m["started"] and m["closed"] <= m["end"]
    labels = [label for label, _ in breakdown(m)]
    assert labels[0].startswith("scan") and labels[-1] == "whole run" and len(labels) == len(STEPS)


POSTURE_SECONDS = {f"{p.label}_s" for p in Posture}


def test_cohort_tables_agree_with_the_files_and_the_truth(study, cohort):
    root, recordings = study
    out, _ = cohort
    days = pq.read_table(out / "cohort_days.parquet")
    assert pacsv.read_csv(out / "cohort_days.csv").num_rows == days.num_rows
    people = pq.read_table(out / "cohort_participants.parquet").to_pylist()
    assert [p["participant"] for p in people] == sorted(recordings)
    for person in people:
        p = person["participant"]
        angles = pacsv.read_csv(out / p / "angles.csv")
        mine = [r for r in days.to_pylist() if r["participant"] == p]
        assert len(mine) == person["days"] == 1  # a 12-minute morning recording is one UTC day
        # seconds per posture (a figure a participant's days lack is NaN in the joined table)
        seconds = sum(v for k, v in mine[0].items() if k in POSTURE_SECONDS and v == v)
        assert seconds == pytest.approx(angles.num_rows, abs=1.0)  # frames vs started seconds
        labels = np.asarray(angles["posture"].to_pylist())
        assert mine[0]["sitting_min"] == pytest.approx(np.sum(labels == "sitting") / 60, abs=1 / 60)
        assert mine[0]["episodes"] == pacsv.read_csv(out / p / "episodes.csv").num_rows
        assert person["valid_days"] == 1 and person["mean_sitting_min"] == mine[0]["sitting_min"]
        if not isinstance(recordings[p], dict):
            truth = read_truth(recordings[p].parent)
            truth_sitting = np.sum(np.asarray(truth.posture) == "sitting") / 60
            print(f"{p}: sitting {mine[0]['sitting_min']:.2f} min, truth {truth_sitting:.2f} min")
            assert abs(mine[0]["sitting_min"] - truth_sitting) <= 0.05 * truth_sitting + 0.5
    page = (out / "cohort_report.html").read_text()
    assert 'src="data:image/png;base64,' in page and "http" not in page.replace("http-equiv", "")
    assert "BROKEN" in page
    assert (out / "cohort_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_second_run_skips_everything_and_a_changed_config_reruns(study, cohort):
    root, recordings = study
    out, _ = cohort
    finished_at = {p: json.loads((out / p / "done.json").read_text())["finished"] for p in recordings}
    specs = load_specs(root / "manifest.csv", Defaults())
    good = [s for s in specs if s.participant != "BROKEN"]
    again = run_cohort(good, out, CohortOptions(workers=1, valid_min=5.0))
    assert sorted(again.skipped) == sorted(recordings) and not again.done
    assert finished_at == {p: json.loads((out / p / "done.json").read_text())["finished"]
                           for p in recordings}
    changed = load_specs(root / "manifest.csv", Defaults(overrides={"episodes.tilt_enter": "-25"}))
    changed = [s for s in changed if s.participant == "P00"]
    rerun = run_cohort(changed, out, CohortOptions(workers=1, valid_min=5.0))
    assert rerun.done == ["P00"]
    assert json.loads((out / "P00" / "done.json").read_text())["finished"] != finished_at["P00"]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_an_interrupted_run_continues_where_it_stopped(tmp_path):
    root = tmp_path / "study"
    recordings = make_study(root, n_combined=4)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "posturewatch.app.cli", "cohort", str(root / "manifest.csv"),
           "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    children: list[psutil.Process] = []
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            children = children or _descendants(proc.pid)
            if " done in " in line:
                break
        children = _descendants(proc.pid) or children
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"worker processes left running: {alive}"
    first = {p.name for p in out.iterdir() if (p / "done.json").exists()}
    assert 1 <= len(first) < len(recordings)
    stamps = {p: (out / p / "done.json").read_text() for p in first}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1, again.stderr  # 1: the broken file failed, the rest finished
    assert f"{len(first)} already finished" in again.stdout
    assert all((out / p / "done.json").read_text() == stamps[p] for p in first)
    assert {p.name for p in out.iterdir() if (p / "done.json").exists()} == set(recordings)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A real scheduler and a 2-process worker started with the `dask` command on loopback, as
    deploy/README.md tells an operator to; the address to pass to --scheduler."""
    dask_cmd = str(Path(sys.executable).with_name("dask"))
    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs = []
    try:
        with (logs / "scheduler.log").open("w") as log:
            procs.append(subprocess.Popen([dask_cmd, "scheduler", "--host", "127.0.0.1", "--port", port,
                                           "--no-dashboard"], stdout=log, stderr=log))
        with (logs / "worker.log").open("w") as log:
            procs.append(subprocess.Popen([dask_cmd, "worker", address, "--host", "127.0.0.1",
                                           "--nworkers", "2", "--nthreads", "1", "--memory-limit", "1GiB",
                                           "--no-dashboard"], stdout=log, stderr=log))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGINT)  # the nanny stops its workers on SIGINT/SIGTERM
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_cohort_through_a_scheduler_address_equals_the_local_run(study, cohort, dask_cluster,
                                                                  tmp_path, capsys):
    root, recordings = study
    local = cohort[0].with_name("as-run")
    out = tmp_path / "remote"
    code = cli.main(["cohort", str(root / "manifest.csv"), "--out", str(out), "--scheduler", dask_cluster,
                     "--valid-day-min", "5"])
    err = capsys.readouterr().err
    assert code == 1, err  # the broken file failed, everything else finished
    total = len(recordings) + 1
    finished_lines = [ln for ln in err.splitlines() if re.match(rf"cohort: \[\d/{total}\] ", ln)]
    assert len(finished_lines) == total, err  # one progress line per recording, n of the total
    assert f"[{total}/{total}]" in finished_lines[-1] and "1 failed (BROKEN)" in finished_lines[-1]
    workers = {json.loads((out / p / "done.json").read_text())["worker"] for p in recordings}
    assert len(workers) == 2, workers  # both of the scheduler's workers took recordings
    for participant in recordings:
        mine = sorted(p.relative_to(out / participant) for p in (out / participant).rglob("*.csv"))
        theirs = sorted(p.relative_to(local / participant) for p in (local / participant).rglob("*.csv"))
        assert mine == theirs, participant
        for name in mine:
            assert (out / participant / name).read_bytes() == (local / participant / name).read_bytes()
    for table in ("cohort_days.csv", "cohort_participants.csv", "failed.csv"):
        assert (out / table).read_bytes() == (local / table).read_bytes(), table


def test_an_unreachable_scheduler_is_one_line_after_the_timeout(study, tmp_path):
    root, _ = study
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    cmd = [sys.executable, "-m", "posturewatch.app.cli", "cohort", str(root / "manifest.csv"),
           "--out", str(tmp_path / "out"), "--scheduler", address, "--connect-timeout", "2"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith(f"posturewatch cohort: cannot reach the Dask scheduler {address} within 2 s")
