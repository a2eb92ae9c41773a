"""Subscriptions in the running service: routes, guards, ticks as queued jobs, a restart mid-tick.

One ``snapstamps serve`` on loopback (SQLite store, at most 1 job at once, an API token, a stand-in
CWL runner for psi; the scheduler's period is an hour, so ticks run when asked for: ``POST
/subscriptions/NAME/tick`` makes the subscription due and wakes the scheduler, which claims and
queues it exactly as at its period) and the loopback STAC API of
tests/test_systematic.py over a few simulated SAFE dates.  The psi ``tropo_delay_dir`` parameter
(a server folder) is checked against the data roots through the same server.  Every wait has a
generous deadline; nothing is timed.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Iterator

import pytest
from test_service import TIMEOUT, Server, _kill_workers, postgres, stack  # noqa: F401  (fixtures)
from test_service_ops import _config, _wait_for

requests = pytest.importorskip("requests")
pytest.importorskip("xarray_sentinel")
pytest.importorskip("pystac_client")

from test_systematic import StacApi  # noqa: E402

from snapstamps.errors import InputError  # noqa: E402
from snapstamps.simulate.safe_stack import SafeSimConfig, default_base, simulate_safe_stack  # noqa: E402
from snapstamps.systematic.store import SubscriptionStore  # noqa: E402

try:
    default_base()
    _NO_BASE = None
except InputError as exc:
    _NO_BASE = str(exc)

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
N_DATES = 8


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if _NO_BASE:
        pytest.skip(f"the SAFE simulator's base files are missing: {_NO_BASE}")
    d = tmp_path_factory.mktemp("wire-sim")
    s = simulate_safe_stack(d, SafeSimConfig(n_dates=N_DATES, seed=5, n_samples=300, reference_index=0))
    products = sorted((d / p for p in s["products"]), key=lambda p: p.name.split("_")[5])
    c = s["scene_centre_lonlat"]
    from snapstamps.ifg.safe import product_info

    info = product_info(products[0])
    dates = [dt.date(int(t[:4]), int(t[4:6]), int(t[6:8])) for t in (p.name.split("_")[5] for p in products)]
    return {"products": products, "dem": d / s["dem"], "orbits": d / "orbits", "dates": dates,
            "relative_orbit": info.relative_orbit, "orbit_state": info.pass_direction.lower(),
            "bbox": [c[0] - 0.015, c[1] - 0.01, c[0] + 0.015, c[1] + 0.01]}


@pytest.fixture(scope="module")
def api(sim: dict[str, Any]) -> Iterator[StacApi]:
    with StacApi(sim["products"]) as a:
        yield a


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("wire")
    # the tick processes of subscription "again" pause 10 s after their first recorded pair, so that
    # the restart test stops the server mid-tick however fast the pairs run (tests/hooks/pause_after_first_pair)
    hook = Path(__file__).resolve().parent / "hooks" / "pause_after_first_pair"
    s = Server(base / "data", env={"SNAPSTAMPS_MAX_JOBS": "1", "SNAPSTAMPS_API_TOKEN": TOKEN,
                                   "SNAPSTAMPS_SUBSCRIPTION_PERIOD_S": "3600", "SNAPSTAMPS_FETCH_ALLOW_PRIVATE": "1",
                                   "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
                                   "SNAPSTAMPS_TEST_PAUSE_AFTER_FIRST_PAIR_S": "10",
                                   "SNAPSTAMPS_TEST_PAUSE_SUBSCRIPTION": "again"},
               config=_config(base))
    s.start()
    try:
        yield s
    finally:
        s.stop()
        _kill_workers(s.data_dir)


def _spec(api: StacApi, sim: dict[str, Any], name: str, **over: Any) -> dict[str, Any]:
    spec = {"name": name, "stac_api": api.url, "collection": "sentinel-1-slc", "aoi": sim["bbox"],
            "relative_orbit": sim["relative_orbit"], "orbit_state": sim["orbit_state"], "polarisation": "VV",
            "reference": sim["dates"][0].isoformat(), "start": sim["dates"][0].isoformat(),
            "trigger": {"min_dates": 20, "every": 1}, "dem": str(sim["dem"]), "orbits": str(sim["orbits"]),
            "quicklooks": False, "interval_minutes": 600}
    spec.update(over)
    return spec


def _ticks(srv: Server) -> list[dict[str, Any]]:
    r = requests.get(f"{srv.url}/jobs", params={"processID": "systematic-tick", "limit": 100, "f": "json"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["jobs"]


def _finished(srv: Server, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        st = requests.get(f"{srv.url}/jobs/{job_id}?f=json", timeout=60).json()
        return st if st["status"] in ("successful", "failed") else None

    return _wait_for(f"job {job_id} finished", done)


def _summary(srv: Server, job_id: str) -> dict[str, Any]:
    r = requests.get(f"{srv.url}/jobs/{job_id}/results?f=json", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["summary"]


def _new_tick(srv: Server, known: set[str]) -> dict[str, Any]:
    return _wait_for("a new systematic-tick job", lambda: next((j for j in _ticks(srv) if j["jobID"] not in known), None))


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _err(r: Any, status: int, needle: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    doc = r.json()
    assert doc["status"] == status and doc["type"].startswith("http") and needle in doc["detail"], doc
    assert "\n" not in doc["detail"]
    return doc


# ---------------------------------------------------------------------- routes and guards
def test_routes_are_documented_guarded_and_confined_to_the_data_roots(srv: Server, api: StacApi, sim: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    oas = requests.get(f"{srv.url}/openapi?f=json", timeout=60).json()
    assert {"/subscriptions", "/subscriptions/{name}", "/subscriptions/{name}/pause", "/subscriptions/{name}/resume",
            "/subscriptions/{name}/tick"} <= set(oas["paths"])
    assert "requestBody" in oas["paths"]["/subscriptions"]["post"]
    assert any(t["name"] == "subscriptions" for t in oas["tags"])

    url = f"{srv.url}/subscriptions"
    spec = _spec(api, sim, "guarded")
    _err(requests.post(url, json=spec, timeout=60), 401, "Bearer")
    _err(requests.post(url, json=spec, headers={"Authorization": "Bearer wrong"}, timeout=60), 401, "Bearer")
    _err(requests.post(url, data=b"{" + b" " * (2 * 1024 * 1024) + b"}", headers={**AUTH, "Content-Type": "application/json"},
                       timeout=60), 413, "larger")
    _err(requests.post(url, data="[" * 5000 + "]" * 5000, headers={**AUTH, "Content-Type": "application/json"}, timeout=60),
         400, "nests deeper")
    _err(requests.post(url, json={**spec, "evil": 1}, headers=AUTH, timeout=60), 400, "evil")
    # server paths only under the data roots (the sim and the data dir are under pytest's base folder)
    for over, needle in [({"dem": "/etc/passwd"}, "dem: /etc/passwd is outside"),
                         ({"orbits": "/proc/self"}, "orbits"),
                         ({"destination": "/tmp/../etc/elsewhere"}, "destination"),
                         ({"psi_params": {"tropo_delay_dir": "/etc"}}, "tropo_delay_dir"),
                         ({"psi_params": {"tropo_delay_dir": "http://169.254.169.254/x"}}, "tropo_delay_dir")]:
        _err(requests.post(url, json={**spec, **over}, headers=AUTH, timeout=60), 400, needle)
    # the STAC API goes through the fetch policy (private addresses are allowed on this test server only)
    _err(requests.post(url, json={**spec, "stac_api": "ftp://127.0.0.1/"}, headers=AUTH, timeout=60), 400, "stac_api")
    assert requests.get(url, timeout=60).json()["subscriptions"] == []

    # create, read, pause, delete (no tick is asked for: none runs)
    delay = sim["dem"].parent / "delays"
    delay.mkdir(exist_ok=True)
    r = requests.post(url, json={**spec, "psi_params": {"tropo_delay_dir": str(delay)}}, headers=AUTH, timeout=60)
    assert r.status_code == 201 and r.headers["Location"].endswith("/subscriptions/guarded"), r.text
    assert requests.post(f"{url}/guarded/pause", headers=AUTH, timeout=60).json()["status"] == "paused"
    _err(requests.post(url, json=spec, headers=AUTH, timeout=60), 409, "exists")
    assert [s["name"] for s in requests.get(url, timeout=60).json()["subscriptions"]] == ["guarded"]
    assert requests.get(f"{url}/guarded", timeout=60).json()["spec"]["psi_params"] == {"tropo_delay_dir": str(delay)}
    _err(requests.post(f"{url}/guarded/tick", headers=AUTH, timeout=60), 409, "paused")
    _err(requests.get(f"{url}/nope", timeout=60), 404, "nope")
    _err(requests.delete(f"{url}/guarded", timeout=60), 401, "Bearer")
    assert requests.delete(f"{url}/guarded", headers=AUTH, timeout=60).status_code == 204
    _err(requests.get(f"{url}/guarded", timeout=60), 404, "guarded")
    assert _ticks(srv) == []


def test_psi_tropo_delay_dir_only_under_the_data_roots(srv: Server, stack: Path, tmp_path: Path) -> None:  # noqa: F811
    """``parameters.tropo_delay_dir`` is a server folder: outside the data roots it is refused before any job."""
    url = f"{srv.url}/processes/psi/execution"
    headers = {**AUTH, "Prefer": "respond-async"}
    for value, needle in [("/etc", "/etc is outside"), (str(tmp_path / ".." / ".." / ".." / ".." / "etc"), "outside"),
                          ("file:///etc", "outside"), ("http://169.254.169.254/latest", "http:// is not supported"),
                          ("relative/dir", "not an absolute path"), (str(tmp_path / "missing"), "no such folder")]:
        for params in ({"tropo_delay_dir": value}, {"tropo_d": value}):  # a unique prefix names it too
            r = requests.post(url, json={"inputs": {"stack": str(stack), "parameters": params}}, headers=headers, timeout=60)
            doc = _err(r, 400, needle)
            assert "tropo_delay_dir" in doc["detail"]
    jobs = requests.get(f"{srv.url}/jobs?processID=psi&f=json", timeout=60).json()
    assert jobs["numberMatched"] == 0  # nothing was created
    # the same request with a folder under the roots is accepted (the stand-in runner; dismissed at once)
    r = requests.post(url, json={"inputs": {"stack": str(stack), "parameters": {"tropo_delay_dir": str(tmp_path)}}},
                      headers=headers, timeout=60)
    assert r.status_code == 201, r.text
    assert requests.delete(f"{srv.url}/jobs/{r.json()['jobID']}", headers=AUTH, timeout=120).status_code == 200


# ---------------------------------------------------------------------- ticks as jobs
@pytest.mark.slow
def test_ticks_run_as_queued_jobs_under_the_concurrency_limit(srv: Server, api: StacApi, sim: dict[str, Any]) -> None:
    d = sim["dates"]
    api.publish(3)
    r = requests.post(f"{srv.url}/subscriptions", json=_spec(api, sim, "rome"), headers=AUTH, timeout=60)
    assert r.status_code == 201, r.text
    assert requests.post(f"{srv.url}/subscriptions/rome/tick", headers=AUTH, timeout=60).status_code == 202
    first = _new_tick(srv, set())
    st = _finished(srv, first["jobID"])
    assert st["status"] == "successful" and st["processID"] == "systematic-tick", st
    s1 = _summary(srv, first["jobID"])
    assert s1["subscription"] == "rome" and s1["pairs_run"] == [f"IW1:{d[1]}", f"IW1:{d[2]}"], s1
    state = requests.get(f"{srv.url}/subscriptions/rome", timeout=60).json()
    assert state["pairs"] == [f"IW1:{d[1]}", f"IW1:{d[2]}"] and state["last_ticks"][0]["status"] == "done"
    assert _t(state["next_tick"]) > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=500)  # its interval

    # a tick asked for while an echo job holds the only slot waits in the queue behind it
    api.publish(4)
    echo = requests.post(f"{srv.url}/processes/echo/execution", json={"inputs": {"echoInput": "x", "pause": 4}},
                         headers={**AUTH, "Prefer": "respond-async"}, timeout=60)
    assert echo.status_code == 201, echo.text
    assert requests.post(f"{srv.url}/subscriptions/rome/tick", headers=AUTH, timeout=60).status_code == 202
    second = _new_tick(srv, {first["jobID"]})
    st2 = _finished(srv, second["jobID"])
    e = _finished(srv, echo.json()["jobID"])
    assert st2["status"] == "successful" and e["status"] == "successful", (st2, e)
    assert _t(st2["started"]) >= _t(e["finished"])  # the limit of 1 job held the tick back
    s2 = _summary(srv, second["jobID"])
    assert s2["pairs_run"] == [f"IW1:{d[3]}"] and s2["search"]["new_dates"] == [d[3].isoformat()], s2
    # only finished pairs are recorded, each once
    runs = SubscriptionStore(srv.data_dir).pair_runs("rome")
    assert sorted((r["date"], r["status"]) for r in runs) == [(x, "done") for x in d[1:4]]
    assert requests.post(f"{srv.url}/subscriptions/rome/pause", headers=AUTH, timeout=60).status_code == 200


@pytest.mark.slow
def test_a_restart_in_the_middle_of_a_tick_finishes_it_without_repeating_pairs(srv: Server, api: StacApi,
                                                                                sim: dict[str, Any]) -> None:
    d = sim["dates"]
    api.publish(N_DATES)
    known = {j["jobID"] for j in _ticks(srv)}
    r = requests.post(f"{srv.url}/subscriptions", json=_spec(api, sim, "again"), headers=AUTH, timeout=60)
    assert r.status_code == 201, r.text
    assert requests.post(f"{srv.url}/subscriptions/again/tick", headers=AUTH, timeout=60).status_code == 202
    job = _new_tick(srv, known)
    store = SubscriptionStore(srv.data_dir)

    def first_pair_done() -> bool:
        return any(r["status"] == "done" for r in store.pair_runs("again"))

    _wait_for("the tick's first finished pair", first_pair_done, every=0.1)
    srv.stop()  # clean shutdown: the tick's worker is stopped and its job queued again
    done_before = {(r["swath"], r["date"]) for r in store.pair_runs("again") if r["status"] == "done"}
    assert len(done_before) < N_DATES - 1, "the tick ended before the server stopped"
    assert store.ticks("again", 1)[0]["status"] in ("running", "failed")  # cut short
    srv.restart()
    st = _finished(srv, job["jobID"])  # the same job, run again after the restart
    assert st["status"] == "successful", st
    s = _summary(srv, job["jobID"])
    runs = store.pair_runs("again")
    done = [(r["swath"], r["date"]) for r in runs if r["status"] in ("done", "adopted")]
    assert sorted(done) == [("IW1", x) for x in d[1:]]  # every pair once: none of the finished ones again
    rerun = {("IW1", dt.date.fromisoformat(p.split(":", 1)[1])) for p in s["pairs_run"]}
    assert rerun and not rerun & done_before, (s["pairs_run"], done_before)
    print(f"restart mid-tick: {len(done_before)} pair(s) finished before the stop, {len(rerun)} after the restart")
    cut, last = store.ticks("again", 2)[1], store.ticks("again", 1)[0]
    assert last["status"] == "done" and last["summary"]["pairs_run"] == s["pairs_run"], last
    # stopped by SIGTERM it records itself (failed, saying why); killed after the grace, the next one marks it interrupted
    assert (cut["status"] == "failed" and "stopped" in cut["error"]) or cut["status"] == "interrupted", cut
    assert [j["jobID"] for j in _ticks(srv) if j["jobID"] not in known] == [job["jobID"]]  # no second tick job
    state = requests.get(f"{srv.url}/subscriptions/again", timeout=60).json()
    assert state["ticking"] is False and state["last_error"] is None
    assert [x["status"] for x in state["dates"]] == ["done"] * N_DATES  # the stop failed no date (no retry wait)


# ---------------------------------------------------------------------- PostgreSQL
@pytest.mark.slow
def test_on_postgresql_the_subscriptions_live_in_the_service_database(postgres: Any, api: StacApi,  # noqa: F811
                                                                       sim: dict[str, Any],
                                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    import psycopg

    db = postgres.database()
    base = tmp_path_factory.mktemp("wire-pg")
    pg = Server(base / "data", db=db, env={"SNAPSTAMPS_MAX_JOBS": "1", "SNAPSTAMPS_SUBSCRIPTION_PERIOD_S": "3600",
                                           "SNAPSTAMPS_FETCH_ALLOW_PRIVATE": "1"}, config=_config(base))
    pg.start()
    try:
        d = sim["dates"]
        api.publish(3)
        r = requests.post(f"{pg.url}/subscriptions", json=_spec(api, sim, "pg"), timeout=60)
        assert r.status_code == 201, r.text
        assert requests.post(f"{pg.url}/subscriptions/pg/tick", timeout=60).status_code == 202
        job = _new_tick(pg, set())
        assert _finished(pg, job["jobID"])["status"] == "successful"
        assert _summary(pg, job["jobID"])["pairs_run"] == [f"IW1:{d[1]}", f"IW1:{d[2]}"]
        with psycopg.connect(db) as conn:
            pairs = conn.execute("SELECT swath, date FROM subscription_pair WHERE name = 'pg' ORDER BY date").fetchall()
            ticks = conn.execute("SELECT status FROM subscription_tick WHERE name = 'pg'").fetchall()
            locks = conn.execute("SELECT COUNT(*) FROM subscription_lock").fetchone()
        assert pairs == [("IW1", d[1].isoformat()), ("IW1", d[2].isoformat())] and ticks == [("done",)] and locks == (0,)
        # nothing of it in an SQLite file of the data dir; the CLI with the same SNAPSTAMPS_DB sees it
        assert not (pg.data_dir / "snapstamps.sqlite").exists()
        from snapstamps.systematic.store import SubscriptionStore as Store

        assert Store(tmp_path_factory.mktemp("elsewhere"), connection=db).describe("pg")["pairs"] == [
            f"IW1:{d[1]}", f"IW1:{d[2]}"]
    finally:
        pg.stop()
        _kill_workers(pg.data_dir)


def test_an_unreachable_subscription_store_is_503_not_a_crash(tmp_path: Path) -> None:
    """The routes start without their database and answer 503 (Retry-After) while it cannot be opened."""
    flask = pytest.importorskip("flask")
    from snapstamps.systematic.http import register

    (tmp_path / "db-is-a-folder").mkdir()
    app = flask.Flask("subscriptions-503")
    register(app, tmp_path / "data", connection=str(tmp_path / "db-is-a-folder"))  # no exception: created lazily
    r = app.test_client().get("/subscriptions")
    assert r.status_code == 503 and r.headers["Retry-After"] == "30", r.get_data()
    assert r.get_json()["code"] == "ServiceUnavailable"
