// Timing of an exported snapstamps viewer in headless Debian chromium (playwright-core), for bench/viewer.py.
// Usage: node bench-viewer.mjs '<json spec>'
//   spec: url, chromium, pid (of the point to click), lon, lat (its position), zoomRes (m/px for the click),
//         redraws (default 20), timeoutMs, width, height.
// Prints one JSON object of figures; nothing is asserted here.  Chromium gets the same flags as the
// browser tests (web/viewer-check.mjs) and a fresh --user-data-dir that is removed afterwards.
// "Drawn" means rasterised: every timed draw ends with a 1-pixel gl.readPixels, which waits until
// the GL pipeline (SwiftShader here) has finished the frame.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const spec = JSON.parse(process.argv[2]);
const timeout = spec.timeoutMs || 120000;
const nRedraws = spec.redraws || 20;
const ARGS = [ // as web/viewer-check.mjs
  "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
  "--disable-quic", "--allow-file-access-from-files",
];

// Runs before any page script: records the moment the viewer sets `ready` (right after its first
// full draw, inside that frame's requestAnimationFrame callback) once the pixels are really there.
const INIT = () => {
  const marks = (window.__bench = { readyAt: null, viewerStartAt: null });
  let api;
  Object.defineProperty(window, "snapstampsViewer", {
    configurable: true,
    get() { return api; },
    set(obj) {
      marks.viewerStartAt = performance.now(); // viewer.js starts: page and data scripts loaded and parsed
      api = obj;
      let ready = obj.ready;
      Object.defineProperty(obj, "ready", {
        configurable: true, enumerable: true,
        get() { return ready; },
        set(v) {
          if (v && !ready) {
            const gl = document.getElementById("gl").getContext("webgl");
            if (gl) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
            marks.readyAt = performance.now();
          }
          ready = v;
        },
      });
    },
  });
};

const out = { consoleErrors: [] };
const profile = mkdtempSync(join(tmpdir(), "snapstamps-bench-profile-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: spec.chromium || "/usr/bin/chromium",
  headless: true,
  args: ARGS,
  viewport: { width: spec.width || 1280, height: spec.height || 800 },
});
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
  await page.addInitScript(INIT);
  const cdp = await context.newCDPSession(page);
  await cdp.send("Performance.enable");

  // ---------------------------------------------------------------- first full draw
  await page.goto(spec.url, { timeout });
  await page.waitForFunction(() => window.__bench.readyAt !== null, null, { timeout, polling: 50 });
  Object.assign(out, await page.evaluate(() => {
    const v = window.snapstampsViewer;
    return { nPoints: v.nPoints, drawnCount: v.drawnCount, webgl: v.webgl, errors: v.errors.slice(),
      firstDrawMs: window.__bench.readyAt, viewerStartMs: window.__bench.viewerStartAt,
      glRenderer: (() => {
        const gl = document.getElementById("gl").getContext("webgl");
        const ext = gl && gl.getExtension("WEBGL_debug_renderer_info");
        return gl ? gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) : null;
      })() };
  }));

  // ---------------------------------------------------------------- redraws through the API (synchronous draw + pixels)
  out.redraw = await page.evaluate((n) => {
    const v = window.snapstampsViewer, gl = document.getElementById("gl").getContext("webgl"), px = new Uint8Array(4);
    const sync = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    const limits = [], coh = [];
    sync();
    for (let k = 0; k < n; k++) {
      const t0 = performance.now();
      if (k % 2 === 0) v.setLimits(-2 - (k % 7), 2 + (k % 5)); else v.setCohMin(((k * 0.37) % 0.9));
      sync();
      (k % 2 === 0 ? limits : coh).push(performance.now() - t0);
    }
    v.setCohMin(0); v.setLimits(-10, 10); sync();
    const alone = []; // the readPixels round trip with nothing to draw: the floor of the figures above
    for (let k = 0; k < n; k++) { const t0 = performance.now(); sync(); alone.push(performance.now() - t0); }
    return { limitsMs: limits, cohMs: coh, syncAloneMs: alone, lastFrameMs: v.lastFrameMs };
  }, nRedraws);

  // ---------------------------------------------------------------- redraws through the UI, one per animation frame
  // Each frame changes a control (colour limit "change" / coherence slider "input"); the viewer draws in the
  // next frame.  Intervals between requestAnimationFrame timestamps show how fluid it stays.
  const idle = await page.evaluate((n) => new Promise((resolve) => { // no change: the frame rate's floor here
    const ts = [];
    const step = (t) => { ts.push(t); if (ts.length > n) resolve(ts.slice(1).map((x, i) => x - ts[i])); else requestAnimationFrame(step); };
    requestAnimationFrame(step);
  }), nRedraws);
  out.frames = await page.evaluate((n) => new Promise((resolve) => {
    const $ = (id) => document.getElementById(id);
    const gl = $("gl").getContext("webgl"), px = new Uint8Array(4), ts = [];
    let k = 0;
    const step = (t) => {
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px); // the previous frame's points are rasterised
      ts.push(t);
      if (k === n) {
        $("coh").value = "0"; $("coh").dispatchEvent(new Event("input"));
        resolve({ intervalsMs: ts.slice(1).map((x, i) => x - ts[i]) });
        return;
      }
      if (k % 2 === 0) { $("vmin").value = String(-3 - (k % 6)); $("vmin").dispatchEvent(new Event("change")); }
      else { $("coh").value = String((k * 0.37) % 0.9); $("coh").dispatchEvent(new Event("input")); }
      k++;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(() => requestAnimationFrame(step));
  }), nRedraws);
  out.frames.idleIntervalsMs = idle;

  // ---------------------------------------------------------------- click a known point -> its time series shown
  if (spec.pid != null) {
    await page.evaluate(([lon, lat, res]) => window.snapstampsViewer.zoomTo(lon, lat, res), [spec.lon, spec.lat, spec.zoomRes]);
    const xy = await page.evaluate(([lon, lat]) => window.snapstampsViewer.project(lon, lat), [spec.lon, spec.lat]);
    await page.mouse.move(xy[0], xy[1]);
    await page.evaluate((pid) => {
      // from the pointerup that selects the point to the frame after the series (title, table, chart) is in the DOM
      const b = window.__bench, title = document.getElementById("ts-title");
      b.click = { upAt: null, shownAt: null, domAt: null };
      document.getElementById("map").addEventListener("pointerup", (e) => { b.click.upAt = performance.now(); }, { capture: true, once: true });
      const mo = new MutationObserver(() => {
        if (b.click.domAt === null && title.textContent.startsWith("PS " + pid + ":") && document.querySelector("#chart canvas")) {
          b.click.domAt = performance.now();
          mo.disconnect();
          requestAnimationFrame(() => { b.click.shownAt = performance.now(); });
        }
      });
      mo.observe(document.getElementById("ts"), { subtree: true, childList: true, characterData: true, attributes: true });
    }, spec.pid);
    await page.mouse.click(xy[0], xy[1]);
    await page.waitForFunction(() => window.__bench.click.shownAt !== null, null, { timeout: 30000, polling: 50 });
    out.click = await page.evaluate(() => {
      const c = window.__bench.click, s = window.snapstampsViewer.selected;
      return { toDomMs: c.domAt - c.upAt, toShownMs: c.shownAt - c.upAt,
        selected: s && { pid: s.pid, dates: s.dates, values: s.values } };
    });
  }

  // ---------------------------------------------------------------- JS heap (after a garbage collection)
  await cdp.send("HeapProfiler.collectGarbage");
  const metrics = Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
  out.heap = { jsHeapUsed: metrics.JSHeapUsedSize, jsHeapTotal: metrics.JSHeapTotalSize };
  try {
    const u = await cdp.send("Runtime.getHeapUsage");
    out.heap.backingStorage = u.backingStorageSize ?? null; // ArrayBuffer contents, outside the V8 heap
  } catch (e) { out.heap.backingStorage = null; }
  out.errors = await page.evaluate(() => window.snapstampsViewer.errors);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + "\n");
