"""The service's store: jobs (and the tables of other components) in SQLite or PostgreSQL.

One database holds everything the service keeps: the ``jobs`` table of this module, and the
tables other components add (subscriptions...).  Two back-ends behind one small API:

* **SQLite** (embedded default): one file ``<data dir>/snapstamps.sqlite`` in WAL mode; every
  operation is one short transaction on its own connection (threads, worker processes and
  several server processes share the file safely; writers take ``BEGIN IMMEDIATE``).  A full or
  read-only disk makes the write fail and roll back: the file is never left half-written.
* **PostgreSQL** (production): ``postgresql://user:pass@host:port/db`` (or any libpq DSN,
  ``host=/socket/dir dbname=...``), with psycopg 3.  The queue's claim step takes a transaction
  advisory lock so that several server processes never start more than ``max_running`` jobs.

API (for other components too)::

    store = open_store("sqlite:////data/snapstamps.sqlite")   # or a path, or postgresql://...
    with store.transaction() as tx:          # one transaction; commits on success
        tx.execute("CREATE TABLE IF NOT EXISTS subs (id TEXT PRIMARY KEY, body TEXT)")
        tx.execute("INSERT INTO subs VALUES (?, ?)", ("a", "{}"))     # '?' placeholders
        rows = tx.query("SELECT * FROM subs WHERE id = ?", ("a",))  # list of dicts
    store.serial_pk    # "INTEGER PRIMARY KEY AUTOINCREMENT" or "BIGSERIAL PRIMARY KEY"

Jobs: :meth:`JobStore.add_job`, :meth:`~JobStore.update_job`, :meth:`~JobStore.get_job`,
:meth:`~JobStore.delete_job`, :meth:`~JobStore.list_jobs` (filters, newest first, count) and the
queue's :meth:`~JobStore.claim_next` (FIFO, at most N dispatched at once).

Every failure of the database (disk full, read-only file system, server unreachable) is raised
as :class:`StoreUnavailable` (the service answers 503); the next operation tries afresh, so the
service recovers by itself when the cause is gone.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

#: Statuses of a job that still holds (or waits for) a slot.
ACTIVE = ("accepted", "running")
#: Columns of the ``jobs`` table (besides ``seq``), in order.
JOB_COLUMNS = ("identifier", "type", "process_id", "status", "message", "progress", "created", "started",
               "finished", "updated", "location", "mimetype", "queue_state", "worker_pid", "worker_host",
               "dispatched", "spec")
_JSON_COLUMNS = ("spec",)


class StoreError(RuntimeError):
    """A store operation failed."""


class StoreUnavailable(StoreError):
    """The database cannot be written or reached now (disk full, read-only, server down)."""


def _jobs_ddl(serial_pk: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS jobs (
            seq {serial_pk},
            identifier TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL DEFAULT 'process',
            process_id TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT,
            progress INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL,
            started TEXT,
            finished TEXT,
            updated TEXT,
            location TEXT,
            mimetype TEXT,
            queue_state TEXT,
            worker_pid INTEGER,
            worker_host TEXT,
            dispatched TEXT,
            spec TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created, seq)",
        "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (queue_state, status, seq)",
    ]


class Transaction:
    """One open transaction: :meth:`execute` and :meth:`query` with ``?`` placeholders."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        cur = self.conn.execute(self._sql(sql), tuple(params))
        return cur.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query as dicts."""
        cur = self.conn.execute(self._sql(sql), tuple(params))
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row)) for row in cur.fetchall()]


class JobStore:
    """Base of the two back-ends; see the module documentation."""

    dialect = ""
    serial_pk = ""

    def transaction(self, write: bool = True) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _lock_queue(self, tx: Transaction) -> None:
        """Serialise claims between processes (SQLite: BEGIN IMMEDIATE does it already)."""

    # ------------------------------------------------------------------ schema
    _schema_ready = False

    def ensure_schema(self) -> None:
        """Create the ``jobs`` table if it is missing."""
        with self.transaction() as tx:
            for stmt in _jobs_ddl(self.serial_pk):
                tx.execute(stmt)
        self._schema_ready = True

    def _ready(self) -> None:
        if not self._schema_ready:
            self.ensure_schema()

    def _try_schema(self) -> None:
        """Create the schema now if the database can be reached; otherwise on first use."""
        try:
            self.ensure_schema()
        except StoreUnavailable:
            pass

    # ------------------------------------------------------------------ jobs
    @staticmethod
    def _row(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        for key in _JSON_COLUMNS:
            if row.get(key):
                try:
                    row[key] = json.loads(row[key])
                except ValueError:
                    row[key] = None
        return row

    @staticmethod
    def _value(key: str, value: Any) -> Any:
        if key in _JSON_COLUMNS and value is not None and not isinstance(value, str):
            return json.dumps(value)
        return value

    def add_job(self, job: dict[str, Any]) -> str:
        """Insert a job (a dict with at least identifier, process_id, status, created)."""
        self._ready()
        cols = [c for c in JOB_COLUMNS if c in job]
        with self.transaction() as tx:
            tx.execute(f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                       [self._value(c, job[c]) for c in cols])
        return str(job["identifier"])

    def update_job(self, job_id: str, fields: dict[str, Any], only_if_status: Sequence[str] | None = None) -> bool:
        """Set ``fields`` of the job; with ``only_if_status``, only while its status is one of them.

        Returns False when no such job (or it has another status)."""
        self._ready()
        fields = {k: v for k, v in fields.items() if k in JOB_COLUMNS and k != "identifier"}
        if not fields:
            return self.get_job(job_id) is not None
        sets = ", ".join(f"{k} = ?" for k in fields)
        params: list[Any] = [self._value(k, v) for k, v in fields.items()] + [job_id]
        where = "identifier = ?"
        if only_if_status:
            where += f" AND status IN ({', '.join('?' for _ in only_if_status)})"
            params += list(only_if_status)
        with self.transaction() as tx:
            return tx.execute(f"UPDATE jobs SET {sets} WHERE {where}", params) > 0

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """The job, or None."""
        self._ready()
        with self.transaction(write=False) as tx:
            rows = tx.query("SELECT * FROM jobs WHERE identifier = ?", (job_id,))
        return self._row(rows[0]) if rows else None

    def delete_job(self, job_id: str) -> bool:
        """Remove the job; False if there was none."""
        self._ready()
        with self.transaction() as tx:
            return tx.execute("DELETE FROM jobs WHERE identifier = ?", (job_id,)) > 0

    def list_jobs(self, status: Sequence[str] | None = None, process_ids: Sequence[str] | None = None,
                  types: Sequence[str] | None = None, created_min: str | None = None,
                  created_max: str | None = None, limit: int | None = None, offset: int = 0,
                  newest_first: bool = True, where_extra: str = "",
                  params_extra: Sequence[Any] = ()) -> tuple[list[dict[str, Any]], int]:
        """Jobs matching the filters (newest first by default) and how many match in all."""
        self._ready()
        where, params = ["1 = 1"], []
        for col, values in (("status", status), ("process_id", process_ids), ("type", types)):
            if values:
                where.append(f"{col} IN ({', '.join('?' for _ in values)})")
                params += list(values)
        if created_min:
            where.append("created >= ?")
            params.append(created_min)
        if created_max:
            where.append("created <= ?")
            params.append(created_max)
        if where_extra:
            where.append(where_extra)
            params += list(params_extra)
        cond = " AND ".join(where)
        order = "DESC" if newest_first else "ASC"
        page = ""
        if limit is not None:
            page = f" LIMIT {int(limit)} OFFSET {int(offset)}"
        elif offset:
            page = f" LIMIT -1 OFFSET {int(offset)}" if self.dialect == "sqlite" else f" OFFSET {int(offset)}"
        with self.transaction(write=False) as tx:
            n = tx.query(f"SELECT COUNT(*) AS n FROM jobs WHERE {cond}", params)[0]["n"]
            rows = tx.query(f"SELECT * FROM jobs WHERE {cond} ORDER BY created {order}, seq {order}{page}", params)
        return [self._row(r) for r in rows], int(n)  # type: ignore[misc]

    def claim_next(self, max_running: int, host: str, now: str) -> dict[str, Any] | None:
        """Mark the oldest queued job dispatched (to ``host``) if fewer than ``max_running`` are; return it.

        Atomic across threads and processes (one write transaction; PostgreSQL: plus an
        advisory lock), so the bound holds whatever the number of server processes.
        """
        self._ready()
        with self.transaction() as tx:
            self._lock_queue(tx)
            busy = tx.query("SELECT COUNT(*) AS n FROM jobs WHERE queue_state = 'dispatched' AND status IN (?, ?)",
                            ACTIVE)[0]["n"]
            if int(busy) >= max_running:
                return None
            rows = tx.query("SELECT * FROM jobs WHERE queue_state = 'queued' AND status = 'accepted' "
                            "ORDER BY seq ASC LIMIT 1")
            if not rows:
                return None
            job = rows[0]
            tx.execute("UPDATE jobs SET queue_state = 'dispatched', worker_host = ?, worker_pid = NULL, dispatched = ?, "
                       "updated = ?, message = ? WHERE identifier = ?",
                       (host, now, now, "accepted: starting the worker", job["identifier"]))
        job.update(queue_state="dispatched", worker_host=host, dispatched=now, worker_pid=None)
        return self._row(job)

    def count_running(self) -> int:
        """How many jobs hold a slot now."""
        self._ready()
        with self.transaction(write=False) as tx:
            return int(tx.query("SELECT COUNT(*) AS n FROM jobs WHERE queue_state = 'dispatched' AND status IN (?, ?)",
                                ACTIVE)[0]["n"])


# ---------------------------------------------------------------------- SQLite
class SQLiteStore(JobStore):
    """Jobs in one SQLite file (WAL)."""

    dialect = "sqlite"
    serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._wal = False
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        self._try_schema()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not self._wal:
            with self._lock:
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                    self._wal = True
                    # One connection stays open, so the -wal and -shm files are kept rather than
                    # removed and re-created by each operation (which a full disk would refuse).
                    self._keeper = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False)
                    self._keeper.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
        return conn

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        """One transaction on a fresh connection (``BEGIN IMMEDIATE`` to write; a read-only one
        still works on a full disk); commit, or roll back on error."""
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Transaction(conn, self.dialect)
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"job store: {exc}") from exc
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            raise StoreUnavailable(f"job store unavailable: {_sqlite_reason(exc)}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"job store unavailable: {exc.strerror or exc}") from exc
        finally:
            if conn is not None:
                conn.close()


def _sqlite_reason(exc: Exception) -> str:
    text = str(exc)
    if "full" in text:
        return "the disk is full"
    if "I/O error" in text:
        return "disk I/O error (the disk may be full or failing)"
    if "readonly" in text or "read-only" in text:
        return "the store is read-only"
    if "locked" in text or "busy" in text:
        return "the store is busy"
    return text.splitlines()[0][:200] if text else type(exc).__name__


# ---------------------------------------------------------------------- PostgreSQL
class PostgresStore(JobStore):
    """Jobs in a PostgreSQL database (psycopg 3)."""

    dialect = "postgresql"
    serial_pk = "BIGSERIAL PRIMARY KEY"
    #: key of the advisory lock that serialises queue claims
    QUEUE_LOCK = 0x5A57A3

    def __init__(self, dsn: str, connect_timeout: int = 10) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise StoreError("PostgreSQL job store needs psycopg: pip install 'snapstamps[postgres]'") from exc
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._try_schema()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        """One transaction on a fresh connection; commit, or roll back on error."""
        import psycopg

        try:
            with psycopg.connect(self.dsn, connect_timeout=self.connect_timeout) as conn:
                with conn.transaction():
                    yield Transaction(conn, self.dialect)
        except psycopg.errors.UniqueViolation as exc:
            raise StoreError(f"job store: {exc}") from exc
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise StoreUnavailable(f"job store unavailable: {first}") from exc

    def _lock_queue(self, tx: Transaction) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (self.QUEUE_LOCK,))


_PG_RE = re.compile(r"^(postgres|postgresql)(\+\w+)?://")


def open_store(connection: str | Path) -> JobStore:
    """The store named by ``connection``: ``postgresql://...`` (or a libpq ``key=value`` DSN), or
    ``sqlite:///PATH`` / a plain file path (SQLite)."""
    text = str(connection)
    if _PG_RE.match(text):
        return PostgresStore(_PG_RE.sub("postgresql://", text))
    if "dbname=" in text or text.startswith("host="):
        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite://"):]
    return SQLiteStore(text)
