import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unique } from "./support/factories.js";
import { post, startServerProcess } from "./support/process.js";

/** SIGTERM: stop taking requests, finish the ones in flight, close the database, exit 0. */
describe("graceful shutdown", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dataset-api-"));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("finishes a slow request that was running when SIGTERM came, then exits 0", async () => {
    // A real bcrypt cost makes registration the slow request (a few hundred milliseconds).
    const server = await startServerProcess({ DATA_DIR: dataDir, BCRYPT_COST: "13", HASH_WORKERS: "1" });
    const name = unique("slow");
    const started = Date.now();
    const slow = post(server.url, `mutation($input: RegisterInput!) { register(input: $input) { user { username } } }`, {
      input: { email: `${name}@example.com`, username: name, password: "a long enough secret" },
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const exitCode = server.stop();
    const answer = await slow;
    expect(answer.errors).toBeUndefined();
    expect(answer.data.register.user.username).toBe(name);
    expect(Date.now() - started).toBeGreaterThan(150);
    expect(await exitCode).toBe(0);
    // Once stopped, nobody answers.
    await expect(fetch(server.url, { method: "POST" })).rejects.toThrow();
  });
});
