// Runs before `npm start`, `npm run migrate` and `npm run create-admin` (their pre-scripts).
// Where TypeScript is installed (a development checkout, CI), it builds dist/ from src/, so
// what starts is always the current code. A production install (`npm ci --omit=dev`) has no
// TypeScript: there it starts the dist/ built beforehand, and says so only if it is missing.
// Plain JavaScript, because nothing else may be installed.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));

function typescriptCompiler() {
  try {
    return createRequire(import.meta.url).resolve("typescript/bin/tsc");
  } catch {
    return undefined;
  }
}

const tsc = typescriptCompiler();
if (tsc) {
  const build = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  process.exit(build.status ?? 1);
}
if (!existsSync(`${root}dist/main.js`)) {
  process.stderr.write(
    "dist/ is missing and TypeScript is not installed (a production install): build it first " +
      "with `npm ci && npm run build`, then `npm ci --omit=dev` (see docs/deploy.md)\n",
  );
  process.exit(1);
}
