// Browser check of an exported snapstamps viewer, driven by playwright-core in Debian's chromium.
// Usage: node viewer-check.mjs '<json spec>'   (spec: url, screenshot, click {lon, lat}, cohMin,
// chromium, timeoutMs).  Prints one JSON object with what the page showed; the Python test asserts.
import { chromium } from "playwright-core";

const spec = JSON.parse(process.argv[2]);
const out = { requests: [], consoleErrors: [] };
const browser = await chromium.launch({
  executablePath: spec.chromium || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic", "--allow-file-access-from-files",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: spec.width || 1280, height: spec.height || 800 } });
  page.on("request", (r) => out.requests.push(r.url()));
  page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
  const timeout = spec.timeoutMs || 30000;
  const t0 = Date.now();
  await page.goto(spec.url, { timeout });
  await page.waitForFunction(() => window.snapstampsViewer && window.snapstampsViewer.ready, null, { timeout });
  out.loadMs = Date.now() - t0;
  Object.assign(out, await page.evaluate(() => {
    const v = window.snapstampsViewer;
    const t = performance.now(); v.redraw(); const frame = performance.now() - t;
    // pixels actually drawn by WebGL (preserveDrawingBuffer is on)
    const gl = document.getElementById("gl"), c = document.createElement("canvas");
    c.width = gl.width; c.height = gl.height;
    const ctx = c.getContext("2d"); ctx.drawImage(gl, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let painted = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
    return { nPoints: v.nPoints, drawnCount: v.drawnCount, webgl: v.webgl, errors: v.errors, redrawMs: frame,
      paintedPixels: painted, countText: document.getElementById("count").textContent,
      legendMin: document.getElementById("tmin").textContent, legendMax: document.getElementById("tmax").textContent };
  }));
  if (spec.click) {
    const xy = await page.evaluate(([lon, lat]) => window.snapstampsViewer.project(lon, lat), [spec.click.lon, spec.click.lat]);
    await page.mouse.move(xy[0], xy[1]);
    await page.waitForFunction(() => window.snapstampsViewer.hovered, null, { timeout: 5000 }).catch(() => {});
    out.hovered = await page.evaluate(() => window.snapstampsViewer.hovered);
    out.tooltip = await page.evaluate(() => { const t = document.getElementById("tooltip"); return t.hidden ? null : t.textContent; });
    await page.mouse.click(xy[0], xy[1]);
    await page.waitForFunction(() => window.snapstampsViewer.selected, null, { timeout: 10000 });
    out.selected = await page.evaluate(() => window.snapstampsViewer.selected);
    out.table = await page.$$eval("#ts-table tr[data-date]", (rows) => rows.map((r) => [r.dataset.date, r.cells[1].textContent]));
    out.tsTitle = await page.textContent("#ts-title");
    out.chartDrawn = await page.evaluate(() => !!document.querySelector("#chart canvas"));
  }
  if (spec.screenshot) await page.screenshot({ path: spec.screenshot });
  if (spec.cohMin != null) {
    out.filtered = await page.evaluate((c) => {
      const el = document.getElementById("coh");
      el.value = String(c); el.dispatchEvent(new Event("input"));
      return { drawnCount: window.snapstampsViewer.drawnCount, countText: document.getElementById("count").textContent };
    }, spec.cohMin);
  }
  if (spec.limits) {
    out.limits = await page.evaluate(([a, b]) => {
      const lo = document.getElementById("vmin"), hi = document.getElementById("vmax");
      lo.value = String(a); lo.dispatchEvent(new Event("change"));
      hi.value = String(b); hi.dispatchEvent(new Event("change"));
      return [document.getElementById("tmin").textContent, document.getElementById("tmax").textContent];
    }, spec.limits);
  }
  out.errors = await page.evaluate(() => window.snapstampsViewer.errors);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
