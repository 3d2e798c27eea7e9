import pg from "pg";
import type { Logger } from "pino";
import type { Database, Transaction } from "./database.js";

/** Options for the PostgreSQL adapter. */
export interface PostgresOptions {
  connectionString: string;
  /** Put every connection's `search_path` on this schema (tests: one fresh schema each). */
  schema?: string;
  max?: number;
  logger?: Logger;
}

/** A `Database` on a `pg.Pool`. */
export function openPostgres(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    ...(options.schema ? { options: `-c search_path=${quoteIdentifier(options.schema)}` } : {}),
  });
  // An idle client's error (say, the server restarted) must not crash the process;
  // the pool drops that client and the next query gets a fresh one.
  pool.on("error", (error) => options.logger?.warn({ err: error }, "idle database connection failed"));

  return {
    engine: "postgres",
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await pool.query(text, params as unknown[] | undefined);
      return result.rows as Row[];
    },
    async transaction<T>(work: (tx: Transaction) => Promise<T>) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const tx: Transaction = {
          async query<Row>(text: string, params?: readonly unknown[]) {
            const result = await client.query(text, params as unknown[] | undefined);
            return result.rows as Row[];
          },
          async script(sql: string) {
            await client.query(sql);
          },
        };
        const value = await work(tx);
        await client.query("COMMIT");
        return value;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
