import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * docs/tokens.md's script flow runs as printed: the playground's mutation (with a session),
 * then every `sh` block in order in one bash, with the `js` block saved under the name its
 * first line gives, against a real server. The README points there; its own shell block runs
 * here too.
 */

const ROOT = fileURLToPath(new URL("../", import.meta.url));

interface Block {
  lang: string;
  code: string;
}

function fencedBlocks(markdown: string): Block[] {
  return [...markdown.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((match) => ({ lang: match[1]!, code: match[2]! }));
}

function run(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd, env: { PATH: process.env.PATH ?? "", HOME: cwd, ...env } });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (err += chunk));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

let server: TestServer;
let user: TestUser;
let dir: string;

beforeAll(async () => {
  server = await startServer();
  user = await createUser(server);
  // Inside the repository (under the ignored .data/), so `import "tus-js-client"` resolves.
  await mkdir(join(ROOT, ".data"), { recursive: true });
  dir = await mkdtemp(join(ROOT, ".data", "docs-tokens-"));
}, 180_000);
afterAll(async () => {
  await server.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("docs/tokens.md", () => {
  it("the script's whole flow runs as printed: token, curl upload, commit, download, tus client", async () => {
    const blocks = fencedBlocks(await readFile(join(ROOT, "docs/tokens.md"), "utf8"));
    const playground = blocks.filter((block) => block.lang === "graphql");
    const scripts = blocks.filter((block) => block.lang === "sh");
    const files = blocks.filter((block) => block.lang === "js");
    expect(playground).toHaveLength(1);
    expect(scripts.length).toBeGreaterThanOrEqual(3);
    expect(files).toHaveLength(1);

    const made = await server.graphql(playground[0]!.code, {}, { token: user.token });
    expect(made.errors).toBeUndefined();
    const secret = made.data.createAccessToken.secret as string;
    for (const file of files) {
      const name = /^\/\/ ([\w.-]+):/.exec(file.code)?.[1];
      expect(name, "a js block names its file on its first line").toBeTruthy();
      await writeFile(join(dir, name!), file.code);
    }
    const result = await run(scripts.map((block) => block.code).join("\n"), dir, {
      API: server.origin,
      DPAT: secret,
      NODE_PATH: join(ROOT, "node_modules"),
    });
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    expect(result.out).toContain("version 1");
    expect(result.out).toContain("downloaded the same bytes");
    expect(result.out).toMatch(/"number":2/);

    // What the script did, as the database has it: two versions, made through the token.
    const [dataset] = await server.database.query<{ id: string; latest: number }>(
      "select id, latest_version as latest from datasets where user_id = $1 and name = 'Nightly import'",
      [user.id],
    );
    expect(dataset!.latest).toBe(2);
    const events = await server.database.query<{ token: string }>(
      "select details->>'tokenId' as token from audit_events where type = 'version.committed' and subject_id = $1",
      [dataset!.id],
    );
    expect(events).toHaveLength(2);
    expect(new Set(events.map((event) => event.token))).toEqual(new Set([made.data.createAccessToken.token.id]));
  }, 180_000);
});

describe("README.md", () => {
  const shellBlocks = async () =>
    // The other shell block, `npm ci && npm start` and `npm run seed`, is tests/build.test.ts's and the seed's test's.
    fencedBlocks(await readFile(join(ROOT, "README.md"), "utf8")).filter((block) => block.lang === "sh" && block.code.startsWith("API="));

  it("the first session's shell block runs as printed: register, create, list, GET", async () => {
    const [first] = await shellBlocks();
    const result = await run(first!.code, dir, { API: server.origin });
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    expect(result.out).toContain('"name":"Rainfall 2024"');
    expect(result.out).toContain('"totalCount":1');
    expect(result.out).toContain('"username":"zoe"');
  }, 120_000);

  it("the script's shell block runs as printed with a token: create, tus upload, commit, download the same bytes", async () => {
    const blocks = await shellBlocks();
    expect(blocks).toHaveLength(2);
    const made = await server.graphql(
      `mutation { createAccessToken(input: { name: "readme", scope: WRITE }) { secret } }`,
      {},
      { token: user.token },
    );
    expect(made.errors).toBeUndefined();
    const result = await run(blocks[1]!.code, dir, { API: server.origin, DPAT: made.data.createAccessToken.secret });
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    expect(result.out).toContain('"commitDatasetVersion":{"number":1}');
    expect(result.out).toContain("same bytes");
    const [dataset] = await server.database.query<{ latest: number }>(
      "select latest_version as latest from datasets where user_id = $1 and name = 'Nightly'",
      [user.id],
    );
    expect(dataset!.latest).toBe(1);
  }, 120_000);
});
