"""A client of the snapstamps OGC API - Processes service (``snapstamps serve``).

In the spirit of hyp3-sdk: submit a job, wait for it with a progress bar, download its
results::

    from snapstamps import Client

    client = Client("http://127.0.0.1:5000")
    job = client.submit_psi("/data/INSAR_20240317", patches=[2, 1], amplitude_dispersion=0.35)
    job.wait()                          # progress bar from the job's progress; raises if it failed
    catalog = job.download("results")   # results/<job id>/catalog.json and the assets it lists

    # an interferogram stack, then psi on its stack catalog (the service reads its own results)
    ifg = client.submit_ifg_stack(reference_item, secondary_items, bbox=[12.45, 41.87, 12.52, 41.92]).wait()
    psi = client.submit_psi(ifg.results()["catalog"]["href"]).wait()

Inputs are passed to the service as given and validated there (the process descriptions at
``GET /processes/psi`` list them); an invalid input raises :class:`ServiceError` with the
service's description before any job exists.  A job that fails raises
:class:`JobFailedError` carrying the job's message (the failing step and its error) and its log
(``GET /jobs/<id>/log``).

Downloads follow the job's STAC catalog (``/jobs/<id>/results`` -> ``catalog``): the catalog,
its child catalogs and items, the report, and every asset served under
``/jobs/<id>/files/``.  Each file is written under a temporary name and renamed; the whole
download is built in a temporary folder and renamed to ``DEST/<job id>/`` when complete.  Hrefs
are kept relative, so the local catalog opens with pystac; links to what was not downloaded
(the web viewer, input products) become absolute URLs.  Nothing outside the job's ``files/``
route is fetched.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from .errors import InputError, SnapstampsError

__all__ = ["Client", "Job", "ServiceError", "JobFailedError", "JobTimeoutError"]

#: job states after which nothing changes
FINAL = {"successful", "failed", "dismissed"}


class ServiceError(SnapstampsError):
    """The service refused a request or answered something unexpected."""


class JobFailedError(SnapstampsError):
    """A job ended as failed or dismissed; ``job`` holds its last status, ``log`` its log when
    the service serves one (``GET /jobs/<id>/log``), else None."""

    def __init__(self, job: Job, log: str | None = None) -> None:
        self.job = job
        self.log = log
        msg = job.message or "no message"
        super().__init__(f"job {job.id} ({job.process or 'process'}) {job.status}: {msg}")


class JobTimeoutError(SnapstampsError):
    """A job did not finish within the time :meth:`Job.wait` was given."""


def _describe(resp: Any) -> str:
    """The OGC exception ``description`` of an error response, else its text (one line)."""
    try:
        body = resp.json()
        text = body.get("description") or body.get("detail") or body.get("title") or json.dumps(body)
    except ValueError:
        text = resp.text
    return " ".join(str(text).split())[:500]


@dataclass
class Job:
    """A job of the service, as last read (``status``, ``progress``, ``message``)."""

    client: Client
    id: str
    process: str | None = None
    status: str = "accepted"
    progress: int = 0
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"{self.client.url}/jobs/{quote(self.id, safe='')}"

    @property
    def done(self) -> bool:
        """True once the job is successful, failed or dismissed."""
        return self.status in FINAL

    def refresh(self) -> Job:
        """Read the job's status from the service."""
        self._update(self.client._get_json(f"{self.url}?f=json"))
        return self

    def _update(self, st: dict[str, Any]) -> None:
        self.info = st
        self.status = str(st.get("status", self.status))
        self.message = str(st.get("message") or "")
        self.process = st.get("processID") or self.process
        try:
            self.progress = int(st.get("progress") or 0)
        except (TypeError, ValueError):
            self.progress = 0

    def wait(self, timeout: float | None = None, interval: float = 2.0, progress: bool = True) -> Job:
        """Poll until the job is done; return it, or raise :class:`JobFailedError` if it failed.

        ``progress`` draws a bar (rich) from the job's progress percent with its current step;
        ``timeout`` (s, default none) raises :class:`JobTimeoutError` when exceeded.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with _progress_bar(f"job {self.id}", progress) as show:
            while True:
                self.refresh()
                show(self.progress, self.message)
                if self.done:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise JobTimeoutError(f"job {self.id} still {self.status} after {timeout} s ({self.message})")
                time.sleep(interval)
        if self.status != "successful":
            raise JobFailedError(self, self.log())
        return self

    def log(self) -> str | None:
        """The job's log as text (the status' ``log`` link, else ``/jobs/<id>/log``); None when
        the service does not serve it."""
        links = [ln for ln in self.info.get("links", []) or [] if isinstance(ln, dict) and ln.get("rel") == "log"]
        url = urljoin(self.url, str(links[0]["href"])) if links else f"{self.url}/log"
        try:
            return str(self.client._request("GET", url).text)
        except ServiceError:
            return None

    def results(self) -> dict[str, Any]:
        """The job's result document: ``catalog``, ``report``, ``viewer``... as ``{"href": URL}``."""
        if self.status != "successful":
            self.refresh()
            if self.status in ("failed", "dismissed"):
                raise JobFailedError(self)
            if self.status != "successful":
                raise ServiceError(f"job {self.id} is {self.status}: no results yet (wait() first)")
        doc = self.client._get_json(f"{self.url}/results?f=json")
        if not isinstance(doc, dict):
            raise ServiceError(f"job {self.id}: the results are not a JSON object")
        return doc

    def download(self, dest: str | Path, *, assets: bool = True, overwrite: bool = False) -> Path:
        """Download the job's STAC catalog into ``dest/<job id>/``; return the local catalog.json.

        ``assets=False`` fetches only the STAC documents and the report.  An existing
        ``dest/<job id>`` is an error unless ``overwrite``.
        """
        from .io.atomic import atomic_dir

        res = self.results()
        href = (res.get("catalog") or {}).get("href")
        if not href:
            raise ServiceError(f"job {self.id}: the results have no catalog ({sorted(res)})")
        final = Path(dest) / self.id
        if final.exists() and not overwrite:
            raise InputError(f"{final}: already exists (pass overwrite=True to replace it)")
        base = f"{self.url}/files/"
        with atomic_dir(final) as tmp:
            _CatalogDownload(self.client, base, tmp, assets).run(href)
        return final / "catalog.json"


class _CatalogDownload:
    """Walk a served STAC catalog and mirror the files under ``base`` into ``root``."""

    FOLLOW = {"child", "item"}
    FETCH = {"describedby"}

    def __init__(self, client: Client, base: str, root: Path, assets: bool) -> None:
        self.client, self.base, self.root, self.assets = client, base, root, assets
        self.done: set[str] = set()

    def local(self, url: str) -> str | None:
        """The path of ``url`` inside the job's files (POSIX, relative), or None if outside."""
        if not url.startswith(self.base):
            return None
        rel = unquote(urlsplit(url).path[len(urlsplit(self.base).path) :])
        norm = posixpath.normpath(rel) if rel else "catalog.json"
        if norm.startswith(("../", "/")) or norm in ("..", ".") or "\\" in norm or "\x00" in norm:
            return None
        return norm

    def run(self, catalog_url: str) -> None:
        if self.local(catalog_url) is None:
            raise ServiceError(f"catalog {catalog_url} is not one of the job's files ({self.base})")
        todo = [catalog_url]
        while todo:
            url = todo.pop()
            rel = self.local(url)
            if rel is None or rel in self.done:
                continue
            self.done.add(rel)
            doc = self.client._get_json(url)
            todo += self.rewrite(doc, url, rel)
            from .io.atomic import atomic_write_text

            target = self.root / rel
            atomic_write_text(target, json.dumps(doc, indent=2) + "\n")

    def rewrite(self, doc: dict[str, Any], url: str, rel: str) -> list[str]:
        """Make ``doc``'s hrefs relative (downloaded) or absolute (not); fetch files; return STAC to follow."""
        follow: list[str] = []
        here = posixpath.dirname(rel)
        links = []
        for ln in doc.get("links", []) or []:
            if ln.get("rel") == "self":
                continue  # a moved catalog has no self link
            absolute = urljoin(url, str(ln.get("href", "")))
            target = self.local(absolute)
            kind = ln.get("rel")
            if target is not None and (kind in self.FOLLOW or kind in ("root", "parent", "collection")):
                if kind in self.FOLLOW:
                    follow.append(absolute)
                ln = {**ln, "href": _relative(target, here)}
            elif target is not None and kind in self.FETCH:
                self.fetch(absolute, target)
                ln = {**ln, "href": _relative(target, here)}
            else:
                ln = {**ln, "href": absolute}  # not downloaded (the viewer, inputs): stays online
            links.append(ln)
        if "links" in doc:
            doc["links"] = links
        for key, asset in (doc.get("assets") or {}).items():
            absolute = urljoin(url, str(asset.get("href", "")))
            target = self.local(absolute)
            if target is not None and self.assets:
                self.fetch(absolute, target)
                doc["assets"][key] = {**asset, "href": _relative(target, here)}
            else:
                doc["assets"][key] = {**asset, "href": absolute}
        return follow

    def fetch(self, url: str, rel: str) -> None:
        if rel in self.done:
            return
        self.done.add(rel)
        self.client._download(url, self.root / rel)


def _relative(target: str, here: str) -> str:
    r = posixpath.relpath(target, here or ".")
    return r if r.startswith("../") else f"./{r}"


@contextmanager
def _progress_bar(name: str, enabled: bool) -> Iterator[Callable[[int, str], None]]:
    """``show(percent, message)``: a rich bar when enabled, nothing otherwise."""
    if not enabled:
        yield lambda pct, msg: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    # the job's name is never cut; on a narrow console the step message gives way first
    with Progress(
        TextColumn("[bold]{task.description}", table_column=Column(min_width=len(name), no_wrap=True)),
        BarColumn(bar_width=20),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
    ) as bar:
        task = bar.add_task(name, total=100, step="")

        def show(pct: int, msg: str) -> None:
            bar.update(task, completed=max(0, min(pct, 100)), step=msg[:60])

        yield show


class Client:
    """A session with one snapstamps service at ``url`` (e.g. ``http://127.0.0.1:5000``).

    ``session`` is a :class:`requests.Session` (for authentication headers or proxies);
    ``timeout`` (s) bounds each HTTP request, not the jobs.
    """

    def __init__(self, url: str, *, session: Any = None, timeout: float = 60.0) -> None:
        import requests

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"{url!r}: the service URL must be http(s)://host[:port][/path]")
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    # ------------------------------------------------------------------ HTTP
    def _request(self, method: str, url: str, **kw: Any) -> Any:
        import requests

        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise ServiceError(f"{method} {url}: {exc}") from exc
        if resp.status_code >= 400:
            raise ServiceError(f"{method} {url}: HTTP {resp.status_code}: {_describe(resp)}")
        return resp

    def _get_json(self, url: str) -> Any:
        resp = self._request("GET", url)
        try:
            return resp.json()
        except ValueError as exc:
            raise ServiceError(f"GET {url}: not JSON ({resp.headers.get('Content-Type')})") from exc

    def _download(self, url: str, path: Path) -> None:
        from .io.atomic import atomic_path

        resp = self._request("GET", url, stream=True)
        with resp, atomic_path(path) as tmp, open(tmp, "wb") as fh:
            for chunk in resp.iter_content(1 << 20):
                fh.write(chunk)

    # ------------------------------------------------------------------ processes and jobs
    def processes(self) -> list[str]:
        """Identifiers of the processes the service offers."""
        return [p["id"] for p in self._get_json(f"{self.url}/processes?f=json").get("processes", [])]

    def submit(self, process: str, inputs: dict[str, Any]) -> Job:
        """Execute ``process`` asynchronously with ``inputs``; return the accepted :class:`Job`."""
        resp = self._request(
            "POST",
            f"{self.url}/processes/{quote(process, safe='')}/execution",
            json={"inputs": inputs},
            headers={"Prefer": "respond-async", "Content-Type": "application/json"},
        )
        body: dict[str, Any] = {}
        try:
            body = resp.json() or {}
        except ValueError:
            pass
        job_id = body.get("jobID") or resp.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
        if not job_id:
            raise ServiceError(f"{process}: the service accepted the job but gave no job id (HTTP {resp.status_code})")
        job = Job(self, str(job_id), process)
        job._update({"processID": process, **body})
        return job

    def submit_psi(self, stack: str, **inputs: Any) -> Job:
        """Submit a ``psi`` job on ``stack`` (an ``INSAR_<date>`` path or stack catalog the server
        can read, an s3:// prefix, or a catalog URL of an earlier job); ``inputs`` as the process
        describes them (``patches``, ``amplitude_dispersion``, ``parameters={...}``...)."""
        return self.submit("psi", {"stack": str(stack), **inputs})

    def submit_ifg_stack(
        self, reference: str, secondaries: list[str], bbox: list[float] | tuple[float, ...], **inputs: Any
    ) -> Job:
        """Submit an ``interferogram-stack`` job (SLC items or SAFEs; ``bbox`` W, S, E, N);
        ``inputs`` as the process describes them (``subswaths``, ``polarisation``, ``dem``...)."""
        return self.submit(
            "interferogram-stack",
            {"reference": reference, "secondaries": list(secondaries), "bbox": list(bbox), **inputs},
        )

    def job(self, job_id: str) -> Job:
        """The job ``job_id``, read from the service."""
        return Job(self, job_id).refresh()

    def jobs(self) -> list[Job]:
        """The service's jobs (as last listed)."""
        out = []
        for st in self._get_json(f"{self.url}/jobs?f=json&limit=1000").get("jobs", []):
            j = Job(self, str(st.get("jobID")))
            j._update(st)
            out.append(j)
        return out
