import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedSampleData } from "./support/seed.js";
import { LogCapture, startServer, type TestServer } from "./support/server.js";

/**
 * The README's quick start and docs/clients.md, run as printed: every fenced block marked
 * ```ts title="path"``` is written to that path in a new frontend folder (beside it the
 * session helper, copied as the README says), then GraphQL Code Generator runs with the
 * printed codegen.ts, tsc checks the whole folder, and each program runs against a live
 * server. Two things differ from the page, as they would on a reader's machine: the server's
 * address (the test server's port, not 4000) and where the API is cloned (`../api/`).
 */

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(import.meta.url);

interface Snippet {
  title: string;
  code: string;
}

/** The blocks of `markdown` marked with a title, in order. */
function snippetsOf(markdown: string): Snippet[] {
  return [...markdown.matchAll(/^```ts title="([^"]+)"\n([\s\S]*?)^```$/gm)].map((match) => ({ title: match[1]!, code: match[2]! }));
}

/** A Node command line of an installed package's bin. */
function binOf(pkg: string, name: string): string {
  const manifest = require(`${pkg}/package.json`) as { bin: string | Record<string, string> };
  const bin = typeof manifest.bin === "string" ? manifest.bin : manifest.bin[name]!;
  return join(dirname(require.resolve(`${pkg}/package.json`)), bin);
}

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function run(cwd: string, args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env, NODE_ENV: "development" }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Runs to the end; fails with the output when the exit code is not 0. */
async function runToEnd(cwd: string, args: string[]): Promise<string> {
  const done = run(cwd, args);
  const code = await done.exited;
  if (code !== 0) throw new Error(`${args.join(" ")} exited with ${code}:\n${done.output()}`);
  return done.output();
}

/** Waits (polling, generous: a loaded machine) until `check` holds; `poke` runs between looks. */
async function until(what: string, check: () => boolean, poke: () => Promise<unknown> = async () => {}): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await poke();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * A frontend folder holding `snippets` as printed, but for the server's address and the API's
 * location; the session helper copied in; codegen run and the whole checked by tsc.
 */
async function frontendOf(snippets: Snippet[], server: TestServer): Promise<string> {
  const dir = await generatedFrontend(snippets);
  await pointAt(dir, server);
  return dir;
}

/** The programs of `dir` talk to `server`, and type-check. */
async function pointAt(dir: string, server: TestServer): Promise<void> {
  for (const file of readdirSync(join(dir, "src")).filter((name) => name.endsWith(".ts"))) {
    const path = join(dir, "src", file);
    writeFileSync(path, readFileSync(path, "utf8").replaceAll("http://127.0.0.1:4000", server.origin));
  }
  await runToEnd(dir, [binOf("typescript", "tsc"), "-p", "tsconfig.json"]);
}

/** The folder with `snippets` written and codegen run (the server's address not yet in it). */
async function generatedFrontend(snippets: Snippet[]): Promise<string> {
  const dir = join(root, "scratch", `frontend-${randomUUID()}`);
  mkdirSync(join(dir, "src"), { recursive: true });
  const api = `${relative(dir, root)}/`;
  for (const { title, code } of snippets) {
    mkdirSync(dirname(join(dir, title)), { recursive: true });
    writeFileSync(join(dir, title), code.replaceAll("../api/", api));
  }
  copyFileSync(join(root, "client/session.ts"), join(dir, "src/session.ts"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ private: true, type: "module" }));
  // What a bundler-based frontend (Vite) has: ES modules, bundler resolution, the DOM's types.
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "ESNext",
        moduleResolution: "Bundler",
        lib: ["ES2022", "DOM", "DOM.Iterable"],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      include: ["src", "*.ts"],
    }),
  );
  // A browser has WebSocket; Node 20 not yet: the one thing the programs get beyond the page.
  writeFileSync(join(dir, "browser-globals.mjs"), 'import WebSocket from "ws";\nglobalThis.WebSocket ??= WebSocket;\n');
  await runToEnd(dir, [binOf("@graphql-codegen/cli", "graphql-codegen"), "--config", "codegen.ts"]);
  return dir;
}

const program = (file: string) => ["--import", "./browser-globals.mjs", "--import", "tsx", file];

describe("the README's quick start, as printed", () => {
  let server: TestServer;
  let dir: string;
  let sample: Awaited<ReturnType<typeof seedSampleData>>;
  const running: Run[] = [];

  beforeAll(async () => {
    server = await startServer();
    sample = await seedSampleData(server);
    dir = await frontendOf(snippetsOf(readFileSync(join(root, "README.md"), "utf8")), server);
  }, 180_000);
  afterAll(async () => {
    for (const each of running) each.child.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await server?.close();
  });

  it("holds codegen.ts and the urql and Apollo Client set-ups, within the README's first 80 lines", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const firstLines = readme.split("\n").slice(0, 80).join("\n");
    expect(snippetsOf(firstLines).map((snippet) => snippet.title)).toEqual(["codegen.ts", "src/urql.ts", "src/apollo.ts"]);
    // The scalars are mapped: the page's DateTime and SafeInt fields are typed, not `unknown`.
    const types = readFileSync(join(dir, "src/gql/graphql.ts"), "utf8");
    const page = /export type PageQuery = (.*);/.exec(types)![1]!;
    expect(page).toContain("createdAt: string");
    expect(page).toContain("size: number");
    expect(page).toContain("rowCount: number | null");
    expect(page).not.toContain("unknown");
  });

  it("Apollo Client: signs in with the session helper and queries through the persisted-query link", async () => {
    const output = await runToEnd(dir, program("src/apollo.ts"));
    expect(output).toContain(`signed in as ${sample.username}`);
  }, 60_000);

  it("urql: lists the sample datasets with their files, then hears their events over graphql-ws", async () => {
    const urql = run(dir, program("src/urql.ts"));
    running.push(urql);
    await until("the dataset page", () => urql.output().includes(sample.datasetName) || urql.child.exitCode !== null);
    expect(urql.output()).toContain(`${sample.datasetName} [ ${sample.paths.map((path) => `'${path}'`).join(", ")} ]`);
    // The subscription is in place once an event arrives: rename until one does.
    await until(
      "an event",
      () => urql.output().includes("event UPDATED"),
      () => sample.rename(`Renamed ${randomUUID().slice(0, 8)}`),
    );
    expect(urql.output()).toMatch(/event UPDATED Renamed [0-9a-f]{8}/);
  }, 120_000);
});

describe("docs/clients.md's trusted documents, as printed", () => {
  let seeded: TestServer;
  let trusted: TestServer;
  let dir: string;
  const logs = new LogCapture();

  beforeAll(async () => {
    seeded = await startServer();
    await seedSampleData(seeded);
    dir = await generatedFrontend(snippetsOf(readFileSync(join(root, "docs/clients.md"), "utf8")));
    // The manifest the frontend's codegen wrote, on a server of the same database in `only` mode.
    trusted = await startServer(
      { PERSISTED_OPERATIONS: "only", PERSISTED_OPERATIONS_MANIFEST: join(dir, "src/gql/persisted-documents.json") },
      logs,
      seeded,
    );
    await pointAt(dir, trusted);
  }, 180_000);
  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await trusted?.close();
    await seeded?.close();
  });

  it("signs in and lists by hash alone, through the frontend's own manifest; an unlisted text is refused", async () => {
    const output = await runToEnd(dir, program("src/trusted.ts"));
    expect(output).toContain("datasets: 1");
    const unlisted = await trusted.graphql("{ me { id } }");
    expect(unlisted.status).toBe(403);
    // The start-up log says the mode and how many documents the manifest holds.
    const manifest = Object.keys(JSON.parse(readFileSync(join(dir, "src/gql/persisted-documents.json"), "utf8")) as object);
    expect(manifest).toHaveLength(2);
    expect(logs.lines).toContainEqual(
      expect.objectContaining({ persistedOperations: "only", manifestDocuments: 2, msg: expect.stringContaining("only the 2 trusted documents") }),
    );
  }, 60_000);
});
