import pg from "pg";
import type { Logger } from "pino";
import {
  DatabaseUnavailableError,
  type Database,
  type NotificationListener,
  type Subscription,
  type Transaction,
  withAfterCommit,
} from "./database.js";
import { preparedName } from "./prepared.js";
import { isoTimestamp } from "./timestamps.js";

/** Options for the PostgreSQL adapter. */
export interface PostgresOptions {
  connectionString: string;
  /** Where the LISTEN connection goes (default `connectionString`): PostgreSQL itself, not a transaction pooler. */
  listenConnectionString?: string;
  /** Put every connection's `search_path` on this schema (tests: one fresh schema each). */
  schema?: string;
  max?: number;
  logger?: Logger;
  /**
   * Milliseconds to wait for a connection (a new one, or a free one of the pool) before the
   * statement fails as unavailable. Default `DEFAULT_CONNECT_TIMEOUT_MS`.
   */
  connectTimeoutMs?: number;
  /**
   * Milliseconds to wait for a statement's answer before giving up on it and dropping its
   * connection (a database that accepts but never answers: a network partition, a stuck
   * pgbouncer). Migrations (`Transaction.script`) have no limit. Default `DEFAULT_QUERY_TIMEOUT_MS`.
   */
  queryTimeoutMs?: number;
  /**
   * PostgreSQL's `statement_timeout` for the pool's connections (sent when each connects,
   * so nothing is SET on a shared connection): the server cancels a statement running
   * longer, and the connection stays usable. 0 or absent: the server's own setting.
   */
  statementTimeoutMs?: number;
  /**
   * Run the texts marked `preparable` (src/db/prepared.ts) as named prepared statements, outside
   * transactions. Not through a transaction pooler (see pooler.ts); should one turn out to be
   * in between anyway (PostgreSQL says a statement is missing, or already there), the adapter
   * runs that statement again unnamed and stops naming any.
   */
  preparedStatements?: boolean;
}

/**
 * SQLSTATEs of a named statement a pooler lost or doubled: 26000 (invalid_sql_statement_name:
 * not prepared on this server connection), 42P05 (duplicate_prepared_statement). Both are
 * raised before the statement runs, so running it again unnamed is safe.
 */
const LOST_STATEMENT = new Set(["26000", "42P05"]);

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/** setTimeout's longest delay (about 24 days): in effect no limit, for migrations. */
const NO_TIMEOUT_MS = 2 ** 31 - 1;

/** Socket errors that mean the server is gone or unreachable. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * SQLSTATEs of a server that is going away or cannot take the connection: class 08
 * (connection exceptions; pgbouncer reports its own failures as 08P01), admin or crash
 * shutdown, starting up, too many connections.
 */
const UNAVAILABLE_STATES = /^(08...|57P01|57P02|57P03|53300)$/;

/** What pg and pg-pool say, without a code, when a connection fails, times out or is cut. */
const CONNECTION_MESSAGES =
  /^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

/** Whether `error` is about the connection rather than the statement. */
function isConnectionError(error: unknown): boolean {
  if (error instanceof AggregateError && error.errors.some(isConnectionError)) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (NETWORK_CODES.has(code) || UNAVAILABLE_STATES.test(code))) return true;
  return typeof message === "string" && CONNECTION_MESSAGES.test(message);
}

/** `error` as a `DatabaseUnavailableError` when the connection failed; otherwise unchanged. */
function unavailableOr(error: unknown): unknown {
  return error instanceof DatabaseUnavailableError || !isConnectionError(error) ? error : new DatabaseUnavailableError(error);
}

/**
 * A `Database` on a `pg.Pool`. When PostgreSQL goes away, statements fail fast with
 * `DatabaseUnavailableError` (refused at once, or after the connect or query timeout), broken
 * connections leave the pool, and the next statement after it is back opens a fresh one.
 */
export function openPostgres(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    query_timeout: options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    // TCP keepalive finds idle connections whose peer vanished without a word.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.schema ? { options: `-c search_path=${quoteIdentifier(options.schema)}` } : {}),
    types: TYPES,
  });
  // An idle client's error (say, the server restarted) must not crash the process;
  // the pool drops that client and the next query gets a fresh one.
  pool.on("error", (error) => options.logger?.warn({ err: error }, "idle database connection failed"));
  let prepared = options.preparedStatements ?? false;

  const run = async (text: string, params: readonly unknown[] | undefined, arrays: boolean): Promise<unknown[]> => {
    const name = prepared ? preparedName(text) : undefined;
    const values = params as unknown[] | undefined;
    try {
      // pool.query releases the client with the error, so a broken connection leaves the pool.
      const config = name ? { name, text, values } : { text, values };
      const result = arrays ? await pool.query({ ...config, rowMode: "array" }) : await pool.query(config);
      return result.rows;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (name && typeof code === "string" && LOST_STATEMENT.has(code)) {
        if (prepared) options.logger?.warn({ code }, "prepared statements off: a server connection lost one (a transaction pooler in between?)");
        prepared = false;
        return run(text, params, arrays);
      }
      throw unavailableOr(error);
    }
  };

  return {
    engine: "postgres",
    query: async <Row>(text: string, params?: readonly unknown[]) => (await run(text, params, false)) as Row[],
    queryArrays: async (text: string, params?: readonly unknown[]) => (await run(text, params, true)) as unknown[][],
    transaction: <T>(work: (tx: Transaction) => Promise<T>) => withAfterCommit((afterCommit) => transaction(work, afterCommit)),
    async close() {
      await pool.end();
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    listen: (channel, listener) => listenOn(channel, listener, options),
  };

  /** BEGIN … COMMIT on one connection of the pool; `afterCommit` is `withAfterCommit`'s. */
  async function transaction<T>(work: (tx: Transaction) => Promise<T>, afterCommit: Transaction["afterCommit"]): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new DatabaseUnavailableError(error);
    }
    // Set when the connection failed: it is then dropped, not returned to the pool.
    let broken: Error | undefined;
    // A checked-out client's connection error is emitted as 'error'; unheard, it would
    // crash the process. The statement in flight (or the next one) fails with it anyway.
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on("error", onError);
    const run = async (config: (pg.QueryConfig | pg.QueryArrayConfig) & { query_timeout?: number }) => {
      try {
        return await client.query(config as pg.QueryConfig);
      } catch (error) {
        if (isConnectionError(error)) broken ??= error as Error;
        throw unavailableOr(error);
      }
    };
    try {
      await run({ text: "BEGIN" });
      const tx: Transaction = {
        async query<Row>(text: string, params?: readonly unknown[]) {
          const result = await run({ text, values: params as unknown[] | undefined });
          return result.rows as Row[];
        },
        async queryArrays(text: string, params?: readonly unknown[]) {
          const result = await run({ text, values: params as unknown[] | undefined, rowMode: "array" });
          return result.rows as unknown[][];
        },
        async script(sql: string) {
          await run({ text: sql, query_timeout: NO_TIMEOUT_MS });
        },
        afterCommit,
      };
      const value = await work(tx);
      await run({ text: "COMMIT" });
      return value;
    } catch (error) {
      // On a broken connection there is nothing to roll back: the server does it as the
      // connection closes.
      if (!broken) await client.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
      throw unavailableOr(error);
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }
}

/** The driver's type parsers, but timestamps as ISO text (timestamps.ts). */
const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.TIMESTAMPTZ && format !== "binary"
      ? isoTimestamp
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Reconnection delays of the LISTEN connection: doubling from the first to the last. */
const LISTEN_RETRY_FIRST_MS = 250;
const LISTEN_RETRY_LAST_MS = 5_000;

/**
 * LISTEN on a connection of its own, outside the pool (a pooled connection goes back to
 * the pool, and its LISTEN with it). When that connection fails or ends, `lost` is told at
 * once and a new one is tried after a growing delay, until `close`.
 */
async function listenOn(channel: string, listener: NotificationListener, options: PostgresOptions): Promise<Subscription> {
  let closed = false;
  let current: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delayMs = LISTEN_RETRY_FIRST_MS;

  const connect = async () => {
    const client = new pg.Client({
      connectionString: options.listenConnectionString ?? options.connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      query_timeout: options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: `listen ${channel}`,
    });
    current = client;
    let failed = false;
    const fail = (error: Error) => {
      if (failed || closed) return;
      failed = true;
      client.end().catch(() => undefined);
      listener.lost(error);
      retry = setTimeout(() => void connect(), delayMs);
      retry.unref();
      delayMs = Math.min(delayMs * 2, LISTEN_RETRY_LAST_MS);
    };
    client.on("error", fail);
    client.on("end", () => fail(new Error("the listening connection ended")));
    client.on("notification", (message) => {
      if (message.channel === channel) listener.notification(message.payload ?? "");
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdentifier(channel)}`);
    } catch (error) {
      fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (failed || closed) return;
    delayMs = LISTEN_RETRY_FIRST_MS;
    listener.listening();
  };

  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await current?.end().catch(() => undefined);
    },
  };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
