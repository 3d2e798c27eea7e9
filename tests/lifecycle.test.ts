import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unique } from "./support/factories.js";
import { DATASET_EVENTS, LiveClient } from "./support/live.js";
import { post, startServerProcess } from "./support/process.js";

/** SIGTERM: stop taking requests, finish the ones in flight, close the database, exit 0. */
describe("graceful shutdown", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dataset-api-"));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("finishes a request that was in flight when SIGTERM came, answer and all, closes live-event sockets with 1001, then exits 0", async () => {
    // The stop's bound is generous: on a busy 2-core machine this server took 45 s just to start
    // (PGlite's migrations), and a drain cut off by the default 15 s would be the bound working,
    // not the drain failing. (The "socket hang up" CI once saw was the tsx command killing the
    // server with SIGKILL: tests/support/process.ts now runs it in one Node process.)
    const server = await startServerProcess({ DATA_DIR: dataDir, BCRYPT_COST: "4", SHUTDOWN_TIMEOUT: "90" });
    // A subscriber, connected before the stop: its socket is closed with 1001 (Going Away), so its client reconnects.
    const subscriberName = unique("live");
    const registered = await post(server.url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email: `${subscriberName}@example.com`, username: subscriberName, password: "a long enough secret" },
    });
    const live = LiveClient.as(server.url, registered.data.register.accessToken);
    live.subscribe(DATASET_EVENTS);
    await live.connected();
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
      // What the server said, with the error: a failure here is otherwise hard to read.
      sending.on("error", (error) => reject(new Error(`${error.message}; the server's output:\n${server.output()}`)));
    });

    expect(answer.status).toBe(200);
    expect(await live.closed()).toMatchObject({ code: 1001 });
    expect(JSON.parse(answer.text).data).toEqual({ register: { user: { username: name } } });
    expect(await exited).toBe(0);
    // In the server's own words: shutdown began, then the request was answered, then it stopped.
    const log = server.output();
    const shuttingDown = log.indexOf('"msg":"shutting down');
    // (The subscriber's own registration, before the stop, is logged earlier: looked for after the stop began.)
    const answered = shuttingDown + log.slice(shuttingDown).search(/"operation":"mutation register".*"msg":"request"/);
    expect(shuttingDown).toBeGreaterThan(-1);
    expect(answered).toBeGreaterThan(shuttingDown);
    expect(log.indexOf('"msg":"stopped"')).toBeGreaterThan(answered);
    const socketClosed = log.search(/"code":1001.*"msg":"websocket closed"/);
    expect(socketClosed).toBeGreaterThan(shuttingDown);
    expect(log.indexOf('"msg":"stopped"')).toBeGreaterThan(socketClosed);
    // Once stopped, nobody answers.
    await expect(fetch(server.url, { method: "POST" })).rejects.toThrow();
  }, 240_000);
});
