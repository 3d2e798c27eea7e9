import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabaseUnavailableError, type Database } from "../src/db/database.js";
import { openPostgres } from "../src/db/postgres.js";
import { createTestDatabase, ENGINE, TEST_DATABASE_URL, type TestDatabase } from "./support/database.js";
import { createUser, type TestUser } from "./support/factories.js";
import { LogCapture, startServer, type GraphQLResponse, type TestServer } from "./support/server.js";

/**
 * PostgreSQL going away under a running server, through a TCP proxy the test controls
 * between the server's pool and the real database: cut (connections dropped, new ones
 * refused: the database is down) or partitioned (nothing answers, nothing is refused).
 * Requests fail fast with SERVICE_UNAVAILABLE (503), /readyz says 503, and once the proxy
 * is back the same server answers again, with every committed write still there.
 */

/** What the server's pool waits for, here: a connection, and an answer to a statement. */
const CONNECT_TIMEOUT_MS = 1000;
const QUERY_TIMEOUT_MS = 2000;
/** "Fast": well under what a client or a load balancer would wait. */
const FAST_MS = 5000;

/** A TCP proxy to `target` that can be cut (refusing) or partitioned (silent), then restored. */
class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Connections accepted during a partition, not yet passed on. */
  private held: Socket[] = [];
  private partitioned = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  }

  private accept(client: Socket): void {
    this.track(client);
    if (this.partitioned) {
      client.pause();
      this.held.push(client);
      return;
    }
    this.pass(client);
  }

  /** Connects `client` to the target and forwards both ways (paused while partitioned). */
  private pass(client: Socket): void {
    const upstream = createConnection(this.target);
    this.track(upstream);
    const forward = (from: Socket, to: Socket) => {
      from.on("data", (chunk) => {
        if (!to.write(chunk)) from.pause();
      });
      to.on("drain", () => {
        if (!this.partitioned) from.resume();
      });
      from.on("close", () => to.destroy());
    };
    forward(client, upstream);
    forward(upstream, client);
    client.resume();
  }

  /** The database is down: every connection dropped, new ones refused. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.held = [];
    await closed;
  }

  /** Back on the same port. */
  restore(): Promise<void> {
    return this.listen();
  }

  /** Nothing answers: bytes are held in both directions, new connections accepted and ignored. */
  partition(): void {
    this.partitioned = true;
    for (const socket of this.sockets) socket.pause();
  }

  /** The network is back: what was held flows on, as TCP would deliver it. */
  heal(): void {
    this.partitioned = false;
    const held = this.held;
    this.held = [];
    for (const socket of this.sockets) if (!held.includes(socket)) socket.resume();
    for (const client of held) if (!client.destroyed) this.pass(client);
  }

  async close(): Promise<void> {
    await this.cut();
  }
}

const ME = `{ me { id } }`;
/** A signed-in read whose resolver needs the database (`me` may be answered by the viewer cache). */
const DATASETS = `{ datasets(first: 5) { nodes { id } } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;

/** Runs `request`, returning its result and how long it took. */
async function timed<T>(request: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await request();
  return { result, ms: performance.now() - started };
}

/** The server's log; on a response other than 503, its warnings and errors say which failure was not recognised. */
const logs = new LogCapture();

function expectUnavailable(response: GraphQLResponse): void {
  expect(response.status, `${JSON.stringify({ data: response.data, errors: response.errors })}; the server logged ${logs.warnings()}`).toBe(503);
  expect(response.errors).toHaveLength(1);
  const [error] = response.errors!;
  expect(error!.extensions.code).toBe("SERVICE_UNAVAILABLE");
  expect(error!.message).toMatch(/temporarily unavailable.*database/);
  expect(error!.extensions.requestId).toEqual(expect.any(String));
  // Nothing of the driver's error (addresses, ports) reaches the client.
  expect(JSON.stringify(response.errors)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|timeout/i);
}

describe.runIf(ENGINE === "postgres")("the database goes away and comes back (PostgreSQL through a proxy)", () => {
  let proxy: TcpProxy;
  let direct: TestDatabase;
  let proxied: Database;
  let server: TestServer;
  let readyz: string;
  let user: TestUser;

  const readiness = async () => (await fetch(readyz)).status;

  /** A dataset created (and committed) through the server; its id. */
  const createDataset = async (name: string) => {
    const response = await server.graphql(
      `mutation($name: String!) { createDataset(input: { name: $name }) { id } }`,
      { name },
      { token: user.token },
    );
    expect(response.errors).toBeUndefined();
    return response.data.createDataset.id as string;
  };

  /** The server answers again, by itself: ready, and the user's datasets readable. */
  const expectRecovered = async (names: string[]) => {
    const deadline = Date.now() + FAST_MS;
    while ((await readiness()) !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await readiness()).toBe(200);
    const response = await server.graphql(`{ datasets(first: 100) { nodes { name } } }`, {}, { token: user.token });
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    expect(response.data.datasets.nodes.map((node: { name: string }) => node.name).sort()).toEqual([...names].sort());
  };

  /** The viewer cache answers `me` (no statement), soon: a probe must succeed first. */
  const expectViewerCached = async () => {
    const deadline = Date.now() + 10_000;
    let statements = Number.NaN;
    while (statements !== 0 && Date.now() < deadline) {
      statements = (await server.graphql(ME, {}, { token: user.token })).statements;
      if (statements !== 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(statements).toBe(0);
  };

  beforeAll(async () => {
    const target = new URL(TEST_DATABASE_URL!);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.listen();
    direct = await createTestDatabase();
    const throughProxy = new URL(TEST_DATABASE_URL!);
    throughProxy.hostname = "127.0.0.1";
    throughProxy.port = String(proxy.port);
    proxied = openPostgres({
      connectionString: throughProxy.toString(),
      schema: direct.schema,
      max: 4,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
    });
    server = await startServer({}, logs, { database: proxied, databaseUrl: undefined });
    readyz = server.url.replace(/\/graphql$/, "/readyz");
    user = await createUser(server);
  });

  afterAll(async () => {
    await server?.close();
    await proxied?.close().catch(() => undefined);
    await direct?.drop();
    await proxy?.close();
  });

  it("down: requests fail at once with SERVICE_UNAVAILABLE, /readyz is 503, and it recovers by itself with the committed write", async () => {
    const id = await createDataset("before the outage");
    expect(await readiness()).toBe(200);

    await proxy.cut();
    try {
      // Signed in: the resolver's statement fails.
      const signedIn = await timed(() => server.graphql(DATASETS, {}, { token: user.token }));
      expect(signedIn.ms).toBeLessThan(FAST_MS);
      expectUnavailable(signedIn.result);
      // Anonymous: a resolver's statement fails.
      const anonymous = await timed(() => server.graphql(LOGIN, { input: { email: user.email, password: user.password } }));
      expect(anonymous.ms).toBeLessThan(FAST_MS);
      expectUnavailable(anonymous.result);
      // login's own sign-in throttle (in the database) fails first, and login is non-null: no data at all.
      expect(anonymous.result.data ?? null).toBeNull();
      // A write fails too, and leaves nothing behind.
      const write = await server.graphql(`mutation { createDataset(input: { name: "during the outage" }) { id } }`, {}, { token: user.token });
      expectUnavailable(write);

      const ready = await timed(readiness);
      expect(ready.result).toBe(503);
      expect(ready.ms).toBeLessThan(FAST_MS);
      expect((await fetch(readyz.replace(/readyz$/, "healthz"))).status).toBe(200);
    } finally {
      await proxy.restore();
    }

    await expectRecovered(["before the outage"]);
    // The write committed before the outage is in the database itself, not only in a cache.
    expect(await direct.database.query(`select name from datasets where id = $1`, [id])).toEqual([{ name: "before the outage" }]);
    await createDataset("after the outage");
    await expectRecovered(["before the outage", "after the outage"]);
  });

  it("partitioned: nothing answers, yet requests fail within the timeouts, the pool is not wedged, and it recovers", async () => {
    // The viewer from memory, so that every request meets the database in its resolver (on the
    // compiled path), not in authentication: once the listening connection was back after the
    // test before, under load only, and the compiled path's unrecognised errors answered 200.
    await expectViewerCached();
    // Connections in the pool now, so some requests meet a silent open connection, others a silent new one.
    await Promise.all([1, 2, 3, 4].map(() => server.graphql(DATASETS, {}, { token: user.token })));
    const names = (await direct.database.query<{ name: string }>(`select name from datasets`)).map((row) => row.name);

    proxy.partition();
    try {
      // More requests than the pool has connections: the ones waiting for a connection give up too.
      const burst = await Promise.all(Array.from({ length: 10 }, () => timed(() => server.graphql(DATASETS, {}, { token: user.token }))));
      for (const { result, ms } of burst) {
        expectUnavailable(result);
        expect(ms).toBeLessThan(FAST_MS);
      }
      const ready = await timed(readiness);
      expect(ready.result).toBe(503);
      expect(ready.ms).toBeLessThan(FAST_MS);
    } finally {
      proxy.heal();
    }

    await expectRecovered(names);
    await createDataset("after the partition");
    await expectRecovered([...names, "after the partition"]);
  });

  it("partitioned: the viewer cache stops answering within its probe bound, and serves again after", async () => {
    // (After the tests before, the LISTEN connection may still be reconnecting.)
    await expectViewerCached();

    proxy.partition();
    const started = performance.now();
    try {
      // The LISTEN connection hears nothing and says nothing: only the failed probe tells.
      // When the first request that was not answered from memory was sent.
      let refusedAt: number | undefined;
      while (refusedAt === undefined && performance.now() - started < 6000) {
        const sentAt = performance.now();
        const response = await server.graphql(ME, {}, { token: user.token });
        if (response.status === 503) {
          expectUnavailable(response);
          refusedAt = sentAt - started;
        } else {
          expect(response.statements).toBe(0);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      expect(refusedAt, "a cached viewer still answered 6 s into the partition").toBeDefined();
      // PROBE_EVERY_MS + PROBE_WITHIN_MS (src/auth/viewer-changes.ts), plus this loop's pace.
      expect(refusedAt).toBeLessThan(3200);
    } finally {
      proxy.heal();
    }
    await expectRecovered((await direct.database.query<{ name: string }>(`select name from datasets`)).map((row) => row.name));
    // Once a probe succeeds again the cache serves again.
    await expectViewerCached();
  });

  it("a connection cut inside a transaction fails that transaction as unavailable, and the process carries on", async () => {
    const failure = proxied.transaction(async (tx) => {
      await tx.query(`insert into datasets (user_id, name) values ($1, 'never committed')`, [user.id]);
      await proxy.cut();
      // The checked-out connection's error arrives while no statement runs.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await tx.query("select 1");
    });
    await expect(failure).rejects.toBeInstanceOf(DatabaseUnavailableError);
    await proxy.restore();
    expect(await proxied.query(`select count(*)::int as n from datasets where name = 'never committed'`)).toEqual([{ n: 0 }]);
    await expectRecovered((await direct.database.query<{ name: string }>(`select name from datasets`)).map((row) => row.name));
  });
});
