"""One tick of a subscription: make its stack and psi results current with the catalog.

Order of work (every step is idempotent, so a tick killed anywhere is finished by the next one):

1. **lock**: the subscription's row in ``subscription_lock`` (:meth:`SubscriptionStore.acquire`);
   a second tick of the same subscription fails at once with :class:`LockHeld`; a stale lock (its
   process gone, or no heartbeat for ``lock_ttl_s``) is taken over.  A thread refreshes the
   heartbeat while the tick runs;
2. **search**: items acquired on or after the newest known date (that date included, for slices
   published late), recorded per date (:mod:`.catalog`);
3. **reference and sub-swaths**: a fixed reference date waits until the catalog has it; ``auto``
   waits for ``trigger.min_dates`` dates, then takes the stack-overview suggestion (the date
   maximising the modelled coherence) among them.  Sub-swaths default to those of the reference
   whose footprint meets the AOI.  Both are recorded once and never change;
4. **pairs**: for every date not done whose retry is due, its SAFEs are staged in (only the layers
   processed) and each missing pair (reference x date, per sub-swath) computed on its own
   (:func:`snapstamps.workflows.ifg_extend.run_pair`: temporary folder renamed when complete) and
   recorded in one transaction.  A pair folder found complete but unrecorded (a crash between the
   rename and the commit) is adopted, not recomputed.  A failing date (corrupt SAFE, stage-in
   error) is recorded with its error and a retry time (exponential backoff), and the other dates go on;
5. **stack**: the recorded pairs missing from the published stack catalog are appended to it
   (:func:`snapstamps.workflows.ifg_extend.extend_stack_catalog`, hard links, one rename); the
   appended pair folders then drop their copy of the reference SLC and geometry;
6. **psi**: when the stack has ``trigger.min_dates`` dates and, after the first version,
   ``trigger.every`` dates more than the last version, psi runs on each sub-swath of the stack
   (temporary folder, renamed), and version N is published (:mod:`.publish`), then recorded (the
   psi run folders are deleted: the published catalog holds the products).

The tick's summary (what was found, run, adopted, failed, skipped, published) is stored with it
and returned.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, SnapstampsError
from .model import Subscription, SubscriptionError
from .store import SubscriptionStore, utcnow

__all__ = ["SubscriptionPaths", "choose_reference", "tick"]

log = logging.getLogger("snapstamps.systematic")


@dataclass(frozen=True)
class SubscriptionPaths:
    """Where a subscription keeps its files under the data folder."""

    root: Path
    public: Path

    @classmethod
    def of(cls, data_dir: Path, sub: Subscription) -> "SubscriptionPaths":
        root = Path(data_dir) / "subscriptions" / sub.name
        local_dest = sub.destination and not sub.destination.startswith("s3://")
        return cls(root, Path(sub.destination) if local_dest else root / "public")

    @property
    def items(self) -> Path:
        return self.root / "items"

    @property
    def safes(self) -> Path:
        return self.root / "safes"

    @property
    def pairs(self) -> Path:
        return self.root / "pairs"

    @property
    def psi(self) -> Path:
        return self.root / "psi"

    @property
    def stack(self) -> Path:
        return self.public / "stack"


class _Heartbeat:
    """Refreshes the lock every ``interval`` seconds; ``lost`` is set when the lock was taken over."""

    def __init__(self, store: SubscriptionStore, name: str, owner: str, interval: float) -> None:
        self.store, self.name, self.owner, self.interval = store, name, owner, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"heartbeat-{name}")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.store.heartbeat(self.name, self.owner):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a busy database: try again next beat
                continue

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, SnapstampsError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def choose_reference(products_by_date: dict[dt.date, list[Path]], polarisation: str) -> dt.date:
    """The stack-overview suggested reference among these dates (maximum modelled coherence)."""
    from ..ifg.overview import stack_overview
    from ..ifg.safe import product_info

    prods = [p for d in sorted(products_by_date) for p in products_by_date[d]]
    o = stack_overview(prods, polarisation=polarisation)
    name = o["suggested_reference"]
    for d, ps in products_by_date.items():
        if any(Path(p).name == name for p in ps):
            return d
    return product_info(Path(name)).date  # pragma: no cover - the overview names one of the products


def _swaths_for(ref_item: str, sub: Subscription) -> list[str]:
    """Sub-swaths of the reference product whose footprint meets the AOI."""
    from ..stac.slc import bbox_intersects, resolve_slc, swath_footprints

    res = resolve_slc(ref_item, remote=True)
    fp = swath_footprints(res.safe, sub.polarisation)
    hits = sorted(s for s, box in fp.items() if bbox_intersects(box, sub.bbox))
    if not hits:
        raise InputError(f"{res.product}: no {sub.polarisation} sub-swath covers the area of interest {list(sub.bbox)}")
    return hits


def _check_reference(safes: list[Path], swaths: list[str], pol: str) -> None:
    """Open the reference's layers and read a few lines of each burst (a corrupt reference stops the tick)."""
    from ..ifg.safe import open_date
    from ..workflows.ifg_stack import check_measurements

    for sw in swaths:
        check_measurements(open_date(safes, sw, pol, need_measurement=True))


def _prune_pair(folder: Path) -> None:
    """Once a pair is in the stack: drop its copy of the reference SLC and geometry (the stack has them).

    What stays (the secondary SLC, interferogram, headers, ``ifg_stack.json``) shares its blocks
    with the stack (hard links), so a pair costs no disk space beyond the stack's.
    """
    for insar in Path(folder).glob("INSAR_*"):
        ref = insar.name.removeprefix("INSAR_")
        for f in [*insar.glob(f"rslc/{ref}.rslc*"), *insar.glob("geo/*")]:
            f.unlink(missing_ok=True)


def _input_items(dates: list[dict[str, Any]]) -> dict[str, str]:
    """``{product name: item href}`` for the stack catalog's reference/secondary links."""
    out: dict[str, str] = {}
    for d in dates:
        for p in d["products"]:
            href = p.get("href") or p["item"]
            pid = str(p["id"])
            out[pid] = href
            out[pid if pid.endswith(".SAFE") else f"{pid}.SAFE"] = href
    return out


def tick(data_dir: Path | str, name: str, now: dt.datetime | None = None, lock_ttl_s: float = 600.0) -> dict[str, Any]:
    """Run one tick of subscription ``name`` in the foreground; returns its summary.

    ``now`` (default: the clock) decides which failed dates are due for a retry.
    """
    store = SubscriptionStore(data_dir, lock_ttl_s=lock_ttl_s)
    row = store.row(name)
    if row["status"] != "active":
        raise SubscriptionError(f"subscription {name!r} is paused (resume it first)")
    sub = store.get(name)
    now = now or utcnow()
    owner = store.acquire(name)
    tick_id = store.start_tick(name)
    summary: dict[str, Any] = {"tick": tick_id, "subscription": name, "now": now.isoformat(), "search": None,
                               "reference": None, "subswaths": None, "pairs_run": [], "pairs_adopted": [],
                               "failed": [], "waiting_retry": [], "given_up": [], "waiting": None,
                               "stack": None, "psi": None}
    status, error = "done", None
    try:
        with _Heartbeat(store, name, owner, max(1.0, min(60.0, lock_ttl_s / 4))) as hb:
            _Tick(store, sub, SubscriptionPaths.of(Path(data_dir), sub), tick_id, now, hb, summary).run()
        problem = summary.get("reference_error") or summary.get("psi_error")
        if problem:
            status, error = "failed", problem
    except BaseException as exc:
        status, error = "failed", _one_line(exc)
        summary["error"] = error
        raise
    finally:
        summary["work"] = bool(summary["pairs_run"] or summary["pairs_adopted"] or summary["psi"]
                               or (summary["stack"] or {}).get("appended"))
        store.end_tick(tick_id, status, summary, error)
        store.set_next_tick(name, utcnow() + dt.timedelta(minutes=sub.interval_minutes), error)
        store.release(name, owner)
    return summary


class _Tick:
    """The steps of one tick (see the module docstring)."""

    def __init__(self, store: SubscriptionStore, sub: Subscription, paths: SubscriptionPaths, tick_id: int,
                 now: dt.datetime, hb: _Heartbeat, summary: dict[str, Any]) -> None:
        self.store, self.sub, self.paths, self.tick_id, self.now = store, sub, paths, tick_id, now
        self.hb, self.summary = hb, summary
        self.name = sub.name

    def _alive(self) -> None:
        if self.hb.lost:
            raise SubscriptionError(f"subscription {self.name!r}: the tick lost its lock (taken over as stale); stopping")

    def clean_temporaries(self) -> None:
        """Remove what a killed tick left under temporary names (this tick holds the lock: nobody writes them)."""
        pats = [(self.paths.pairs, "*/.*.tmp-*"), (self.paths.psi, "*/.*.tmp-*"), (self.paths.safes, ".*.tmp-*"),
                (self.paths.public, ".stack.*"), (self.paths.public, ".latest.*"), (self.paths.public, "psi/*/.*.tmp")]
        for root, pat in pats:
            for p in root.glob(pat) if root.is_dir() else ():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ steps
    def run(self) -> None:
        self.clean_temporaries()
        self.search()
        ref, swaths = self.choose()
        if ref is None or swaths is None:
            self.publish_collection()
            return
        ref_safes = self.stage_reference(ref, swaths)
        if ref_safes is None:
            return
        self.pairs(ref, ref_safes, swaths)
        stack_dates = self.stack(ref, swaths)
        self.psi(ref, swaths, stack_dates)
        self.publish_collection()

    def search(self) -> None:
        from .catalog import search_dates

        known = self.store.dates(self.name)
        since = max((d["date"] for d in known), default=self.sub.start)
        found, n_items = search_dates(self.sub, since, self.paths.items)
        new = self.store.upsert_dates(self.name, found)
        self.summary["search"] = {"since": since.isoformat(), "items": n_items,
                                  "new_dates": [d.isoformat() for d in new]}
        log.info("%s: %d items since %s, %d new dates", self.name, n_items, since, len(new))

    def _dates(self) -> dict[dt.date, dict[str, Any]]:
        return {d["date"]: d for d in self.store.dates(self.name)}

    def _due(self, d: dict[str, Any], record: bool = True) -> bool:
        """Whether date ``d`` is to be processed now; a date waiting for its retry or given up is reported."""
        if d["status"] == "failed" and d["next_attempt"] is not None and d["next_attempt"] > self.now:
            if record:
                self.summary["waiting_retry"].append({"date": d["date"].isoformat(), "attempts": d["attempts"],
                                                      "next_attempt": d["next_attempt"].isoformat(), "error": d["error"]})
            return False
        if d["status"] == "given_up":
            if record:
                self.summary["given_up"].append({"date": d["date"].isoformat(), "error": d["error"]})
            return False
        return d["status"] in ("new", "failed")

    def _fail(self, date: dt.date, error: str) -> None:
        rec = self.store.date_failed(self.name, date, error, self.sub.retry, now=self.now)
        self.summary["failed"].append(rec)
        log.warning("%s: date %s failed (attempt %d): %s", self.name, date, rec["attempts"], error)

    def _stage(self, d: dict[str, Any], swaths: list[str]) -> list[Path]:
        from .catalog import stage_date

        return stage_date(d["products"], swaths, self.sub.polarisation, self.paths.safes)

    def choose(self) -> tuple[dt.date | None, list[str] | None]:
        row = self.store.row(self.name)
        dates = self._dates()
        ref: dt.date | None = dt.date.fromisoformat(row["reference_date"]) if row["reference_date"] else None
        if ref is None and isinstance(self.sub.reference, dt.date):
            if self.sub.reference not in dates:
                self.summary["waiting"] = f"the reference date {self.sub.reference} is not in the catalog yet"
                return None, None
            ref = self.sub.reference
            self.store.set_choice(self.name, reference_date=ref)
        if ref is None:
            usable = [d for d in sorted(dates) if dates[d]["status"] != "given_up"]
            need = self.sub.trigger.min_dates
            if len(usable) < need:
                self.summary["waiting"] = f"{len(usable)} of the {need} dates needed to choose the reference"
                return None, None
            by_date: dict[dt.date, list[Path]] = {}
            stage_swaths = self.sub.subswaths
            if stage_swaths is None:
                try:
                    stage_swaths = _swaths_for(dates[usable[0]]["products"][0]["item"], self.sub)
                except Exception as exc:  # noqa: BLE001 - reported; retried next tick
                    self.summary["waiting"] = self.summary["reference_error"] = f"sub-swaths from {usable[0]}: {_one_line(exc)}"
                    return None, None
            for d in usable:
                if not self._due(dates[d], record=False):
                    continue
                try:
                    by_date[d] = self._stage(dates[d], stage_swaths)
                except Exception as exc:  # noqa: BLE001 - any failure of one date is recorded, the others go on
                    self._fail(d, _one_line(exc))
            if len(by_date) < need:
                self.summary["waiting"] = f"{len(by_date)} usable of the {need} dates needed to choose the reference"
                return None, None
            ref = choose_reference(by_date, self.sub.polarisation)
            self.store.set_choice(self.name, reference_date=ref)
            log.info("%s: reference %s (stack-overview suggestion among %d dates)", self.name, ref, len(by_date))
        swaths = json.loads(row["subswaths"]) if row["subswaths"] else self.sub.subswaths
        if swaths is None:
            try:
                swaths = _swaths_for(dates[ref]["products"][0]["item"], self.sub)
            except Exception as exc:  # noqa: BLE001 - reported on the subscription; nothing else can run
                self.summary["waiting"] = self.summary["reference_error"] = f"reference {ref}: {_one_line(exc)}"
                return None, None
        self.store.set_choice(self.name, subswaths=list(swaths))
        self.summary["reference"], self.summary["subswaths"] = ref.isoformat(), list(swaths)
        return ref, list(swaths)

    def stage_reference(self, ref: dt.date, swaths: list[str]) -> list[Path] | None:
        d = self._dates()[ref]
        try:
            safes = self._stage(d, swaths)
            _check_reference(safes, swaths, self.sub.polarisation)
        except Exception as exc:  # noqa: BLE001 - a broken reference stops this tick, reported
            self.summary["waiting"] = self.summary["reference_error"] = f"reference {ref}: {_one_line(exc)}"
            return None
        if d["status"] != "done":
            self.store.date_done(self.name, ref)
        return safes

    def _settings(self):
        from ..workflows.ifg_extend import PairSettings

        dem = self.sub.dem
        if dem.strip().lower() == "auto":
            from ..ifg.download import build_dem

            dem = str(build_dem(self.sub.bbox, self.paths.root))  # once: reused by every later tick
        return PairSettings(polarisation=self.sub.polarisation, bbox=self.sub.bbox, dem=dem, orbits=self.sub.orbits,
                            download_orbits=self.sub.download_orbits)

    def pairs(self, ref: dt.date, ref_safes: list[Path], swaths: list[str]) -> None:
        from ..workflows.ifg_extend import run_pair
        from .catalog import unstage

        settings = None
        done = self.store.pairs(self.name)
        for date, d in sorted(self._dates().items()):
            if date == ref or not self._due(d):
                continue
            missing = [sw for sw in swaths if (sw, date) not in done]
            if not missing:
                self.store.date_done(self.name, date)
                continue
            try:
                settings = settings or self._settings()
                safes = self._stage(d, swaths)
            except Exception as exc:  # noqa: BLE001 - a failing date is recorded; the others go on
                self._fail(date, _one_line(exc))
                continue
            error = None
            for sw in missing:
                self._alive()
                final = self.paths.pairs / sw / f"{date:%Y%m%d}"
                adopted = (final / "ifg_stack.json").is_file()
                run_id = self.store.pair_started(self.name, sw, date, self.tick_id)
                t0 = utcnow()
                try:
                    run_pair(ref_safes, safes, sw, settings, final)
                except Exception as exc:  # noqa: BLE001 - recorded on the date, retried later
                    error = f"{sw}: {_one_line(exc)}"
                    self.store.pair_failed(run_id, error)
                    break
                self.store.pair_done(run_id, self.name, sw, date, ref, final, self.tick_id,
                                     (utcnow() - t0).total_seconds(), adopted=adopted)
                self.summary["pairs_adopted" if adopted else "pairs_run"].append(f"{sw}:{date.isoformat()}")
                log.info("%s: pair %s %s x %s %s", self.name, sw, ref, date, "adopted" if adopted else "done")
            if error:
                self._fail(date, error)
                continue
            self.store.date_done(self.name, date)
            unstage(safes, self.paths.safes)

    def stack(self, ref: dt.date, swaths: list[str]) -> list[dt.date]:
        """Append the recorded pairs the stack catalog lacks; returns the stack's dates (all sub-swaths)."""
        from ..stac.ifg import gathered_summary, read_ifg_stack_catalog
        from ..workflows.ifg_extend import extend_stack_catalog

        cat = self.paths.stack / "catalog.json"
        have: dict[str, set[dt.date]] = {sw: set() for sw in swaths}
        if cat.is_file():
            folders, _ = read_ifg_stack_catalog(cat)
            for sw, f in folders.items():
                have.setdefault(sw, set()).update(dt.date.fromisoformat(p["date"]) for p in gathered_summary(f)[0].get("pairs", []))
        new: dict[str, list[tuple[dt.date, Path]]] = {}
        for (sw, date), p in sorted(self.store.pairs(self.name).items()):
            if sw in have and date not in have[sw]:
                new.setdefault(sw, []).append((date, Path(p["path"])))
        appended = [f"{sw}:{d.isoformat()}" for sw, ps in sorted(new.items()) for d, _ in ps]
        if appended:
            self._alive()
            extend_stack_catalog(cat if cat.is_file() else None, {sw: [p for _, p in ps] for sw, ps in new.items()},
                                 self.paths.stack, _input_items(self.store.dates(self.name)),
                                 catalog_id=f"{self.name}-interferogram-stack")
            for sw, ps in new.items():
                have[sw].update(d for d, _ in ps)
                for _, p in ps:
                    _prune_pair(p)
        common = set.intersection(*(have[sw] for sw in swaths)) if swaths else set()
        stack_dates = sorted(common | {ref}) if common else []
        self.summary["stack"] = {"catalog": str(cat) if cat.is_file() else None, "dates": [d.isoformat() for d in stack_dates],
                                 "appended": appended}
        return stack_dates

    def psi(self, ref: dt.date, swaths: list[str], stack_dates: list[dt.date]) -> None:
        versions = self.store.versions(self.name)
        trig = self.sub.trigger
        last = versions[-1] if versions else None
        n = len(stack_dates)
        if n < trig.min_dates:
            self.summary["psi_trigger"] = f"{n} of {trig.min_dates} dates for the first psi run"
            return
        if last is not None:
            new = len(set(stack_dates) - set(last["dates"]))
            if new < trig.every:
                self.summary["psi_trigger"] = f"{new} of {trig.every} new dates since version {last['version']}"
                return
        version = (last["version"] + 1) if last else 1
        try:
            results, n_ps, effective = self._run_psi(version, swaths, stack_dates)
            from .publish import publish_psi_catalogs

            publish_psi_catalogs(self.paths.public, self.sub, version, results, self.paths.stack / "catalog.json")
        except Exception as exc:  # noqa: BLE001 - no version published; the next tick tries again
            self.summary["psi_error"] = f"psi version {version}: {_one_line(exc)}"
            log.error("%s: %s", self.name, self.summary["psi_error"])
            return
        params = {"requested": self.sub.psi_updates, "effective": effective}
        self.store.add_version(self.name, version, ref, stack_dates, n_ps, params,
                               self.paths.public / "psi" / f"v{version}", self.tick_id)
        for old in self.paths.psi.glob("v*"):  # published: the catalog has the products, the run state is not needed
            shutil.rmtree(old, ignore_errors=True)
        self.summary["psi"] = {"version": version, "dates": [d.isoformat() for d in stack_dates], "n_ps": n_ps}
        log.info("%s: psi version %d published (%s)", self.name, version, n_ps)

    def _run_psi(self, version: int, swaths: list[str],
                 stack_dates: list[dt.date]) -> tuple[dict[str, Path], dict[str, int], dict[str, Any]]:
        """psi on each sub-swath's stack; returns the result folders, PS counts and effective parameters (with adaptations)."""
        from ..stac.stack import resolve_stack
        from ..workflows.psi import run_psi

        results: dict[str, Path] = {}
        n_ps: dict[str, int] = {}
        effective: dict[str, Any] = {}
        want = [d.isoformat() for d in stack_dates]
        for sw in swaths:
            self._alive()
            final = self.paths.psi / f"v{version}" / sw
            meta = final / "psi_metadata.json"
            if not (meta.is_file() and json.loads(meta.read_text()).get("dates") == want):
                shutil.rmtree(final, ignore_errors=True)
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = final.with_name(f".{sw}.tmp-{uuid.uuid4().hex[:12]}")
                try:
                    run_psi(resolve_stack(self.paths.stack / "catalog.json", swath=sw), tmp,
                            param_updates=self.sub.psi_updates, show_progress=False)
                    got = json.loads((tmp / "psi_metadata.json").read_text()).get("dates")
                    if got != want:
                        raise InputError(f"psi ran on dates {got}, the stack has {want}")
                    if self.sub.quicklooks:
                        from ..results import make_job_outputs

                        make_job_outputs(tmp, job_id=f"{self.name}-v{version}-{sw}")
                    os.replace(tmp, final)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            results[sw] = final
            m = json.loads(meta.read_text())
            n_ps[sw] = int(m.get("counts", {}).get("ps", 0))
            effective[sw] = {"parameters": m.get("parameters"), "adapted": m.get("adapted_parameters", [])}
        return results, n_ps, effective

    def publish_collection(self) -> None:
        from .publish import sync_to_s3, write_collection

        stack_dates = [dt.date.fromisoformat(x) for x in (self.summary.get("stack") or {}).get("dates", [])]
        col = self.paths.public / "collection.json"
        changed = self.summary["psi"] or (self.summary.get("stack") or {}).get("appended") or not col.is_file()
        if not changed:
            return
        swaths = self.summary.get("subswaths") or []
        write_collection(self.paths.public, self.sub, self.store.versions(self.name), swaths, stack_dates)
        self.summary["collection"] = str(col)
        if self.sub.destination and self.sub.destination.startswith("s3://"):
            self.summary["uploaded"] = sync_to_s3(self.paths.public, self.sub.destination)
