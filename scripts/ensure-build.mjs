// Runs before `npm start`, `npm run migrate` and `npm run create-admin` (their pre-scripts).
// Where TypeScript is installed (a development checkout, CI), it builds dist/ from src/, so
// what starts is always the current code; but when dist/ was built by this script from the very
// same sources (a stamp of their hash, dist/.source-stamp), it starts at once: a type-check
// of the whole server takes 15-20 s on a busy machine, and nothing would come of it. A
// production install (`npm ci --omit=dev`) has no TypeScript: there it starts the dist/ built
// beforehand, and says so only if it is missing. Plain JavaScript, because nothing else may be
// installed.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const stampFile = join(root, "dist", ".source-stamp");
const buildInfo = join(root, "dist", ".tsbuildinfo");

function typescriptCompiler() {
  try {
    return createRequire(import.meta.url).resolve("typescript/bin/tsc");
  } catch {
    return undefined;
  }
}

/** Every file under `directory`, sorted, as paths relative to the root. */
function filesUnder(directory) {
  return readdirSync(join(root, directory), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name).slice(root.length))
    .sort();
}

/**
 * What the build's output depends on: the sources, the compiler's settings, the installed
 * dependencies (their types) and the compiler's own version. Names and bytes, in a fixed order.
 */
function sourceStamp(tsc) {
  const hash = createHash("sha256");
  const typescript = JSON.parse(readFileSync(join(tsc, "../../package.json"), "utf8"));
  hash.update(`typescript ${typescript.version}\n`);
  for (const file of [...filesUnder("src"), "tsconfig.json", "tsconfig.build.json", "package-lock.json"]) {
    hash.update(`${file}\n`);
    hash.update(existsSync(join(root, file)) ? readFileSync(join(root, file)) : "(missing)");
    hash.update("\n");
  }
  return hash.digest("hex");
}

/**
 * The stamp of the dist/ there: the sources' hash it was built from, and its build info's hash
 * (a `npm run build` of other sources since changes the latter, so it is not taken for current).
 */
const distStamp = (sources) => `${sources} ${existsSync(buildInfo) ? createHash("sha256").update(readFileSync(buildInfo)).digest("hex") : "none"}`;

const tsc = typescriptCompiler();
if (tsc) {
  const sources = sourceStamp(tsc);
  const built = existsSync(stampFile) ? readFileSync(stampFile, "utf8").trim() : "";
  if (built === distStamp(sources) && existsSync(join(root, "dist", "main.js"))) {
    process.stderr.write("dist/ is current (built from these very sources): not rebuilt\n");
    process.exit(0);
  }
  const build = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  if (build.status === 0) writeFileSync(stampFile, `${distStamp(sources)}\n`);
  process.exit(build.status ?? 1);
}
if (!existsSync(`${root}dist/main.js`)) {
  process.stderr.write(
    "dist/ is missing and TypeScript is not installed (a production install): build it first " +
      "with `npm ci && npm run build`, then `npm ci --omit=dev` (see docs/deploy.md)\n",
  );
  process.exit(1);
}
