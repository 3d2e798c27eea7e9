import pg from "pg";

/** Rounds of the probe: a pooler that hands out server connections round-robin may give one back by chance. */
const ROUNDS = 3;

/**
 * Whether `connectionString` reaches PostgreSQL through a transaction pooler (pgbouncer with
 * `pool_mode = transaction`), where consecutive transactions of one client connection may run
 * on different server connections, so a statement prepared on one is missing on the next.
 * pgbouncer 1.18 (Debian 12) does not carry named prepared statements across them.
 *
 * A direct connection, or a session pooler's, keeps one backend for its life. So: two
 * connections each open a transaction (which puts them on two server connections), both end
 * it, and the first asks its backend's pid again. A transaction pooler hands it a free server
 * connection (pgbouncer by default the last released, the second's); PostgreSQL itself, the
 * same backend. A second connection that cannot start while the first holds a transaction
 * is a pooler with one server connection.
 */
export async function behindTransactionPooler(connectionString: string, waitMs = 2_000): Promise<boolean> {
  const open = async () => {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: waitMs, application_name: "pooler probe" });
    client.on("error", () => undefined);
    await client.connect();
    return client;
  };
  const pid = async (client: pg.Client) => (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
  const first = await open();
  let second: pg.Client | undefined;
  try {
    second = await open();
    for (let round = 0; round < ROUNDS; round += 1) {
      await first.query("begin");
      const before = await pid(first);
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<"waited">((resolve) => (timer = setTimeout(resolve, waitMs, "waited")));
      const started = await Promise.race([second.query("begin"), waited]);
      clearTimeout(timer);
      if (started === "waited") return true;
      await pid(second);
      await first.query("commit");
      await second.query("commit");
      if ((await pid(first)) !== before) return true;
    }
    return false;
  } finally {
    await Promise.all([first.end().catch(() => undefined), second?.end().catch(() => undefined)]);
  }
}
