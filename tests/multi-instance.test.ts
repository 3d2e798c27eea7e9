import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR } from "../src/db/migrate.js";
import { ENGINE, TEST_DATABASE_URL } from "./support/database.js";
import { unique } from "./support/factories.js";
import { post, startServerProcess, type RunningServer } from "./support/process.js";

/**
 * Many instances on one database, as in production: pgbouncer in transaction pooling in
 * front of the machine's PostgreSQL, and two server processes (`src/main.ts`,
 * NODE_ENV=production) started at the same moment through it. Nothing may depend on session
 * state: each transaction may run on another server connection. The run gets a fresh
 * database (a schema would need `search_path` in the connection's startup options, which
 * pgbouncer refuses), dropped at the end.
 */

const PGBOUNCER = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin"]
  .map((dir) => join(dir, "pgbouncer"))
  .find((path) => existsSync(path));

if (ENGINE === "postgres" && !PGBOUNCER) {
  console.warn("tests/multi-instance.test.ts skipped: pgbouncer is not installed (Debian: apt-get install pgbouncer)");
}

const PASSWORD = "a long enough secret";
/** The load, per instance: half reads, half writes, 8 at a time (a few seconds). */
const REQUESTS_PER_INSTANCE = 1000;

/** A free loopback port (there is a small window before pgbouncer takes it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function withClient<T>(connectionString: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** pgbouncer on a loopback port in front of `upstream`'s server, for `database` only; its URL. */
async function startPgbouncer(dir: string, upstream: URL, database: string): Promise<{ url: string; child: ChildProcess; log: () => string }> {
  const port = await freePort();
  const user = decodeURIComponent(upstream.username || "postgres");
  const password = decodeURIComponent(upstream.password);
  const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
  const server = [
    `host=${quote(upstream.hostname)}`,
    `port=${upstream.port || 5432}`,
    `dbname=${quote(database)}`,
    `user=${quote(user)}`,
    ...(password ? [`password=${quote(password)}`] : []),
  ].join(" ");
  const ini = join(dir, "pgbouncer.ini");
  const userlist = join(dir, "userlist.txt");
  await writeFile(
    ini,
    [
      "[databases]",
      `${database} = ${server}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      // No Unix socket: its default folder may not be writable here.
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${userlist}`,
      "pool_mode = transaction",
      // The instances send statement_timeout when they connect; pgbouncer refuses startup
      // parameters it does not know unless told to ignore them (docs/deploy.md).
      "ignore_startup_parameters = statement_timeout",
      "max_client_conn = 100",
      // Fewer server connections than the two instances' pools hold: transactions share them.
      "default_pool_size = 8",
      "",
    ].join("\n"),
  );
  await writeFile(userlist, `"${user}" ""\n`);
  // pgbouncer will not run as root: as root, it switches to the postgres user (-u), who must read these.
  await chmod(dir, 0o755);
  await chmod(ini, 0o644);
  await chmod(userlist, 0o644);
  const args = process.getuid?.() === 0 ? ["-u", "postgres", ini] : [ini];
  const child = spawn(PGBOUNCER!, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}:\n${output}`);
    try {
      await withClient(url, (client) => client.query("select 1"));
      return { url, child, log: () => output };
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`pgbouncer does not answer on ${port}: ${String(error)}\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The versions a server's start-up log says it applied. */
function appliedMigrations(server: RunningServer): string[] {
  return server.startupOutput
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg?: string; applied?: string[] })
    .filter((line) => line.msg === "applied database migrations")
    .flatMap((line) => line.applied ?? []);
}

describe.runIf(ENGINE === "postgres" && PGBOUNCER)("two instances behind pgbouncer (transaction pooling)", () => {
  const database = `multi_${randomBytes(6).toString("hex")}`;
  let adminUrl: string;
  let dir: string;
  let bouncer: Awaited<ReturnType<typeof startPgbouncer>> | undefined;
  let a: RunningServer;
  let b: RunningServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    const upstream = new URL(TEST_DATABASE_URL!);
    adminUrl = upstream.toString();
    await withClient(adminUrl, (client) => client.query(`create database ${database}`));
    dir = await mkdtemp(join(tmpdir(), "pgbouncer-"));
    bouncer = await startPgbouncer(dir, upstream, database);
    env = {
      NODE_ENV: "production",
      DATABASE_URL: bouncer.url,
      JWT_SECRET: randomBytes(32).toString("hex"),
      BCRYPT_COST: "10",
      HASH_WORKERS: "1",
      LOGIN_MAX_FAILURES: "3",
      LOGIN_ADDRESS_MAX_FAILURES: "100000",
      REGISTER_MAX_PER_ADDRESS: "100000",
      REFRESH_MAX_PER_ADDRESS: "100000",
      // The load below is one user writing as fast as two instances take it.
      WRITE_MAX_PER_USER: "100000",
    };
    // LISTEN cannot go through transaction pooling: the viewer cache's announcements come
    // over a direct connection (DATABASE_LISTEN_URL), everything else through pgbouncer.
    const direct = new URL(adminUrl);
    direct.pathname = `/${database}`;
    const listening = { ...env, DATABASE_LISTEN_URL: direct.toString() };
    // At the same moment, on an empty database: both run the migrations.
    [a, b] = await Promise.all([startServerProcess(listening), startServerProcess(listening)]);
  }, 180_000); // two server processes and pgbouncer: generous on a loaded machine

  afterAll(async () => {
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    if (bouncer) {
      const exited = new Promise((resolve) => bouncer!.child.once("close", resolve));
      bouncer.child.kill("SIGTERM");
      await exited;
    }
    await withClient(adminUrl, (client) => client.query(`drop database if exists ${database} with (force)`));
    if (dir) await rm(dir, { recursive: true, force: true });
    expect(codes.filter((code) => code !== undefined)).toEqual([0, 0]);
  });

  it("both came up, and each migration ran once, under the lock", async () => {
    const files = (await readdir(MIGRATIONS_DIR))
      .filter((name) => /^\d+_[\w-]+\.sql$/.test(name))
      .map((name) => name.replace(/\.sql$/, ""))
      .sort();
    const direct = new URL(adminUrl);
    direct.pathname = `/${database}`;
    const recorded = await withClient(direct.toString(), (client) =>
      client.query<{ version: string }>("select version from schema_migrations order by version"),
    );
    expect(recorded.rows.map((row) => row.version)).toEqual(files);
    // Between them they applied every migration, none twice.
    expect([...appliedMigrations(a), ...appliedMigrations(b)].sort()).toEqual(files);
    // DATABASE_PREPARED_STATEMENTS=auto found pgbouncer's transaction pooling: unnamed statements only.
    for (const server of [a, b]) expect(server.startupOutput).toMatch(/prepared statements off: DATABASE_URL goes through a transaction pooler/);
    for (const server of [a, b]) {
      expect((await fetch(server.url.replace(/graphql$/, "readyz"))).status).toBe(200);
    }
  });

  it("a session revoked through one instance is refused by the other on its next request", async () => {
    const name = unique("multi");
    const email = `${name}@example.com`;
    const registered = await post(a.url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email, username: name, password: PASSWORD },
    });
    expect(registered.errors).toBeUndefined();
    const first = registered.data.register.accessToken as string;
    const login = await post(b.url, `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`, {
      input: { email, password: PASSWORD },
    });
    expect(login.errors).toBeUndefined();
    const second = login.data.login as { accessToken: string; refreshToken: string };

    const me = async (url: string, token: string) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: "{ me { email } }" }),
      });
    for (const url of [a.url, b.url]) {
      expect((await me(url, first)).status).toBe(200);
      expect((await me(url, second.accessToken)).status).toBe(200);
    }

    // logout of the second session through A: B refuses its access token at once.
    const logout = await post(a.url, `mutation($t: String!) { logout(refreshToken: $t) }`, { t: second.refreshToken }, second.accessToken);
    expect(logout.errors).toBeUndefined();
    expect(logout.data).toEqual({ logout: true });
    expect((await me(b.url, second.accessToken)).status).toBe(401);
    expect((await me(b.url, first)).status).toBe(200);
    // A refresh token ended through A does not renew through B either.
    const refresh = await post(b.url, `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: second.refreshToken });
    expect(refresh.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");

    // logoutAll through B: A refuses the first session's token at once.
    expect((await post(b.url, `mutation { logoutAll }`, {}, first)).data).toEqual({ logoutAll: true });
    expect((await me(a.url, first)).status).toBe(401);
  });

  it("a personal access token revoked through one instance is refused by the other on its next request", async () => {
    const name = unique("pat");
    const registered = await post(a.url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email: `${name}@example.com`, username: name, password: PASSWORD },
    });
    const session = registered.data.register.accessToken as string;
    const made = await post(a.url, `mutation { createAccessToken(input: { name: "pipeline", scope: READ }) { secret token { id } } }`, {}, session);
    expect(made.errors).toBeUndefined();
    const { secret, token } = made.data.createAccessToken as { secret: string; token: { id: string } };
    const status = async (url: string) =>
      (
        await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
          body: JSON.stringify({ query: "{ me { id } }" }),
        })
      ).status;
    // Both instances have it in their viewer cache now.
    for (let round = 0; round < 2; round += 1) for (const url of [a.url, b.url]) expect(await status(url)).toBe(200);
    // logoutAll through B ends the session, not the token, on either instance.
    expect((await post(b.url, `mutation { logoutAll }`, {}, session)).data).toEqual({ logoutAll: true });
    for (const url of [a.url, b.url]) expect(await status(url)).toBe(200);
    // Revoked through A (with a new session): B refuses it at once, as it would a session.
    const login = await post(a.url, `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
      input: { email: `${name}@example.com`, password: PASSWORD },
    });
    const revoked = await post(a.url, `mutation($id: ID!) { revokeAccessToken(id: $id) }`, { id: token.id }, login.data.login.accessToken);
    expect(revoked.data).toEqual({ revokeAccessToken: true });
    expect(await status(b.url)).toBe(401);
    expect(await status(a.url)).toBe(401);
  });

  it("an instance whose LISTEN goes through pgbouncer turns its viewer cache off, and still honours revocation", async () => {
    // Prepared statements forced on behind the pooler too: a statement it loses runs again unnamed.
    const c = await startServerProcess({ ...env, DATABASE_PREPARED_STATEMENTS: "on" });
    try {
      expect(c.startupOutput).toMatch(/viewer cache off: a notification did not come back/);
      // Live events too: off, so a connection is told to come back later rather than hear nothing.
      expect(c.startupOutput).toMatch(/live events: a notification did not come back/);
      const name = unique("pooled");
      const registered = await post(c.url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
        input: { email: `${name}@example.com`, username: name, password: PASSWORD },
      });
      const token = registered.data.register.accessToken as string;
      for (let round = 0; round < 2; round += 1) expect((await post(c.url, "{ me { id } }", {}, token)).errors).toBeUndefined();
      expect((await post(a.url, `mutation { logoutAll }`, {}, token)).data).toEqual({ logoutAll: true });
      expect((await post(c.url, "{ me { id } }", {}, token)).errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it("login throttling counts failures across both instances", async () => {
    const name = unique("throttled");
    const email = `${name}@example.com`;
    const registered = await post(b.url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email, username: name, password: PASSWORD },
    });
    expect(registered.errors).toBeUndefined();
    const login = (url: string, password: string) =>
      post(url, `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { email, password } });

    // LOGIN_MAX_FAILURES=3, spent alternately: no instance alone saw three.
    for (const url of [a.url, b.url, a.url]) {
      expect((await login(url, "a wrong password")).errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
    }
    // The fourth attempt is refused on either instance, even with the right password.
    for (const url of [b.url, a.url]) {
      const refused = await login(url, PASSWORD);
      expect(refused.errors?.[0]?.extensions.code).toBe("RATE_LIMITED");
      expect(refused.errors?.[0]?.extensions.retryAfter).toBeGreaterThan(0);
    }
  });

  it("a bounded load of reads and writes against both completes with zero errors", async () => {
    const name = unique("load");
    const registered = await post(a.url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email: `${name}@example.com`, username: name, password: PASSWORD },
    });
    const token = registered.data.register.accessToken as string;
    const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
    const bad: string[] = [];
    let created = 0;
    const check = (kind: "read" | "write") => (status: number, body: string) => {
      if (status !== 200 || body.includes('"errors"')) bad.push(`${status} ${body.slice(0, 300)}`);
      else if (kind === "write") created += 1;
    };
    const load = (url: string) =>
      autocannon({
        url,
        connections: 8,
        // Bounded by count, so every request is answered before the checks.
        amount: REQUESTS_PER_INSTANCE,
        requests: [
          {
            method: "POST",
            headers,
            body: JSON.stringify({ query: "{ me { id } datasets(first: 10) { totalCount nodes { id name } } }" }),
            onResponse: check("read"),
          },
          {
            method: "POST",
            headers,
            body: JSON.stringify({ query: `mutation { createDataset(input: { name: "load", filePath: "/data/load.csv" }) { id } }` }),
            onResponse: check("write"),
          },
        ],
      });
    const results = await Promise.all([load(a.url), load(b.url)]);

    expect(bad.slice(0, 5)).toEqual([]);
    for (const result of results) {
      expect(result.errors).toBe(0);
      expect(result.timeouts).toBe(0);
      expect(result.non2xx).toBe(0);
      expect(result.requests.total).toBe(REQUESTS_PER_INSTANCE);
    }
    expect(created).toBeGreaterThan(REQUESTS_PER_INSTANCE / 2);
    // Every write answered is there, seen alike through either instance.
    for (const url of [a.url, b.url]) {
      const count = await post(url, `{ datasets(first: 1) { totalCount } }`, {}, token);
      expect(count.data.datasets.totalCount).toBe(created);
    }
  }, 30_000);
});
