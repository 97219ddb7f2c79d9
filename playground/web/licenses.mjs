// licenses.mjs prints the licence of every package that package-lock.json puts into
// the bundle (its non-development packages), with name, version and the package's own
// licence file, for ../static/THIRD_PARTY_LICENSES.txt. Run by build.sh.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const entries = Object.entries(lock.packages)
  .filter(([path, p]) => path.startsWith("node_modules/") && !p.dev)
  .map(([path, p]) => ({ path, name: path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length), version: p.version, license: p.license }))
  .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

const out = [
  "Third-party software in the gateway playground (playground/static/app.js).",
  "Built by playground/web/build.sh from the exact versions in playground/web/package-lock.json.",
  "",
];
for (const e of entries) {
  const files = readdirSync(e.path).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f)).sort();
  if (!files.length) throw new Error(`${e.name}@${e.version} ships no licence file: add its licence text by hand before bundling it`);
  out.push("=".repeat(78), `${e.name}@${e.version} (${e.license})`, "=".repeat(78), "");
  for (const f of files) out.push(readFileSync(join(e.path, f), "utf8").trim(), "");
}
process.stdout.write(out.join("\n"));
