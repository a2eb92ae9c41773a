"""The job store (snapstamps.service.store) on SQLite and on a real PostgreSQL server.

The same tests run on both back-ends: records, filters and paging (newest first), the queue's
claim under concurrency (never more than N dispatched, FIFO), tables other components add, and
what a full disk does (SQLite on a small tmpfs as root; an injected "disk full" otherwise): a
clear StoreUnavailable, the file intact, and the store working again once space is back.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest
from test_service import postgres  # noqa: F401  (session fixture)

from snapstamps.service.store import SQLiteStore, StoreUnavailable, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    if request.param == "sqlite":
        yield open_store(tmp_path / "snapstamps.sqlite")
    else:
        yield open_store(request.getfixturevalue("postgres").database())


def _job(i: int, status: str = "accepted", process: str = "echo", queued: bool = True) -> dict:
    return {"identifier": f"job-{i:03d}", "process_id": process, "status": status, "type": "process",
            "created": f"2026-01-01T00:00:{i:02d}.000000Z", "updated": f"2026-01-01T00:00:{i:02d}.000000Z",
            "message": "m", "progress": 0, "queue_state": "queued" if queued else None,
            "spec": {"inputs": {"x": i}}}


def test_records_filters_and_paging(store) -> None:
    for i in range(12):
        store.add_job(_job(i, status="successful" if i % 3 == 0 else "accepted",
                           process="psi" if i % 2 else "echo", queued=False))
    job = store.get_job("job-004")
    assert job["spec"] == {"inputs": {"x": 4}} and job["started"] is None
    assert store.update_job("job-004", {"status": "running", "progress": 50})
    assert not store.update_job("job-004", {"status": "failed"}, only_if_status=["accepted"])
    assert store.get_job("job-004")["status"] == "running"
    assert not store.update_job("nope", {"status": "failed"})
    page, n = store.list_jobs(limit=5)
    assert n == 12 and [j["identifier"] for j in page] == [f"job-{i:03d}" for i in (11, 10, 9, 8, 7)]
    page, n = store.list_jobs(limit=5, offset=10)
    assert [j["identifier"] for j in page] == ["job-001", "job-000"]
    page, n = store.list_jobs(status=["successful"], process_ids=["echo"])
    assert n == 2 and {j["identifier"] for j in page} == {"job-000", "job-006"}
    page, n = store.list_jobs(created_min="2026-01-01T00:00:03.000000Z", created_max="2026-01-01T00:00:05.000000Z")
    assert n == 3
    assert store.delete_job("job-004") and not store.delete_job("job-004") and store.get_job("job-004") is None


def test_claim_is_fifo_and_bounded_under_concurrency(store) -> None:
    for i in range(10):
        store.add_job(_job(i))
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer() -> None:
        while True:
            job = store.claim_next(3, "host", "2026-01-01T00:01:00.000000Z")
            if job is None:
                return
            with lock:
                claimed.append(job["identifier"])

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ["job-000", "job-001", "job-002"]  # the three oldest, never more
    assert store.count_running() == 3
    store.update_job("job-001", {"status": "successful"})
    assert store.claim_next(3, "host", "now")["identifier"] == "job-003"
    assert store.claim_next(3, "host", "now") is None


def test_other_components_add_their_tables(store) -> None:
    with store.transaction() as tx:
        tx.execute(f"CREATE TABLE IF NOT EXISTS subscriptions (id {store.serial_pk}, name TEXT NOT NULL)")
        tx.execute("INSERT INTO subscriptions (name) VALUES (?)", ("weekly",))
    with store.transaction() as tx:
        assert [r["name"] for r in tx.query("SELECT name FROM subscriptions")] == ["weekly"]
    with pytest.raises(ZeroDivisionError):  # an error rolls the whole transaction back
        with store.transaction() as tx:
            tx.execute("INSERT INTO subscriptions (name) VALUES (?)", ("daily",))
            raise ZeroDivisionError
    with store.transaction() as tx:
        assert len(tx.query("SELECT * FROM subscriptions")) == 1


def test_unreachable_postgres_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    store = open_store(f"postgresql://nobody@/nodb?host={tmp_path}")  # no server on that socket
    with pytest.raises(StoreUnavailable, match="unavailable"):
        store.get_job("x")


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full."""
    with open(path, "wb", buffering=0) as fh:  # unbuffered: nothing left to flush on close
        for size in (1 << 16, 1 << 12, 1 << 9):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                continue


def test_full_disk_keeps_the_sqlite_store_intact_and_it_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A really full file system where possible (tmpfs as root), an injected one otherwise."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode == 0
    try:
        store = SQLiteStore(mnt / "snapstamps.sqlite")
        for i in range(5):
            store.add_job(_job(i))
        if mounted:
            _fill(mnt / "filler")
            big = {**_job(99), "spec": {"blob": "x" * 4_000_000}}
            with pytest.raises(StoreUnavailable, match="disk is full|may be full"):
                store.add_job(big)
            for i in range(100, 200):  # keep writing until even small ones fail
                try:
                    store.add_job(_job(i % 60 + 100) | {"identifier": f"small-{i}"})
                except StoreUnavailable:
                    break
        else:
            real = sqlite3.Connection.execute

            def full(self, sql, *a):  # noqa: ANN001
                if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
                    raise sqlite3.OperationalError("database or disk is full")
                return real(self, sql, *a)

            monkeypatch.setattr(sqlite3.Connection, "execute", full, raising=False)
            with pytest.raises(StoreUnavailable, match="disk is full"):
                store.add_job(_job(99))
            monkeypatch.undo()
        # reads still work and the file is intact
        assert store.get_job("job-003")["status"] == "accepted"
        with sqlite3.connect(mnt / "snapstamps.sqlite") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (mnt / "filler").unlink(missing_ok=True)
        store.add_job(_job(42))  # space is back: the same store object works again
        assert store.get_job("job-042") is not None
        assert store.list_jobs()[1] >= 6
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs (the store-level test injects ENOSPC instead)")
def test_service_answers_503_on_a_full_disk_and_recovers(tmp_path: Path) -> None:
    """A server whose data dir is on a full tmpfs: execute answers 503 JSON, reads still work, the
    store stays intact, and once space is back the same server takes and runs jobs again."""
    import requests
    from test_service import Server, running

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with running(Server(mnt / "data")) as srv:
            def execute() -> requests.Response:
                return requests.post(f"{srv.url}/processes/echo/execution", json={"inputs": {"echoInput": "x"}},
                                     headers={"Prefer": "respond-async"}, timeout=120)

            first = execute()
            assert first.status_code == 201
            _fill(mnt / "filler")
            r = execute()
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["type"].startswith("http://www.opengis.net/def/exceptions/") and "try again" in body["detail"]
            assert r.headers.get("Retry-After")
            jobs = requests.get(f"{srv.url}/jobs?f=json", timeout=60)
            assert jobs.status_code == 200 and jobs.json()["numberMatched"] == 1  # nothing half-created
            with sqlite3.connect(mnt / "data" / "snapstamps.sqlite") as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            (mnt / "filler").unlink()
            again = execute()
            assert again.status_code == 201, again.text
            job = again.json()["jobID"]
            import time

            deadline = time.time() + 300
            while time.time() < deadline:
                st = requests.get(f"{srv.url}/jobs/{job}?f=json", timeout=60).json()["status"]
                if st in ("successful", "failed"):
                    break
                time.sleep(0.3)
            assert st == "successful"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
