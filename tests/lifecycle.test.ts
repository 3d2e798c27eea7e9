import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unique } from "./support/factories.js";
import { startServerProcess } from "./support/process.js";

/** SIGTERM: stop taking requests, finish the ones in flight, close the database, exit 0. */
describe("graceful shutdown", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dataset-api-"));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("finishes a request that was in flight when SIGTERM came, answer and all, then exits 0", async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir, BCRYPT_COST: "4" });
    const name = unique("drain");
    const body = JSON.stringify({
      query: `mutation($input: RegisterInput!) { register(input: $input) { user { username } } }`,
      variables: { input: { email: `${name}@example.com`, username: name, password: "a long enough secret" } },
    });
    let exited: Promise<number | null> | undefined;
    // With `Expect: 100-continue` the server answers "100 Continue" once it has read the
    // headers and begun the request; only then comes SIGTERM, and the body is sent only
    // once the server says it is shutting down. So the request is certainly in flight.
    const answer = await new Promise<{ status: number | undefined; text: string }>((resolve, reject) => {
      const sending = request(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), expect: "100-continue" },
      });
      sending.on("continue", () => {
        exited = server.stop();
        server.waitForOutput(/shutting down/).then(() => sending.end(body), reject);
      });
      sending.on("response", (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode, text }));
        response.on("error", reject);
      });
      sending.on("error", reject);
    });

    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).data).toEqual({ register: { user: { username: name } } });
    expect(await exited).toBe(0);
    // In the server's own words: shutdown began, then the request was answered, then it stopped.
    const log = server.output();
    const shuttingDown = log.indexOf('"msg":"shutting down');
    const answered = log.search(/"operation":"mutation register".*"msg":"request"/);
    expect(shuttingDown).toBeGreaterThan(-1);
    expect(answered).toBeGreaterThan(shuttingDown);
    expect(log.indexOf('"msg":"stopped"')).toBeGreaterThan(answered);
    // Once stopped, nobody answers.
    await expect(fetch(server.url, { method: "POST" })).rejects.toThrow();
  }, 120_000);
});
