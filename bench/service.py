"""Job overhead: a small psi job through the service against the CLI, with the layers in between.

Simulates a 200 x 400 x 20 stack (the size of the "new user" trial in issue 15), then times, each
once and one after the other on the same stack:

1. ``snapstamps psi`` (one process, steps 0-8 and products), then ``snapstamps quicklooks`` and
   ``snapstamps stac catalog`` (what the job adds after the products), as separate processes, and
   ``snapstamps psi --catalog`` (the job's whole work in one process, as the one-patch job's tool);
2. ``snapstamps cwl-run app-package/psi.cwl#psi`` under cwltool (the same work as one CWL
   process per step and patch: runner start-up, staging, per-step imports);
3. optionally the same under ``toil-cwl-runner`` (``--toil``);
4. the service: ``snapstamps serve`` on a free loopback port, ``POST /processes/psi/execution``
   (async), polled until the job ends (server start-up not counted, reported apart).

It prints the wall and CPU seconds of each and the ratios to the CLI, the seconds of each tool
process of the cwltool run and of each layer of the service job, so the layer that dominates a
job's overhead can be read off.  The issue's target: the service within 2x the CLI.  Usage::

    python bench/service.py [--width 200] [--length 400] [--dates 20] [--patches 1 1] [--toil] [--out bench-service]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu() -> float:
    """CPU seconds (user + sys) of the children waited for so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed(cmd: list[str], env: dict[str, str], what: str) -> tuple[float, float]:
    """Run ``cmd``; return (wall s, CPU s of it and its children)."""
    c0, t0 = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
    return dt, _cpu() - c0


def _iso(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _service_layers(job_dir: Path, doc: dict, t_job: float) -> list[tuple[str, float]]:
    """Where the service job's time went, from the job record and the job folder's files:
    POST to the worker's start, the CWL runner (cwl-job.json written .. cwl-output.json written),
    validation and publication after the runner, and the rest (the request, the client's polling)."""
    created, started, finished = (_iso(doc[k]) for k in ("created", "started", "finished"))
    run0 = (job_dir / "cwl-job.json").stat().st_mtime
    run1 = (job_dir / "cwl-output.json").stat().st_mtime
    layers = [("queue + worker start (created .. started)", started - created),
              ("worker before the runner (stage-in, job file)", run0 - started),
              ("CWL runner (cwltool and the tools)", run1 - run0),
              ("after the runner: STAC validation + publication", finished - run1)]
    layers.append(("request + client polling (the rest)", t_job - sum(v for _, v in layers)))
    return layers


def _tool_seconds(log: Path) -> list[tuple[str, float]]:
    """Seconds of each tool process in a cwltool log written with --timestamps (1 s resolution)."""
    import datetime as dt
    import re

    stamp = r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]"
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    starts = {m.group(2): m.group(1) for m in re.finditer(stamp + r" INFO \[job ([\w-]+)\] \S+\$ ", text)}
    ends = {m.group(2): m.group(1) for m in re.finditer(stamp + r" INFO \[job ([\w-]+)\] completed", text)}
    first = re.search(stamp, text)
    last = list(re.finditer(stamp + r" INFO Final process status", text))

    def t(x: str) -> float:
        return dt.datetime.strptime(x, "%Y-%m-%d %H:%M:%S").timestamp()

    out = [(f"tool {name}", t(ends[name]) - t(s)) for name, s in starts.items() if name in ends]
    if first and last:
        out.append(("cwltool first log line .. final status", t(last[-1].group(1)) - t(first.group(1))))
    return out


def _service(stack: Path, data: Path, patches: list[int], env: dict[str, str]) -> tuple[float, float, dict]:
    """Start the server, run one psi job, stop; return (start-up s, job s, final job document)."""
    import requests

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data.mkdir(parents=True, exist_ok=True)
    log = open(data.parent / "server.log", "wb")
    t0 = time.perf_counter()
    env = dict(env, SNAPSTAMPS_DATA_ROOTS=str(stack.parent))  # the stack is a local input of this service
    srv = subprocess.Popen([sys.executable, "-m", "snapstamps.cli", "serve", "--port", str(port), "--data-dir", str(data)],
                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        while True:
            if srv.poll() is not None:
                raise SystemExit(f"server exited: {(data.parent / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/conformance?f=json", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        t_up = time.perf_counter() - t0
        t1 = time.perf_counter()
        r = requests.post(f"{url}/processes/psi/execution", json={"inputs": {"stack": str(stack), "patches": patches}},
                          headers={"Content-Type": "application/json", "Prefer": "respond-async"}, timeout=60)
        if r.status_code != 201:
            raise SystemExit(f"job refused: {r.status_code} {r.text[:500]}")
        job_id = r.json()["jobID"]
        while True:
            doc = requests.get(f"{url}/jobs/{job_id}?f=json", timeout=10).json()
            if doc["status"] in ("successful", "failed", "dismissed"):
                break
            time.sleep(0.25)
        t_job = time.perf_counter() - t1
        doc["layers"] = _service_layers(data / "jobs" / job_id, doc, t_job)
        return t_up, t_job, doc
    finally:
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
        for pidf in (data / "jobs").glob("*/worker.pid"):  # a worker left behind (the job ended: normally none)
            try:
                os.killpg(int(pidf.read_text()), signal.SIGKILL)
            except (ProcessLookupError, PermissionError, ValueError):
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=200)
    ap.add_argument("--length", type=int, default=400)
    ap.add_argument("--dates", type=int, default=20)
    ap.add_argument("--patches", type=int, nargs=2, default=[1, 1], metavar=("RG", "AZ"))
    ap.add_argument("--toil", action="store_true", help="also run the package under toil-cwl-runner")
    ap.add_argument("--out", default="bench-service")
    args = ap.parse_args()

    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    insar = simulate_stamps_stack(out / "sim", SimConfig(width=args.width, length=args.length, n_dates=args.dates, seed=0))
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    snap = [sys.executable, "-m", "snapstamps.cli", "-q"]
    rows: list[tuple[str, float, float]] = []

    def row(name: str, timed: tuple[float, float]) -> tuple[float, float]:
        rows.append((name, *timed))
        return timed

    t_cli = row("CLI: snapstamps psi (steps 0-8, products)",
                _timed(snap + ["psi", str(insar), "--out", str(out / "cli"), "--patches", *map(str, args.patches)], env, "psi"))
    t_q = _timed(snap + ["quicklooks", str(out / "cli"), "--out", str(out / "cli-ql")], env, "quicklooks")
    t_c = _timed(snap + ["stac", "catalog", str(out / "cli"), "--out", str(out / "cli-cat"), "--quicklooks", str(out / "cli-ql")],
                 env, "stac catalog")
    row("CLI: + quicklooks + stac catalog (the job's whole work)",
        (t_cli[0] + t_q[0] + t_c[0], t_cli[1] + t_q[1] + t_c[1]))
    row("CLI: snapstamps psi --catalog (whole work, one process)",
        _timed(snap + ["psi", str(insar), "--out", str(out / "cli1"), "--patches", *map(str, args.patches),
                       "--catalog", str(out / "cli1-cat")], env, "psi --catalog"))
    row("one Python start with the psi imports",
        _timed([sys.executable, "-c", "import snapstamps.workflows.psi, snapstamps.psi.gamma, snapstamps.psi.unwrap"],
               env, "imports"))
    row("one `snapstamps --help` (CLI start-up)", _timed(snap + ["--help"], env, "help"))

    job = out / "job.json"
    job.write_text(json.dumps({"stack": {"class": "Directory", "path": str(insar)}, "patches": args.patches}))
    app = f"{ROOT / 'app-package/psi.cwl'}#psi"
    row("cwltool: app-package/psi.cwl#psi", _timed(snap + ["cwl-run", app, str(job), "--out", str(out / "cwltool"),
                                                           "--runner-arg=--timestamps"], env, "cwltool"))
    tools = _tool_seconds(out / "cwltool" / ".cwl-run" / "runner.log")
    if args.toil:
        row("toil-cwl-runner (single machine)", _timed(
            snap + ["cwl-run", app, str(job), "--out", str(out / "toil"), "--runner", "toil-cwl-runner"], env, "toil"))
    c0 = _cpu()
    t_up, t_job, doc = _service(insar, out / "service", args.patches, env)
    rows.append((f"service: POST .. job {doc['status']} (server start-up {t_up:.1f} s apart)", t_job, _cpu() - c0))

    print(f"\nstack {args.width} x {args.length} x {args.dates}, patches {args.patches[0]} x {args.patches[1]}")
    print(f"{'':<62}{'wall s':>8}{'CPU s':>8}{'x CLI':>7}")
    for name, sec, cpu in rows:
        print(f"{name:<62}{sec:>8.1f}{cpu:>8.1f}{sec / t_cli[0]:>7.1f}")
    print("(CPU s: user + sys of the command and its children; the service's includes the server's start-up)")
    print("\ncwltool run, per tool process (cwltool's timestamps, 1 s resolution):")
    for name, sec in tools:
        print(f"  {name:<60}{sec:>8.0f}")
    print("service job, per layer:")
    for name, sec in doc["layers"]:
        print(f"  {name:<60}{sec:>8.1f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    (out / "service-bench.json").write_text(json.dumps({"rows": rows, "tools": tools, "service_layers": doc["layers"], "load": os.getloadavg()}, indent=2))
    return 0 if doc["status"] == "successful" else 1


if __name__ == "__main__":
    sys.exit(main())
