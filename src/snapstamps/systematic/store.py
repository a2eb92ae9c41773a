"""Durable state of the subscriptions: SQLite tables ``subscription*`` in ``DATA/snapstamps.sqlite``.

The file is the service's database (jobs live in other tables of it); WAL mode, so readers (the
HTTP routes, ``systematic list``) never wait for a tick.  Every change is one transaction, so a
crash at any point leaves the tables as they were before or after it, never between:

* ``subscription``: the spec (JSON), active or paused, the reference date and sub-swaths once
  chosen (then fixed), when the next scheduled tick is due, the last error;
* ``subscription_lock``: at most one row per subscription, the tick holding it (owner, host, pid,
  heartbeat).  A lock whose heartbeat is older than its time-to-live, or whose process is gone
  (same host), is stale and taken over;
* ``subscription_date``: every acquisition date found in the catalog (its products), ``new``,
  ``done`` (all its pairs computed), ``failed`` (retried after ``next_attempt``) or ``given_up``;
* ``subscription_pair``: one row per finished pair (sub-swath x date against the reference), written
  in the same transaction that closes its ``subscription_pair_run``, after its output folder was
  renamed into place: a finished pair is never computed again;
* ``subscription_pair_run``: every attempt at a pair (audit: which tick ran what, how it ended);
* ``subscription_version``: the published psi versions (dates, PS counts, parameters);
* ``subscription_tick``: every tick and its summary.

Written so that the service's own store can share it: the connection factory takes the path,
nothing else, and the SQL is portable to PostgreSQL but for the DDL's ``INTEGER PRIMARY KEY
AUTOINCREMENT`` (``BIGSERIAL`` there) and the two ``PRAGMA`` lines (``?`` placeholders, ``INSERT ...
ON CONFLICT DO UPDATE``, ``RETURNING id``, ISO 8601 text timestamps, ``BEGIN IMMEDIATE`` becoming a
row lock).  The service may open the same file for its job tables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .model import RetryPolicy, Subscription, SubscriptionError

__all__ = ["DB_NAME", "LockHeld", "SubscriptionStore", "utcnow"]

DB_NAME = "snapstamps.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscription (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    reference_date TEXT,
    subswaths TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    next_tick TEXT,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS subscription_lock (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired TEXT NOT NULL,
    heartbeat TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription_date (
    name TEXT NOT NULL,
    date TEXT NOT NULL,
    products TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('new', 'done', 'failed', 'given_up')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT,
    error TEXT,
    first_seen TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (name, date)
);
CREATE TABLE IF NOT EXISTS subscription_pair (
    name TEXT NOT NULL,
    swath TEXT NOT NULL,
    date TEXT NOT NULL,
    reference TEXT NOT NULL,
    path TEXT NOT NULL,
    tick INTEGER,
    seconds REAL,
    finished TEXT NOT NULL,
    PRIMARY KEY (name, swath, date)
);
CREATE TABLE IF NOT EXISTS subscription_pair_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    swath TEXT NOT NULL,
    date TEXT NOT NULL,
    tick INTEGER,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'adopted', 'failed', 'interrupted')),
    error TEXT
);
CREATE TABLE IF NOT EXISTS subscription_version (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    reference TEXT NOT NULL,
    dates TEXT NOT NULL,
    n_ps TEXT NOT NULL,
    params TEXT NOT NULL,
    path TEXT NOT NULL,
    tick INTEGER,
    created TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS subscription_tick (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    summary TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS subscription_pair_run_name ON subscription_pair_run (name, swath, date);
CREATE INDEX IF NOT EXISTS subscription_tick_name ON subscription_tick (name, id);
"""

_TABLES = ("subscription_lock", "subscription_date", "subscription_pair", "subscription_pair_run",
           "subscription_version", "subscription_tick", "subscription")


def utcnow() -> dt.datetime:
    """Now, UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _parse(t: str | None) -> dt.datetime | None:
    return None if not t else dt.datetime.fromisoformat(t.replace("Z", "+00:00"))


class LockHeld(SubscriptionError):
    """Another tick of the subscription holds its lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped by its parent) is gone for our purposes
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class SubscriptionStore:
    """The subscription tables of one database file (created on first use)."""

    def __init__(self, data_dir: Path | str, lock_ttl_s: float = 600.0) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.lock_ttl_s = float(lock_ttl_s)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    # ------------------------------------------------------------------ connections
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA busy_timeout=60000")
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._connect() as con:
            return list(con.execute(sql, args))

    # ------------------------------------------------------------------ subscriptions
    def add(self, sub: Subscription) -> None:
        now = _iso(utcnow())
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM subscription WHERE name = ?", (sub.name,)).fetchone():
                raise SubscriptionError(f"subscription {sub.name!r} exists (remove it first, or choose another name)")
            con.execute("INSERT INTO subscription (name, spec, status, created, updated, next_tick) VALUES (?, ?, 'active', ?, ?, ?)",
                        (sub.name, sub.model_dump_json(), now, now, now))

    def get(self, name: str) -> Subscription:
        return Subscription.model_validate_json(self.row(name)["spec"])

    def row(self, name: str) -> sqlite3.Row:
        rows = self._read("SELECT * FROM subscription WHERE name = ?", (name,))
        if not rows:
            raise SubscriptionError(f"no subscription named {name!r}")
        return rows[0]

    def names(self) -> list[str]:
        return [r["name"] for r in self._read("SELECT name FROM subscription ORDER BY name")]

    def set_status(self, name: str, status: str) -> None:
        with self.transaction() as con:
            cur = con.execute("UPDATE subscription SET status = ?, updated = ? WHERE name = ?", (status, _iso(utcnow()), name))
            if cur.rowcount == 0:
                raise SubscriptionError(f"no subscription named {name!r}")

    def remove(self, name: str) -> None:
        """Delete the subscription and its records (refused while a live tick holds its lock)."""
        with self.transaction() as con:
            if not con.execute("SELECT 1 FROM subscription WHERE name = ?", (name,)).fetchone():
                raise SubscriptionError(f"no subscription named {name!r}")
            lock = con.execute("SELECT * FROM subscription_lock WHERE name = ?", (name,)).fetchone()
            if lock is not None and not self._stale(lock):
                raise LockHeld(f"subscription {name!r} is ticking (pid {lock['pid']} on {lock['host']}); try again when it ends")
            for t in _TABLES:
                con.execute(f"DELETE FROM {t} WHERE name = ?", (name,))  # noqa: S608 - fixed table names

    def set_choice(self, name: str, reference_date: dt.date | None = None, subswaths: list[str] | None = None) -> None:
        """Record the reference date and/or sub-swaths once chosen (they do not change afterwards)."""
        with self.transaction() as con:
            if reference_date is not None:
                con.execute("UPDATE subscription SET reference_date = ? WHERE name = ? AND reference_date IS NULL",
                            (reference_date.isoformat(), name))
            if subswaths is not None:
                con.execute("UPDATE subscription SET subswaths = ? WHERE name = ? AND subswaths IS NULL",
                            (json.dumps(sorted(subswaths)), name))

    def set_next_tick(self, name: str, when: dt.datetime, error: str | None = None) -> None:
        with self.transaction() as con:
            con.execute("UPDATE subscription SET next_tick = ?, last_error = ?, updated = ? WHERE name = ?",
                        (_iso(when), error, _iso(utcnow()), name))

    def due(self, now: dt.datetime | None = None) -> list[str]:
        """Active subscriptions whose next scheduled tick is due."""
        now_s = _iso(now or utcnow())
        return [r["name"] for r in self._read(
            "SELECT name FROM subscription WHERE status = 'active' AND (next_tick IS NULL OR next_tick <= ?) ORDER BY next_tick",
            (now_s,))]

    def claim_due(self, now: dt.datetime | None = None) -> list[str]:
        """The due active subscriptions, each with its next tick moved one interval ahead (one transaction).

        A scheduler submits what this returns; another scheduler calling it at the same time gets
        none of them.
        """
        now = now or utcnow()
        out = []
        with self.transaction() as con:
            rows = con.execute("SELECT name, spec FROM subscription WHERE status = 'active' AND "
                               "(next_tick IS NULL OR next_tick <= ?) ORDER BY next_tick", (_iso(now),)).fetchall()
            for r in rows:
                minutes = Subscription.model_validate_json(r["spec"]).interval_minutes
                con.execute("UPDATE subscription SET next_tick = ? WHERE name = ?",
                            (_iso(now + dt.timedelta(minutes=minutes)), r["name"]))
                out.append(r["name"])
        return out

    def request_tick(self, name: str) -> None:
        """Make the subscription due now (the scheduler picks it up at its next period)."""
        with self.transaction() as con:
            con.execute("UPDATE subscription SET next_tick = ? WHERE name = ?", (_iso(utcnow()), name))

    # ------------------------------------------------------------------ lock
    def _stale(self, lock: sqlite3.Row, now: dt.datetime | None = None) -> bool:
        now = now or utcnow()
        hb = _parse(lock["heartbeat"])
        if hb is None or (now - hb).total_seconds() > self.lock_ttl_s:
            return True
        return lock["host"] == socket.gethostname() and not _pid_alive(int(lock["pid"]))

    def acquire(self, name: str) -> str:
        """Take the subscription's lock; returns the owner token.  :class:`LockHeld` when a live tick has it.

        A stale lock (heartbeat older than ``lock_ttl_s``, or its process gone on this host) is taken
        over; the ticks and pair runs it left ``running`` are marked ``interrupted``.
        """
        owner = uuid.uuid4().hex
        now = utcnow()
        with self.transaction() as con:
            if not con.execute("SELECT 1 FROM subscription WHERE name = ?", (name,)).fetchone():
                raise SubscriptionError(f"no subscription named {name!r}")
            lock = con.execute("SELECT * FROM subscription_lock WHERE name = ?", (name,)).fetchone()
            if lock is not None and not self._stale(lock, now):
                raise LockHeld(f"subscription {name!r} is already ticking (pid {lock['pid']} on {lock['host']}, "
                               f"since {lock['acquired']})")
            con.execute("DELETE FROM subscription_lock WHERE name = ?", (name,))
            con.execute("INSERT INTO subscription_lock (name, owner, host, pid, acquired, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
                        (name, owner, socket.gethostname(), os.getpid(), _iso(now), _iso(now)))
            con.execute("UPDATE subscription_tick SET status = 'interrupted', finished = ? WHERE name = ? AND status = 'running'",
                        (_iso(now), name))
            con.execute("UPDATE subscription_pair_run SET status = 'interrupted', finished = ? WHERE name = ? AND status = 'running'",
                        (_iso(now), name))
        return owner

    def heartbeat(self, name: str, owner: str) -> bool:
        """Refresh the lock; False when it was lost (taken over as stale)."""
        with self.transaction() as con:
            cur = con.execute("UPDATE subscription_lock SET heartbeat = ? WHERE name = ? AND owner = ?",
                              (_iso(utcnow()), name, owner))
            return cur.rowcount == 1

    def release(self, name: str, owner: str) -> None:
        with self.transaction() as con:
            con.execute("DELETE FROM subscription_lock WHERE name = ? AND owner = ?", (name, owner))

    def lock_info(self, name: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM subscription_lock WHERE name = ?", (name,))
        return dict(rows[0]) if rows else None

    # ------------------------------------------------------------------ ticks
    def start_tick(self, name: str) -> int:
        with self.transaction() as con:
            row = con.execute("INSERT INTO subscription_tick (name, started, status) VALUES (?, ?, 'running') RETURNING id",
                              (name, _iso(utcnow()))).fetchone()
            return int(row[0])

    def end_tick(self, tick: int, status: str, summary: dict[str, Any], error: str | None = None) -> None:
        with self.transaction() as con:
            con.execute("UPDATE subscription_tick SET finished = ?, status = ?, summary = ?, error = ? WHERE id = ?",
                        (_iso(utcnow()), status, json.dumps(summary, default=str), error, tick))

    def ticks(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._read("SELECT * FROM subscription_tick WHERE name = ? ORDER BY id DESC LIMIT ?", (name, limit))
        out = []
        for r in rows:
            d = dict(r)
            d["summary"] = json.loads(d["summary"]) if d["summary"] else None
            out.append(d)
        return out

    # ------------------------------------------------------------------ dates
    def upsert_dates(self, name: str, found: dict[dt.date, list[dict[str, Any]]]) -> list[dt.date]:
        """Record the dates found in the catalog; a known date gains the products it lacked.  Returns the new dates."""
        now = _iso(utcnow())
        new: list[dt.date] = []
        with self.transaction() as con:
            for d, prods in sorted(found.items()):
                row = con.execute("SELECT products, status FROM subscription_date WHERE name = ? AND date = ?",
                                  (name, d.isoformat())).fetchone()
                if row is None:
                    con.execute("INSERT INTO subscription_date (name, date, products, status, first_seen, updated) "
                                "VALUES (?, ?, ?, 'new', ?, ?)", (name, d.isoformat(), json.dumps(prods), now, now))
                    new.append(d)
                    continue
                known = json.loads(row["products"])
                ids = {p["id"] for p in known}
                extra = [p for p in prods if p["id"] not in ids]
                if extra and row["status"] != "done":
                    con.execute("UPDATE subscription_date SET products = ?, updated = ? WHERE name = ? AND date = ?",
                                (json.dumps(known + extra), now, name, d.isoformat()))
        return new

    def dates(self, name: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT * FROM subscription_date WHERE name = ? ORDER BY date", (name,))
        out = []
        for r in rows:
            d = dict(r)
            d["products"] = json.loads(d["products"])
            d["date"] = dt.date.fromisoformat(d["date"])
            d["next_attempt"] = _parse(d["next_attempt"])
            out.append(d)
        return out

    def date_failed(self, name: str, date: dt.date, error: str, retry: RetryPolicy,
                    now: dt.datetime | None = None) -> dict[str, Any]:
        """Record a failure of ``date``: retried after the policy's backoff, ``given_up`` after its last attempt."""
        now = now or utcnow()
        with self.transaction() as con:
            row = con.execute("SELECT attempts FROM subscription_date WHERE name = ? AND date = ?",
                              (name, date.isoformat())).fetchone()
            n = (row["attempts"] if row else 0) + 1
            status = "given_up" if n >= retry.max_attempts else "failed"
            nxt = None if status == "given_up" else now + retry.delay(n)
            con.execute("UPDATE subscription_date SET status = ?, attempts = ?, next_attempt = ?, error = ?, updated = ? "
                        "WHERE name = ? AND date = ?",
                        (status, n, _iso(nxt), error, _iso(now), name, date.isoformat()))
        return {"date": date.isoformat(), "status": status, "attempts": n, "next_attempt": _iso(nxt), "error": error}

    def date_done(self, name: str, date: dt.date) -> None:
        with self.transaction() as con:
            con.execute("UPDATE subscription_date SET status = 'done', error = NULL, next_attempt = NULL, updated = ? "
                        "WHERE name = ? AND date = ?", (_iso(utcnow()), name, date.isoformat()))

    # ------------------------------------------------------------------ pairs
    def pairs(self, name: str) -> dict[tuple[str, dt.date], dict[str, Any]]:
        rows = self._read("SELECT * FROM subscription_pair WHERE name = ?", (name,))
        return {(r["swath"], dt.date.fromisoformat(r["date"])): dict(r) for r in rows}

    def pair_started(self, name: str, swath: str, date: dt.date, tick: int) -> int:
        with self.transaction() as con:
            row = con.execute("INSERT INTO subscription_pair_run (name, swath, date, tick, started, status) "
                              "VALUES (?, ?, ?, ?, ?, 'running') RETURNING id",
                              (name, swath, date.isoformat(), tick, _iso(utcnow()))).fetchone()
            return int(row[0])

    def pair_done(self, run_id: int, name: str, swath: str, date: dt.date, reference: dt.date, path: Path,
                  tick: int, seconds: float, adopted: bool = False) -> None:
        """Close the pair run and record the finished pair, in one transaction."""
        now = _iso(utcnow())
        with self.transaction() as con:
            con.execute("UPDATE subscription_pair_run SET status = ?, finished = ? WHERE id = ?",
                        ("adopted" if adopted else "done", now, run_id))
            con.execute("INSERT INTO subscription_pair (name, swath, date, reference, path, tick, seconds, finished) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, swath, date) DO UPDATE SET "
                        "reference = excluded.reference, path = excluded.path, tick = excluded.tick, "
                        "seconds = excluded.seconds, finished = excluded.finished",
                        (name, swath, date.isoformat(), reference.isoformat(), str(path), tick, seconds, now))

    def pair_failed(self, run_id: int, error: str) -> None:
        with self.transaction() as con:
            con.execute("UPDATE subscription_pair_run SET status = 'failed', finished = ?, error = ? WHERE id = ?",
                        (_iso(utcnow()), error, run_id))

    def pair_runs(self, name: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT * FROM subscription_pair_run WHERE name = ? ORDER BY id", (name,))
        return [dict(r) | {"date": dt.date.fromisoformat(r["date"])} for r in rows]

    # ------------------------------------------------------------------ versions
    def add_version(self, name: str, version: int, reference: dt.date, dates: list[dt.date], n_ps: dict[str, int],
                    params: dict[str, Any], path: Path, tick: int) -> None:
        with self.transaction() as con:
            con.execute("INSERT INTO subscription_version (name, version, reference, dates, n_ps, params, path, tick, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (name, version, reference.isoformat(), json.dumps([d.isoformat() for d in dates]), json.dumps(n_ps),
                         json.dumps(params, default=str), str(path), tick, _iso(utcnow())))

    def versions(self, name: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT * FROM subscription_version WHERE name = ? ORDER BY version", (name,))
        out = []
        for r in rows:
            d = dict(r)
            d["dates"] = [dt.date.fromisoformat(x) for x in json.loads(d["dates"])]
            d["n_ps"] = json.loads(d["n_ps"])
            d["params"] = json.loads(d["params"])
            d["reference"] = dt.date.fromisoformat(d["reference"])
            out.append(d)
        return out

    # ------------------------------------------------------------------ overview
    def describe(self, name: str) -> dict[str, Any]:
        """JSON-ready state of one subscription (``systematic show``, ``GET /subscriptions/NAME``)."""
        row = self.row(name)
        dates = self.dates(name)
        pairs = self.pairs(name)
        versions = self.versions(name)
        return {
            "name": name,
            "status": row["status"],
            "spec": json.loads(row["spec"]),
            "reference_date": row["reference_date"],
            "subswaths": json.loads(row["subswaths"]) if row["subswaths"] else None,
            "created": row["created"],
            "next_tick": row["next_tick"],
            "last_error": row["last_error"],
            "ticking": self.lock_info(name) is not None,
            "dates": [{"date": d["date"].isoformat(), "status": d["status"], "attempts": d["attempts"],
                       "next_attempt": _iso(d["next_attempt"]), "error": d["error"],
                       "products": [p["id"] for p in d["products"]]} for d in dates],
            "pairs": sorted(f"{sw}:{d.isoformat()}" for sw, d in pairs),
            "versions": [{"version": v["version"], "reference": v["reference"].isoformat(),
                          "dates": [x.isoformat() for x in v["dates"]], "n_ps": v["n_ps"], "created": v["created"],
                          "path": v["path"]} for v in versions],
            "last_ticks": self.ticks(name, 5),
        }
