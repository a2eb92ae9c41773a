"""Systematic processing: a subscription kept current by ticks against a loopback STAC API.

The SAFE simulator writes 11 dates of one small IW1 scene (300 range samples, 12 days apart,
the first date the reference); a STAC API stand-in on 127.0.0.1 serves an item per product, and
the test "publishes" dates between ticks.  The scenario, in order (the tests share one
subscription and depend on each other):

1. dates 1-3, then 1-5: each tick computes only the new pairs and grows the stack; no psi (the
   trigger wants 6 dates);
2. dates 1-6: the 6th date's pair, then psi version 1;
3. dates 1-8: exactly 2 new pairs (from the pair records), psi version 2 (every 2 new dates); its
   velocities equal a from-scratch on-demand run (``ifg-stack`` on the 8 dates, then ``psi``)
   point by point; version 1 stays readable; the collection, stack and versions validate offline;
4. unchanged catalog: a tick does no work (no pair run, nothing republished);
5. dates 1-11, date 10's measurement truncated: a ``systematic tick`` subprocess is killed after
   its first pair; the next tick finishes without computing that pair again, reports date 10
   (the file named) and goes on with date 11 (psi version 3); date 10 waits for its retry time,
   then, repaired, is retried and joins the stack.

Plus: the lock (a live tick refuses a second one; a dead one's lock is taken over), the ``auto``
reference (waits for the trigger's minimum, then the stack-overview suggestion), spec validation,
the CLI, the on-demand ``ifg-stack-extend``, and the ``stac/collections`` definitions.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("xarray_sentinel")
pytest.importorskip("pystac_client")

from snapstamps.errors import InputError
from snapstamps.simulate.safe_stack import SafeSimConfig, default_base, simulate_safe_stack
from snapstamps.systematic.model import SubscriptionError, load_subscription
from snapstamps.systematic.store import LockHeld, SubscriptionStore
from snapstamps.systematic.tick import tick

try:
    default_base()  # the real Rome sample, or the synthetic base of a clone without shared/
    _NO_BASE = None
except InputError as exc:
    _NO_BASE = str(exc)

REPO = Path(__file__).resolve().parents[1]
#: sitecustomize that makes a tick process pause after its first recorded pair (see its docstring)
PAUSE_HOOK = REPO / "tests" / "hooks" / "pause_after_first_pair"
N_DATES = 11
PSI = {"min_dates": 6, "every": 2}


# ---------------------------------------------------------------------- the STAC API stand-in
class StacApi:
    """``/``, ``/conformance``, ``/search`` (GET, POST) over the simulated products that are published.

    Filters on collection, datetime interval and the published set; records each search.
    """

    def __init__(self, products: list[Path]) -> None:
        self.products = products
        self.published: list[Path] = []
        self.searches: list[dict[str, Any]] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs, urlparse

                u = urlparse(self.path)
                conf = ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"]
                if u.path == "/":
                    root = api.url
                    self._send({"type": "Catalog", "stac_version": "1.1.0", "id": "loopback", "description": "test API",
                                "conformsTo": conf, "links": [
                                    {"rel": "self", "href": root}, {"rel": "root", "href": root},
                                    {"rel": "search", "href": root + "search", "method": "GET", "type": "application/geo+json"},
                                    {"rel": "search", "href": root + "search", "method": "POST", "type": "application/geo+json"}]})
                elif u.path == "/conformance":
                    self._send({"conformsTo": conf})
                elif u.path == "/search":
                    self._search({k: v[0] for k, v in parse_qs(u.query).items()})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                self._search(json.loads(self.rfile.read(n) or b"{}"))

            def _search(self, params: dict) -> None:
                api.searches.append(params)
                lo, hi = str(params.get("datetime", "../..")).split("/")
                feats = []
                for p in api.published:
                    item = api.item(p)
                    when = item["properties"]["datetime"]
                    if (lo not in ("", "..") and when < lo) or (hi not in ("", "..") and when > hi):
                        continue
                    feats.append(item)
                self._send({"type": "FeatureCollection", "features": feats, "links": []})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def item(self, safe: Path) -> dict[str, Any]:
        from snapstamps.ifg.safe import product_info

        info = product_info(safe)
        name = safe.name
        t = name.split("_")[5]
        iid = name.removesuffix(".SAFE")
        return {
            "type": "Feature", "stac_version": "1.1.0", "id": iid, "collection": "sentinel-1-slc",
            "geometry": {"type": "Polygon", "coordinates": [[[10.8, 41.4], [12.1, 41.4], [12.1, 41.95], [10.8, 41.95], [10.8, 41.4]]]},
            "bbox": [10.8, 41.4, 12.1, 41.95],
            "properties": {"datetime": f"{t[:4]}-{t[4:6]}-{t[6:8]}T{t[9:11]}:{t[11:13]}:{t[13:15]}Z",
                           "platform": "sentinel-1a", "sat:relative_orbit": info.relative_orbit,
                           "sat:orbit_state": info.pass_direction.lower(),
                           "sar:instrument_mode": "IW", "sar:polarizations": ["VV", "VH"], "product:type": "IW_SLC__1S"},
            "links": [{"rel": "self", "href": f"{self.url}collections/sentinel-1-slc/items/{iid}"}],
            "assets": {"safe": {"href": safe.as_uri(), "roles": ["data"], "title": "SAFE product folder"}},
        }

    def publish(self, n: int) -> None:
        self.published = self.products[:n]

    def __enter__(self) -> "StacApi":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if _NO_BASE:
        pytest.skip(f"the SAFE simulator's base files are missing: {_NO_BASE}")
    d = tmp_path_factory.mktemp("systematic") / "sim"
    s = simulate_safe_stack(d, SafeSimConfig(n_dates=N_DATES, seed=3, n_samples=300, reference_index=0))
    products = sorted((d / p for p in s["products"]), key=lambda p: p.name.split("_")[5])
    c = s["scene_centre_lonlat"]
    from snapstamps.ifg.safe import product_info

    info = product_info(products[0])
    return {"dir": d, "products": products, "dem": d / s["dem"], "orbits": d / "orbits",
            "relative_orbit": info.relative_orbit, "orbit_state": info.pass_direction.lower(),
            "dates": [dt.date.fromisoformat(f"{p.name.split('_')[5][:4]}-{p.name.split('_')[5][4:6]}-{p.name.split('_')[5][6:8]}") for p in products],
            "bbox": [c[0] - 0.015, c[1] - 0.01, c[0] + 0.015, c[1] + 0.01]}


@pytest.fixture(scope="module")
def api(sim: dict[str, Any]):
    with StacApi(sim["products"]) as a:
        yield a


def _spec(api: StacApi, sim: dict[str, Any], name: str = "rome", **over: Any) -> dict[str, Any]:
    spec = {"name": name, "stac_api": api.url, "collection": "sentinel-1-slc", "aoi": sim["bbox"],
            "relative_orbit": sim["relative_orbit"], "orbit_state": sim["orbit_state"], "polarisation": "VV",
            "reference": sim["dates"][0].isoformat(), "start": sim["dates"][0].isoformat(), "trigger": PSI,
            "psi_params": {}, "dem": str(sim["dem"]), "orbits": str(sim["orbits"]), "quicklooks": False,
            "retry": {"base_minutes": 60, "max_attempts": 5}}
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def world(sim: dict[str, Any], api: StacApi, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("systematic-data")
    store = SubscriptionStore(data)
    store.add(load_subscription(_spec(api, sim)))
    return {"data": data, "store": store, "public": data / "subscriptions" / "rome" / "public"}


def _tick_runs(store: SubscriptionStore, tick_id: int) -> list[dict[str, Any]]:
    return [r for r in store.pair_runs("rome") if r["tick"] == tick_id]


def _validate(path: Path) -> None:
    from snapstamps.stac.validate import validate_catalog

    rep = validate_catalog(path)
    assert rep.ok, rep.errors[:5]


# ---------------------------------------------------------------------- the scenario
@pytest.mark.slow
def test_first_ticks_build_the_stack_without_psi(world: dict[str, Any], api: StacApi, sim: dict[str, Any]) -> None:
    api.publish(3)
    s1 = tick(world["data"], "rome")
    d = sim["dates"]
    assert s1["reference"] == d[0].isoformat() and s1["subswaths"] == ["IW1"], json.dumps(s1)  # sub-swaths from the AOI
    assert s1["pairs_run"] == [f"IW1:{d[1]}", f"IW1:{d[2]}"]
    assert s1["psi"] is None and "3 of 6" in s1["psi_trigger"]
    assert s1["stack"]["dates"] == [x.isoformat() for x in d[:3]]
    api.publish(5)
    s2 = tick(world["data"], "rome")
    assert s2["search"]["since"] == d[2].isoformat() and s2["search"]["new_dates"] == [d[3].isoformat(), d[4].isoformat()]
    assert s2["pairs_run"] == [f"IW1:{d[3]}", f"IW1:{d[4]}"] and s2["psi"] is None
    assert s2["stack"]["appended"] == [f"IW1:{d[3]}", f"IW1:{d[4]}"]
    # the stack catalog grew by items: one pair item per secondary, the first ones unchanged
    cat = json.loads((world["public"] / "stack" / "catalog.json").read_text())
    pair_items = sorted(lk["href"] for lk in cat["links"] if lk["rel"] == "item" and "/ifg-" in lk["href"])
    assert len(pair_items) == 4
    _validate(world["public"] / "collection.json")


@pytest.mark.slow
def test_minimum_reached_runs_psi_version_1(world: dict[str, Any], api: StacApi, sim: dict[str, Any]) -> None:
    api.publish(6)
    s = tick(world["data"], "rome")
    assert s["pairs_run"] == [f"IW1:{sim['dates'][5]}"]
    assert s["psi"]["version"] == 1 and len(s["psi"]["dates"]) == 6 and s["psi"]["n_ps"]["IW1"] > 50
    item = json.loads((world["public"] / "versions" / "psi-v1.json").read_text())
    assert item["properties"]["snapstamps:dates"] == [x.isoformat() for x in sim["dates"][:6]]
    assert item["properties"]["snapstamps:n_ps"] == s["psi"]["n_ps"]
    eff = item["properties"]["snapstamps:psi_parameters_effective"]["IW1"]
    assert eff["parameters"]["da_thresh"] == 0.4 and {a["parameter"] for a in eff["adapted"]} >= {"unwrap_grid_size"}
    col = json.loads((world["public"] / "collection.json").read_text())
    assert [lk["href"] for lk in col["links"] if lk["rel"] == "latest-version"] == ["./versions/psi-v1.json"]


@pytest.mark.slow
def test_two_new_dates_two_pairs_and_version_2_equals_from_scratch(world: dict[str, Any], api: StacApi,
                                                                   sim: dict[str, Any], tmp_path: Path) -> None:
    from snapstamps.workflows.ifg_stack import IfgStackOptions, run_ifg_stack
    from snapstamps.workflows.psi import run_psi

    store = world["store"]
    api.publish(8)
    s = tick(world["data"], "rome")
    runs = _tick_runs(store, s["tick"])
    # exactly the 2 new pairs of the sub-swath were computed, as the pair records say
    assert sorted((r["swath"], r["date"]) for r in runs) == [("IW1", sim["dates"][6]), ("IW1", sim["dates"][7])]
    assert all(r["status"] == "done" for r in runs)
    assert s["psi"]["version"] == 2 and len(s["psi"]["dates"]) == 8

    # from scratch, on demand: one ifg-stack run over the 8 dates, then psi with the same parameters
    res = run_ifg_stack(IfgStackOptions(reference=sim["products"][0], secondaries=sim["products"][1:8], subswath="IW1",
                                        polarisation="VV", bbox=tuple(sim["bbox"]), dem=sim["dem"], orbits=sim["orbits"],
                                        out=tmp_path / "scratch"))
    run_psi(Path(res["insar_dir"]), tmp_path / "scratch-psi", show_progress=False)
    a = pd.read_parquet(next((world["public"] / "psi" / "v2" / "IW1").rglob("ps_points.parquet")))  # as published
    b = pd.read_parquet(tmp_path / "scratch-psi" / "ps_points.parquet")
    assert len(a) == len(b) == s["psi"]["n_ps"]["IW1"]
    m = a.merge(b, on=["line", "pixel"], suffixes=("_sub", "_scratch"))
    assert len(m) == len(a)  # the same PS
    dv = np.abs(m["mean_velocity_sub"] - m["mean_velocity_scratch"])
    print(f"version 2 vs from scratch: {len(m)} PS, max |dv| {dv.max():.2e} mm/yr")
    assert dv.max() <= 0.01  # mm/yr

    # version 1 stays readable, linked as predecessor; latest/ is version 2
    pub = world["public"]
    v1 = json.loads((pub / "versions" / "psi-v1.json").read_text())
    v2 = json.loads((pub / "versions" / "psi-v2.json").read_text())
    assert v1["properties"]["deprecated"] is True and v2["properties"]["deprecated"] is False
    assert {lk["rel"]: lk["href"] for lk in v2["links"]}["predecessor-version"] == "./psi-v1.json"
    assert {lk["rel"]: lk["href"] for lk in v1["links"]}["successor-version"] == "./psi-v2.json"
    assert len(pd.read_parquet(next((pub / "psi" / "v1" / "IW1").rglob("ps_points.parquet")))) == v1["properties"]["snapstamps:n_ps"]["IW1"]
    assert json.loads((pub / "latest" / "version.json").read_text()) == {"version": 2}
    assert not (world["data"] / "subscriptions" / "rome" / "psi" / "v2").exists()  # run state gone once published
    latest = json.loads((pub / "latest" / "IW1" / "catalog.json").read_text())
    assert latest["id"] == "rome-psi-v2-IW1"
    _validate(pub / "collection.json")


@pytest.mark.slow
def test_unchanged_catalog_tick_does_no_work(world: dict[str, Any]) -> None:
    store = world["store"]
    before = store.pair_runs("rome")
    stamp = {p: p.stat().st_mtime_ns for p in (world["public"] / "stack" / "catalog.json", world["public"] / "collection.json")}
    s = tick(world["data"], "rome")
    assert s["work"] is False and s["pairs_run"] == [] and s["psi"] is None and s["search"]["new_dates"] == []
    assert store.pair_runs("rome") == before
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    assert [v["version"] for v in store.versions("rome")] == [1, 2]


@pytest.mark.slow
def test_killed_tick_resumes_and_a_corrupt_date_is_retried(world: dict[str, Any], api: StacApi, sim: dict[str, Any],
                                                           tmp_path: Path) -> None:
    store = world["store"]
    d = sim["dates"]
    bad_safe = sim["products"][9]
    tiff = next((bad_safe / "measurement").glob("*.tiff"))
    shutil.copy2(tiff, tmp_path / "good.tiff")
    with open(tiff, "r+b") as f:
        f.truncate(tiff.stat().st_size // 3)
    api.publish(N_DATES)

    # a `systematic tick` process, killed once it has finished its first pair
    # (it pauses 30 s after recording its first pair: tests/hooks/pause_after_first_pair)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(PAUSE_HOOK)]),
           "SNAPSTAMPS_TEST_PAUSE_AFTER_FIRST_PAIR_S": "30", "SNAPSTAMPS_TEST_PAUSE_SUBSCRIPTION": "rome"}
    proc = subprocess.Popen([sys.executable, "-m", "snapstamps.cli", "-q", "systematic", "tick", "rome",
                             "--data-dir", str(world["data"])], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_tick = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            ticks = store.ticks("rome", 1)
            if ticks and ticks[0]["status"] == "running":
                killed_tick = ticks[0]["id"]
                if any(r["status"] == "done" for r in _tick_runs(store, killed_tick)):
                    break
            time.sleep(0.05)
        assert proc.poll() is None, f"the tick ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    done_before = {(r["swath"], r["date"]) for r in _tick_runs(store, killed_tick) if r["status"] == "done"}
    assert done_before and store.lock_info("rome") is not None  # the dead tick's lock is left behind

    s = tick(world["data"], "rome")  # takes over the stale lock
    assert store.ticks("rome", 2)[1]["status"] == "interrupted"
    again = {(r["swath"], r["date"]) for r in _tick_runs(store, s["tick"])}
    assert not done_before & again, f"finished pairs computed again: {done_before & again}"
    finished = [(r["swath"], r["date"]) for r in store.pair_runs("rome") if r["status"] == "done"]
    assert len(finished) == len(set(finished)) == N_DATES - 2  # every pair computed once, date 10 missing
    fail = [f for f in s["failed"] if f["date"] == d[9].isoformat()]
    assert fail and tiff.name in fail[0]["error"] and fail[0]["attempts"] == 1
    assert s["psi"]["version"] == 3 and d[9].isoformat() not in s["psi"]["dates"] and d[10].isoformat() in s["psi"]["dates"]
    info = store.describe("rome")
    assert {x["date"]: x["status"] for x in info["dates"]}[d[9].isoformat()] == "failed"

    # before its retry time the failed date waits and the tick does nothing
    s = tick(world["data"], "rome")
    assert s["work"] is False and [w["date"] for w in s["waiting_retry"]] == [d[9].isoformat()]

    # repaired, and past its retry time: retried, joins the stack (1 new date < every 2: no psi)
    shutil.copy2(tmp_path / "good.tiff", tiff)
    s = tick(world["data"], "rome", now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
    assert s["pairs_run"] == [f"IW1:{d[9]}"] and s["psi"] is None
    assert s["stack"]["dates"] == [x.isoformat() for x in d]
    assert {x["date"]: x["status"] for x in store.describe("rome")["dates"]}[d[9].isoformat()] == "done"
    _validate(world["public"] / "collection.json")


@pytest.mark.slow
def test_a_pair_renamed_but_not_recorded_is_adopted(world: dict[str, Any], sim: dict[str, Any]) -> None:
    """A tick killed between a pair folder's rename and its record: the next tick adopts the folder, no recompute.

    Simulated on the finished scenario by deleting the last pair's record (its folder stays) and
    setting its date back to ``new``.
    """
    store = world["store"]
    d9 = sim["dates"][9].isoformat()
    with store.transaction() as con:
        con.execute("DELETE FROM subscription_pair WHERE name = 'rome' AND date = ?", (d9,))
        con.execute("UPDATE subscription_date SET status = 'new' WHERE name = 'rome' AND date = ?", (d9,))
    n_runs = len(store.pair_runs("rome"))
    s = tick(world["data"], "rome")
    assert s["pairs_adopted"] == [f"IW1:{d9}"] and s["pairs_run"] == [] and s["psi"] is None
    runs = store.pair_runs("rome")[n_runs:]
    assert [(r["date"].isoformat(), r["status"]) for r in runs] == [(d9, "adopted")]
    assert (world["data"] / "subscriptions" / "rome" / "pairs" / "IW1" / d9.replace("-", "") / "ifg_stack.json").is_file()


# ---------------------------------------------------------------------- lock, reference, spec, CLI
def test_a_live_tick_holds_the_lock_and_a_dead_ones_is_taken_over(tmp_path: Path) -> None:
    store = SubscriptionStore(tmp_path, lock_ttl_s=3600)
    store.add(load_subscription({"name": "x", "stac_api": "http://127.0.0.1:9/", "aoi": [12.0, 41.0, 12.1, 41.1],
                                 "relative_orbit": 117, "start": "2022-01-01", "dem": "/nonexistent.tif"}))
    owner = store.acquire("x")  # this process: alive
    with pytest.raises(LockHeld, match="already ticking"):
        tick(tmp_path, "x")
    with pytest.raises(LockHeld):
        store.remove("x")
    store.release("x", owner)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with store.transaction() as con:
        con.execute("INSERT INTO subscription_lock VALUES ('x', 'gone', ?, ?, '2026-01-01T00:00:00Z', ?)",
                    (__import__("socket").gethostname(), dead.pid, dt.datetime.now(dt.timezone.utc).isoformat()))
        con.execute("INSERT INTO subscription_tick (name, started, status) VALUES ('x', '2026-01-01T00:00:00Z', 'running')")
    owner = store.acquire("x")
    assert store.lock_info("x")["pid"] == os.getpid() and store.ticks("x")[0]["status"] == "interrupted"
    store.release("x", owner)


@pytest.mark.slow
def test_auto_reference_waits_for_the_minimum_then_takes_the_overview_suggestion(api: StacApi, sim: dict[str, Any],
                                                                                  tmp_path: Path) -> None:
    """``reference: auto``: no pair before the trigger's minimum; then the stack-overview suggestion among
    those dates, every other date paired with it (before and after it), and psi version 1 on them,
    published with its quicklooks, report and viewer."""
    from snapstamps.ifg.overview import stack_overview

    store = SubscriptionStore(tmp_path)
    store.add(load_subscription(_spec(api, sim, name="auto", reference="auto", trigger={"min_dates": 6, "every": 1},
                                      quicklooks=True)))
    try:
        api.publish(5)
        s = tick(tmp_path, "auto")
        assert s["reference"] is None and s["pairs_run"] == [] and s["waiting"] == "5 of the 6 dates needed to choose the reference"
        assert store.row("auto")["reference_date"] is None
        api.publish(6)
        s = tick(tmp_path, "auto")
    finally:
        api.publish(N_DATES)
    want = stack_overview(sim["products"][:6], polarisation="VV")["suggested_reference"]
    ref = sim["dates"][[p.name for p in sim["products"]].index(want)]
    print(f"auto reference: {ref} (stack-overview suggestion among the first 6 dates)")
    assert s["reference"] == ref.isoformat() == store.row("auto")["reference_date"]
    assert s["pairs_run"] == [f"IW1:{d}" for d in sim["dates"][:6] if d != ref]
    assert s["psi"]["version"] == 1 and s["psi"]["dates"] == [d.isoformat() for d in sim["dates"][:6]]
    # quicklooks (the default): the version's catalog carries the report and the viewer
    pub = tmp_path / "subscriptions" / "auto" / "public"
    assert (pub / "psi" / "v1" / "IW1" / "report.html").is_file() and (pub / "latest" / "IW1" / "viewer" / "index.html").is_file()
    _validate(pub / "collection.json")


@pytest.mark.slow
def test_a_corrupt_reference_stops_the_tick_without_failing_the_dates(sim: dict[str, Any], tmp_path: Path) -> None:
    ref = tmp_path / "safes" / sim["products"][0].name
    shutil.copytree(sim["products"][0], ref)
    tiff = next((ref / "measurement").glob("*.tiff"))
    with open(tiff, "r+b") as f:
        f.truncate(tiff.stat().st_size // 2)
    with StacApi([ref, *sim["products"][1:3]]) as api:
        api.publish(3)
        store = SubscriptionStore(tmp_path / "data")
        store.add(load_subscription(_spec(api, sim, name="broken")))
        s = tick(tmp_path / "data", "broken")
    assert s["pairs_run"] == [] and tiff.name in s["reference_error"]
    assert store.ticks("broken")[0]["status"] == "failed" and tiff.name in store.row("broken")["last_error"]
    assert [(d["status"], d["attempts"]) for d in store.dates("broken")] == [("new", 0)] * 3


def test_subscription_specs_are_validated() -> None:
    base = {"name": "ok", "stac_api": "https://example.test/stac", "aoi": [12.0, 41.0, 12.1, 41.1],
            "relative_orbit": 117, "start": "2022-01-01"}
    sub = load_subscription(base)
    assert sub.reference == "auto" and sub.subswaths is None and sub.trigger.min_dates == 6 and sub.bbox == (12.0, 41.0, 12.1, 41.1)
    poly = {"type": "Polygon", "coordinates": [[[12.0, 41.0], [12.2, 41.0], [12.2, 41.3], [12.0, 41.0]]]}
    assert load_subscription({**base, "aoi": poly}).bbox == (12.0, 41.0, 12.2, 41.3)
    assert load_subscription({**base, "psi_params": {"da_th": 0.35}}).psi_params == {"da_thresh": 0.35}
    for over, needle in [
        ({"name": "Bad Name"}, "name"),
        ({"stac_api": "file:///etc"}, "http(s)"),
        ({"aoi": [12.0, 41.0, 11.0, 42.0]}, "W S E N"),
        ({"aoi": {"type": "Point", "coordinates": [12, 41]}}, "Polygon"),
        ({"relative_orbit": 0}, "relative_orbit"),
        ({"psi_params": {"no_such_param": 1}}, "unknown parameter"),
        ({"psi_params": {"da_thresh": "high"}}, "psi_params"),
        ({"destination": "relative/dir"}, "absolute"),
        ({"destination": "http://x/y"}, "s3://"),
        ({"reference": "2021-06-01"}, "before start"),
        ({"trigger": {"min_dates": 2}}, "min_dates"),
        ({"extra": 1}, "extra"),
        ({"subswaths": ["IW4"]}, "subswaths"),
    ]:
        with pytest.raises(SubscriptionError, match="subscription") as exc:
            load_subscription({**base, **over})
        assert needle in str(exc.value) and "\n" not in str(exc.value), (over, str(exc.value))


def test_readme_example_is_a_valid_subscription() -> None:
    text = (REPO / "README.md").read_text()
    block = text.split("### Systematic processing", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    sub = load_subscription(block)
    assert sub.reference == "auto" and sub.destination.startswith("s3://") and sub.trigger.every == 3


def test_cli_add_list_show_pause_resume_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from snapstamps.cli import main

    spec = tmp_path / "sub.json"
    spec.write_text(json.dumps({"name": "rome", "stac_api": "http://127.0.0.1:9/", "aoi": [12.0, 41.0, 12.1, 41.1],
                                "relative_orbit": 117, "start": "2022-01-01", "reference": "2022-01-04"}))
    dd = ["--data-dir", str(tmp_path / "data")]
    assert main(["systematic", "add", str(spec), *dd]) == 0
    assert (tmp_path / "data" / "snapstamps.sqlite").is_file()
    assert main(["systematic", "add", str(spec), *dd]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["systematic", "list", "--json", *dd]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["status"], r["dates"]) for r in rows] == [("rome", "active", 0)]
    assert main(["systematic", "pause", "rome", *dd]) == 0
    assert main(["systematic", "tick", "rome", *dd]) == 2
    assert "paused" in capsys.readouterr().err
    assert main(["systematic", "resume", "rome", *dd]) == 0
    assert main(["systematic", "show", "rome", "--json", *dd]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert info["status"] == "active" and info["spec"]["reference"] == "2022-01-04"
    # an unreachable API: the tick fails with one line naming it, and the subscription records it
    assert main(["systematic", "tick", "rome", *dd]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: http://127.0.0.1:9/: catalog search failed") and "\n" not in err
    assert SubscriptionStore(tmp_path / "data").row("rome")["last_error"].startswith("http://127.0.0.1:9/")
    assert main(["systematic", "tick", "--due", *dd]) == 0  # not due again before its interval
    assert json.loads(capsys.readouterr().out) == []
    with SubscriptionStore(tmp_path / "data").transaction() as con:
        con.execute("UPDATE subscription SET next_tick = '2000-01-01T00:00:00Z'")
    assert main(["systematic", "tick", "--due", *dd]) == 2
    assert "error: rome: http://127.0.0.1:9/: catalog search failed" in capsys.readouterr().err
    assert main(["systematic", "remove", "rome", *dd]) == 0
    assert main(["systematic", "show", "rome", *dd]) == 2
    assert "no subscription named 'rome'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x"}')
    assert main(["systematic", "add", str(bad), *dd]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: subscription: ") and err.count("\n") == 1


@pytest.mark.slow
def test_ifg_stack_extend_on_demand(sim: dict[str, Any], world: dict[str, Any], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A stack catalog of 3 dates extended with 2 more (CLI) has the bytes of the subscription's stack (same reference)."""
    import filecmp

    from snapstamps.cli import main
    from snapstamps.stac.ifg import build_ifg_stack_catalog
    from snapstamps.stac.stack import resolve_stack
    from snapstamps.workflows.ifg_stack import IfgStackOptions, run_ifg_stack

    if not (world["public"] / "stack" / "catalog.json").is_file():
        pytest.skip("compares with the stack of the subscription scenario above: run the whole module")
    p = sim["products"]
    run_ifg_stack(IfgStackOptions(reference=p[0], secondaries=p[1:3], subswath="IW1", polarisation="VV",
                                  bbox=tuple(sim["bbox"]), dem=sim["dem"], orbits=sim["orbits"], out=tmp_path / "three"))
    cat = build_ifg_stack_catalog([tmp_path / "three"], tmp_path / "cat", {p[0].name: str(p[0])})
    assert main(["ifg-stack-extend", str(cat), "--secondary", str(p[2]), str(p[3]), str(p[4]), "--out", str(tmp_path / "cat")]) == 0
    out = json.loads(capsys.readouterr().out)
    d = sim["dates"]
    assert out["added"] == [f"IW1:{d[3]}", f"IW1:{d[4]}"] and out["skipped"] == [f"IW1:{d[2]}"]
    a = resolve_stack(tmp_path / "cat", "IW1")
    b = resolve_stack(world["public"] / "stack", "IW1")  # the subscription's stack: every date, pair by pair
    files = sorted(f.relative_to(a) for f in a.rglob("*") if f.is_file())
    assert len(files) == 2 + 5 + 5 * 4  # reference rslc + .par, geo (lon, lat, dem + 2 .par), 4 pairs x 5 files
    assert all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)
    # the subscription's pair folders share the stack's blocks and hold no second copy of the reference
    pair = world["data"] / "subscriptions" / "rome" / "pairs" / "IW1" / f"{d[3]:%Y%m%d}" / a.name
    assert not (pair / "rslc" / f"{d[0]:%Y%m%d}.rslc").exists() and not list((pair / "geo").glob("*"))
    assert (pair / "rslc" / f"{d[3]:%Y%m%d}.rslc").stat().st_ino == (b / "rslc" / f"{d[3]:%Y%m%d}.rslc").stat().st_ino
    _validate(tmp_path / "cat")
    # another reference is refused
    assert main(["ifg-stack-extend", str(cat), "--reference", str(p[1]), "--secondary", str(p[5]), "--out", str(tmp_path / "x")]) == 2
    assert "is not the stack's reference" in capsys.readouterr().err


def test_stac_collection_definitions_are_current_and_valid() -> None:
    import pystac

    from snapstamps.stac.collections import collection_definitions
    from snapstamps.stac.validate import default_schema_dir, offline_validator

    folder = REPO / "stac" / "collections"
    defs = collection_definitions()
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted(defs)
    v = offline_validator()
    for name, doc in defs.items():
        on_disk = json.loads((folder / f"{name}.json").read_text())
        assert on_disk == doc, f"stac/collections/{name}.json is stale: run python scripts/write_stac_collections.py"
        if default_schema_dir() is not None:  # extension schemas only where a schema directory is given
            pystac.Collection.from_dict(on_disk).validate(validator=v)
    if default_schema_dir() is None:
        pytest.skip("freshness checked; schema validation needs shared/data/stac-schemas beside the checkout")


@pytest.fixture(scope="module")
def moto_s3():
    """moto's S3 server on a loopback port; yields its URL (the AWS variables are set per test)."""
    pytest.importorskip("moto.server")
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _aws(monkeypatch: pytest.MonkeyPatch, url: str) -> Any:
    import boto3

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": url}.items():
        monkeypatch.setenv(k, v)
    return boto3.client("s3", endpoint_url=url)


def test_sync_to_s3_uploads_what_changed(moto_s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An s3:// destination on moto's S3 server (loopback): new and resized files and every JSON are uploaded."""
    from snapstamps.systematic.publish import sync_to_s3

    s3 = _aws(monkeypatch, moto_s3)
    s3.create_bucket(Bucket="results")
    pub = tmp_path / "public"
    for rel, text in {"collection.json": "{}", "stack/catalog.json": "{}", "stack/x.bin": "x" * 1000,
                      "psi/v1/IW1/a.bin": "a" * 10, ".stack.tmp/leftover": "no"}.items():
        (pub / rel).parent.mkdir(parents=True, exist_ok=True)
        (pub / rel).write_text(text)
    assert sync_to_s3(pub, "s3://results/subs/rome/") == 4
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="results")["Contents"])
    assert keys == ["subs/rome/collection.json", "subs/rome/psi/v1/IW1/a.bin", "subs/rome/stack/catalog.json",
                    "subs/rome/stack/x.bin"]
    assert sync_to_s3(pub, "s3://results/subs/rome") == 2  # only the JSON documents again
    (pub / "stack" / "x.bin").write_text("y" * 2000)
    (pub / "psi" / "v2" / "IW1").mkdir(parents=True)
    (pub / "psi" / "v2" / "IW1" / "b.bin").write_text("b")
    assert sync_to_s3(pub, "s3://results/subs/rome") == 4
    assert s3.get_object(Bucket="results", Key="subs/rome/stack/x.bin")["ContentLength"] == 2000


@pytest.mark.slow
def test_remote_safes_are_staged_in_with_only_what_the_pairs_read(moto_s3: str, sim: dict[str, Any], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An item whose SAFE is an s3:// prefix: stage_date fetches manifest, annotations and the processed
    measurement only (not calibration/, previews, other layers), under a temporary name; a second call reuses it."""
    from snapstamps.systematic.catalog import stage_date, unstage

    s3 = _aws(monkeypatch, moto_s3)
    s3.create_bucket(Bucket="slc")
    safe = sim["products"][1]
    for f in safe.rglob("*"):
        if f.is_file():
            s3.upload_file(str(f), "slc", f"s1/{safe.name}/{f.relative_to(safe).as_posix()}")
    tiff = next((safe / "measurement").glob("*.tiff")).name
    others = ["preview/quick-look.png", "measurement/" + tiff.replace("-iw1-", "-iw2-"), "measurement/" + tiff.replace("-vv-", "-vh-")]
    for key in others:  # another sub-swath, another polarisation, a preview: not read by the pairs
        s3.put_object(Bucket="slc", Key=f"s1/{safe.name}/{key}", Body=b"not needed")
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "stac_version": "1.1.0", "id": safe.name.removesuffix(".SAFE"),
                                "geometry": None, "properties": {"datetime": "2022-01-16T17:05:57Z"}, "links": [],
                                "assets": {"safe": {"href": f"s3://slc/s1/{safe.name}", "roles": ["data"]}}}))
    prods = [{"id": safe.name.removesuffix(".SAFE"), "item": str(item), "href": None}]
    staged = stage_date(prods, ["IW1"], "VV", tmp_path / "safes")
    assert staged == [tmp_path / "safes" / safe.name]
    got = sorted(f.relative_to(staged[0]).as_posix() for f in staged[0].rglob("*") if f.is_file())
    local = sorted(f.relative_to(safe).as_posix() for f in safe.rglob("*") if f.is_file())
    assert got == local  # manifest, annotations, the IW1 VV measurement; none of `others`
    assert not list((tmp_path / "safes").glob(".*"))  # no temporary left
    mtime = (staged[0] / "manifest.safe").stat().st_mtime_ns
    assert stage_date(prods, ["IW1"], "VV", tmp_path / "safes") == staged  # reused, not fetched again
    assert (staged[0] / "manifest.safe").stat().st_mtime_ns == mtime
    unstage(staged + [safe], tmp_path / "safes")
    assert not staged[0].exists() and safe.exists()  # a local SAFE is never removed


def test_http_routes_openapi_and_scheduler(tmp_path: Path) -> None:
    """The subscription routes on a Flask app (its test client; no socket), their OpenAPI paths, the scheduler."""
    flask = pytest.importorskip("flask")
    from snapstamps.systematic.http import Scheduler, openapi_paths, register

    app = flask.Flask("subscriptions-test")
    register(app, tmp_path, "http://127.0.0.1:5000")
    c = app.test_client()
    spec = {"name": "rome", "stac_api": "http://127.0.0.1:9/", "aoi": [12.0, 41.0, 12.1, 41.1], "relative_orbit": 117,
            "start": "2022-01-01", "interval_minutes": 60}
    r = c.post("/subscriptions", json=spec)
    assert r.status_code == 201 and r.headers["Location"] == "http://127.0.0.1:5000/subscriptions/rome"
    assert r.get_json()["spec"]["trigger"] == {"min_dates": 6, "every": 1}
    r = c.post("/subscriptions", json=spec)
    assert r.status_code == 409 and "exists" in r.get_json()["detail"]
    for body, needle in [({**spec, "name": "x", "aoi": [1, 2, 3]}, "aoi"), ({**spec, "name": "y", "evil": 1}, "evil"),
                         ("not json", "not JSON"), ([1, 2], "JSON object")]:
        r = c.post("/subscriptions", data=body if isinstance(body, str) else json.dumps(body),
                   content_type="application/json")
        doc = r.get_json()
        assert r.status_code == 400 and needle in doc["detail"] and "\n" not in doc["detail"], doc
        assert doc["code"] == "InvalidParameterValue"
    for over, needle in [({"dem": "/etc/passwd"}, "dem: /etc/passwd is outside"),
                         ({"destination": str(tmp_path / ".." / "elsewhere")}, "destination"),
                         ({"orbits": str(tmp_path / "orbits" / ".." / ".." / "x")}, "orbits")]:
        r = c.post("/subscriptions", json={**spec, "name": "z", **over})
        assert r.status_code == 400 and needle in r.get_json()["detail"], r.get_json()
    r = c.post("/subscriptions", json={**spec, "name": "inside", "dem": str(tmp_path / "dem.tif"),
                                       "destination": "s3://bucket/x"})
    assert r.status_code == 201 and c.delete("/subscriptions/inside").status_code == 204
    assert [s["name"] for s in c.get("/subscriptions").get_json()["subscriptions"]] == ["rome"]
    assert c.get("/subscriptions/rome").get_json()["spec"]["relative_orbit"] == 117
    assert c.get("/subscriptions/nope").status_code == 404
    assert c.get("/subscriptions/..%2F..%2Fetc").status_code == 404
    assert c.post("/subscriptions/rome/pause").get_json()["status"] == "paused"
    assert c.post("/subscriptions/rome/tick").status_code == 409
    assert c.post("/subscriptions/rome/resume").get_json()["status"] == "active"

    # scheduler: a new subscription is due once, then not before its interval; a requested tick makes it due
    submitted: list[str] = []
    sched = Scheduler(tmp_path, submitted.append)
    assert sched.run_once() == ["rome"] and sched.run_once() == [] and submitted == ["rome"]
    assert c.post("/subscriptions/rome/tick").status_code == 202
    assert sched.run_once() == ["rome"] and submitted == ["rome", "rome"]
    assert c.delete("/subscriptions/rome").status_code == 204
    assert c.get("/subscriptions/rome").status_code == 404 and c.delete("/subscriptions/rome").status_code == 404

    # the OpenAPI paths form a valid OpenAPI 3.0 document
    validate = pytest.importorskip("openapi_spec_validator").validate
    paths = openapi_paths()
    validate({"openapi": "3.0.2", "info": {"title": "t", "version": "1"}, "paths": paths})
    assert set(paths) == {"/subscriptions", "/subscriptions/{name}", "/subscriptions/{name}/pause",
                          "/subscriptions/{name}/resume", "/subscriptions/{name}/tick"}
    props = paths["/subscriptions"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"name", "stac_api", "aoi", "trigger", "psi_params", "destination"} <= set(props)
