// Copies the viewer's third-party browser files from node_modules into the Python package
// (src/snapstamps/viewer/static/vendor). The copies are committed, so installing the Python
// package needs no npm. `node build.mjs --check` fails if the committed copies differ.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "src", "snapstamps", "viewer", "static", "vendor");
const check = process.argv.includes("--check");

const files = [
  ["uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["uplot/dist/uPlot.min.css", "uPlot.min.css"],
  ["uplot/LICENSE", "uPlot.LICENSE"],
];

mkdirSync(vendor, { recursive: true });
let bad = 0;
for (const [from, to] of files) {
  const src = join(here, "node_modules", from);
  const data = readFileSync(src);
  const dst = join(vendor, to);
  if (check) {
    if (!existsSync(dst) || !readFileSync(dst).equals(data)) { console.error(`differs: ${dst}`); bad++; }
  } else {
    writeFileSync(dst, data);
    console.log(`${from} -> ${dst} (${data.length} bytes)`);
  }
}
const pkg = JSON.parse(readFileSync(join(here, "node_modules", "uplot", "package.json"), "utf8"));
console.log(`uplot ${pkg.version} (${pkg.license})`);
process.exit(bad ? 1 : 0);
