"""`newsletter worker` without flags: processes and connections chosen for the machine and database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.config import Settings, load_settings
from newsletter.delivery.sizing import MAX_AUTO_PROCESSES, plan_workers
from tests.cli_runner import Run

SQLITE = "sqlite:///var/newsletter.db"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/anything"  # never connected to


def settings(tmp_path: Path, database_url: str, **values: object) -> Settings:
    return load_settings(data_dir=tmp_path, database_url=database_url, **values)


def test_sqlite_runs_one_process_whatever_is_asked(tmp_path: Path) -> None:
    plan = plan_workers(settings(tmp_path, SQLITE), cores=8)
    assert (plan.processes, plan.connections) == (1, 2)
    asked = plan_workers(settings(tmp_path, SQLITE, worker_processes=4), cores=8)
    assert asked.processes == 1 and "SQLite has one writer" in asked.describe()


@pytest.mark.parametrize(("cores", "processes"), [(1, 2), (2, 4), (4, 8), (64, MAX_AUTO_PROCESSES)])
def test_postgres_runs_two_processes_per_core_with_one_connection_each(tmp_path: Path, cores: int,
                                                                        processes: int) -> None:
    plan = plan_workers(settings(tmp_path, POSTGRES), cores=cores)
    assert (plan.processes, plan.connections) == (processes, 1)
    assert f"auto: PostgreSQL, {cores} core" in plan.describe()


def test_flags_beat_settings_beat_the_defaults(tmp_path: Path) -> None:
    configured = settings(tmp_path, POSTGRES, worker_processes=3, smtp_connections=5)
    plan = plan_workers(configured, cores=2)
    assert (plan.processes, plan.connections) == (3, 5)
    flagged = plan_workers(configured, processes=6, connections=2, cores=2)
    assert (flagged.processes, flagged.connections) == (6, 2)
    assert flagged.describe().startswith("6 worker processes x 2 SMTP connections (processes as set")


def test_the_worker_says_what_it_runs_at_start(run: Run) -> None:
    done = run("worker", "--until-idle", "--json")
    assert json.loads(done.stdout) == {"handled": 0}
    [line] = done.stderr.strip().splitlines()
    assert line == "worker: 1 worker process x 2 SMTP connections (SQLite: one process), sending through outbox"
