/**
 * The one door to the database. Two adapters implement it (PostgreSQL through `pg`, and
 * embedded PGlite); the SQL text is the same on both.
 */

/** Anything that runs statements: the database itself, or an open transaction. */
export interface Queryable {
  /** Runs one parameterised statement and returns its rows. */
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs one parameterised statement and returns its rows as arrays, each row's values in
   * the order of its select list: for hot statements whose rows a mapper made for their
   * shape turns into objects in one step (the drivers' own objects would be copied again).
   */
  queryArrays(text: string, params?: readonly unknown[]): Promise<unknown[][]>;
}

/** A connection pool (or the embedded engine) that can also run a transaction. */
export interface Database extends Queryable {
  readonly engine: "postgres" | "pglite";
  /**
   * Runs `work` inside BEGIN … COMMIT on one connection; any throw rolls back and rethrows.
   * The callback shape means no caller can forget to roll back or release.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** Pool connections now (PostgreSQL); absent where there is no pool (PGlite). */
  poolStats?(): { total: number; idle: number; waiting: number } | undefined;
  /**
   * LISTEN on `channel` for as long as the subscription lasts. On PostgreSQL this holds
   * one connection of its own (outside the pool), reconnecting after it is lost.
   */
  listen(channel: string, listener: NotificationListener): Promise<Subscription>;
}

/** What a LISTEN subscription reports. */
export interface NotificationListener {
  /** A NOTIFY on the channel, in commit order. */
  notification(payload: string): void;
  /** LISTEN is in force (again): notifications from now on arrive. */
  listening(): void;
  /** The listening connection is lost: notifications may be missed until `listening()`. */
  lost(error: Error): void;
}

export interface Subscription {
  close(): Promise<void>;
}

/**
 * A transaction in progress. `script` runs several statements at once (migrations), with
 * no statement timeout.
 */
export interface Transaction extends Queryable {
  script(sql: string): Promise<void>;
  /**
   * Runs `callback` once the transaction has committed, never if it rolls back: for what
   * must only follow a change that stands (counting an audit event). It must not throw.
   */
  afterCommit(callback: () => void): void;
}

/**
 * Runs `transaction` (BEGIN … COMMIT, given the `afterCommit` of its `Transaction`) and, once
 * it has returned, the callbacks it was given: what both adapters share.
 */
export async function withAfterCommit<T>(transaction: (afterCommit: (callback: () => void) => void) => Promise<T>): Promise<T> {
  const callbacks: Array<() => void> = [];
  const value = await transaction((callback) => callbacks.push(callback));
  for (const callback of callbacks) callback();
  return value;
}

/**
 * The database cannot be reached, or the connection failed under a statement (refused,
 * timed out, cut, the server shutting down): nothing the request did wrong, and worth
 * trying again shortly. The driver's error is the `cause`. Clients see SERVICE_UNAVAILABLE.
 */
export class DatabaseUnavailableError extends Error {
  override name = "DatabaseUnavailableError";
  constructor(cause: unknown) {
    super(`The database is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
