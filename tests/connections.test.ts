import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogCapture, startServer, type TestServer } from "./support/server.js";

/**
 * Connections held by clients that never finish, through real sockets: each is closed by
 * the server within its limit. (A test that fails here does so by hanging until the test
 * timeout: the connection stays open.)
 */

interface Socket {
  socket: net.Socket;
  /** Everything the server sent, once it closed the connection. */
  closed: Promise<string>;
}

function connect(url: string, send = ""): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    const closed = new Promise<string>((done) => socket.once("close", () => done(received)));
    socket.once("error", () => {}); // a reset is a close too
    socket.once("connect", () => {
      if (send) socket.write(send);
      resolve({ socket, closed });
    });
    socket.once("error", reject);
  });
}

/** GET /healthz on a connection of its own (no keep-alive pool that would hold one open). */
function healthz(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${new URL(url).origin}/healthz`, { agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
      .once("error", reject);
  });
}

const SLOW_BODY = "POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";

describe("requests that never finish arriving (REQUEST_TIMEOUT=1)", () => {
  const logs = new LogCapture();
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ REQUEST_TIMEOUT: "1" }, logs);
  });
  afterAll(() => server.close());

  it("answers a POST that sends its headers and 1 byte of a 1,000-byte body with 408, and closes it", async () => {
    const { closed } = await connect(server.url, SLOW_BODY);
    const received = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received.toLowerCase()).toContain("connection: close");
    expect(received).toContain('"code":"BAD_REQUEST"');
    expect(await healthz(server.url)).toBe(200);
    expect(logs.lines.some((line) => line.msg === "request refused: its body did not arrive in time")).toBe(true);
    // The server's own closing is neither an error nor a crash in its log.
    expect(logs.lines.filter((line) => line.level >= 50)).toEqual([]);
  });

  it("closes a connection whose headers never finish, and one that sends nothing at all", async () => {
    const partial = await connect(server.url, "POST /graphql HTTP/1.1\r\nHost: localhost\r\n");
    const silent = await connect(server.url);
    expect(await partial.closed).toMatch(/^HTTP\/1\.1 408 /);
    expect(await silent.closed).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("starts with the longest REQUEST_TIMEOUT (3600 s), over Node's own 300 s whole-request default", async () => {
    const patient = await startServer({ REQUEST_TIMEOUT: "3600" }, undefined, server);
    try {
      expect(await healthz(patient.url)).toBe(200);
    } finally {
      await patient.close();
    }
  });

  it("still serves a request whose body arrives in time, in pieces", async () => {
    const body = JSON.stringify({ query: "{ __typename }" });
    const { socket, closed } = await connect(
      server.url,
      `POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 5)}`,
    );
    socket.write(body.slice(5));
    const received = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toContain('"data":{"__typename":"Query"}');
  });
});

// Every test comes from 127.0.0.1: each server has a low cap of its own.
describe.each([
  ["MAX_CONNECTIONS_PER_ADDRESS", "max_connections_per_address"],
  ["MAX_CONNECTIONS", "max_connections"],
])("connections held open (%s=3)", (setting, reason) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ [setting]: "3" });
  });
  afterAll(() => server.close());

  it("closes the fourth connection at once, and serves again when one of the three goes", async () => {
    const held = await Promise.all([connect(server.url), connect(server.url), connect(server.url)]);
    try {
      const fourth = await connect(server.url);
      // Closed by the server without a word, while the three stay open.
      expect(await fourth.closed).toBe("");
      expect(held.every(({ socket }) => !socket.destroyed)).toBe(true);
      await expect(healthz(server.url)).rejects.toThrow();

      held[0]!.socket.destroy();
      expect(await healthzOnceClosed(server.url)).toBe(200);
    } finally {
      for (const { socket } of held) socket.destroy();
    }
    const metrics = await fetch(`${new URL(server.url).origin}/metrics`).then((response) => response.text());
    expect(metrics).toMatch(new RegExp(`http_connections_closed_total\\{reason="${reason}"\\} [2-9]`));
  });
});

/**
 * /healthz once the server has seen a connection close: the client knows first, and the
 * server's count drops a moment later (asked up to 50 times, a round trip apart).
 */
async function healthzOnceClosed(url: string): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await healthz(url);
    } catch (error) {
      if (attempt >= 50) throw error;
    }
  }
}
