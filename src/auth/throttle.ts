import { RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import type { ThrottleConfig } from "../config.js";
import type { Queryable } from "../db/database.js";
import { rateLimited } from "../errors.js";

/**
 * Throttling of sign-in, registration and session refresh, on rate-limiter-flexible's
 * PostgreSQL store in our own `rate_limits` table (migrations/002), so every instance
 * shares the counts, on PostgreSQL and PGlite alike.
 */
export interface Throttle {
  /** Before a password is checked: refuses when the account or the address failed too often. */
  beforeLogin(email: string, address: string): Promise<void>;
  loginFailed(email: string, address: string): Promise<void>;
  /** A success clears the account's failures (not the address's: one address, many guesses). */
  loginSucceeded(email: string): Promise<void>;
  register(address: string): Promise<void>;
  refresh(address: string): Promise<void>;
}

const TABLE = "rate_limits";

/**
 * The store client rate-limiter-flexible expects (`query({ text, values })`), over our
 * `Queryable`. Statement names are dropped: unnamed statements also work behind a
 * transaction-pooling pgbouncer.
 */
function storeClient(db: Queryable) {
  return {
    async query({ text, values }: { text: string; values?: unknown[] }) {
      const rows = await db.query(text, values);
      return { rows, rowCount: rows.length };
    },
  };
}

function limiter(db: Queryable, keyPrefix: string, points: number, durationSeconds: number, clearExpired = false) {
  return new RateLimiterPostgres({
    storeClient: storeClient(db),
    storeType: "client",
    tableName: TABLE,
    tableCreated: true,
    clearExpiredByTimeout: clearExpired,
    keyPrefix,
    points,
    duration: durationSeconds,
  });
}

/** Turns the library's "over the limit" rejection into RATE_LIMITED; other errors pass. */
async function consumeOrRefuse(consume: () => Promise<unknown>): Promise<void> {
  try {
    await consume();
  } catch (error) {
    if (error instanceof RateLimiterRes) throw rateLimited(error.msBeforeNext / 1000);
    throw error;
  }
}

/** Throttle for one request, running its statements on `db` (so they are counted). */
export function createThrottle(db: Queryable, config: ThrottleConfig): Throttle {
  const account = limiter(db, "login-account", config.loginMaxFailures, config.loginWindowSeconds);
  const address = limiter(db, "login-address", config.addressMaxFailures, config.loginWindowSeconds);
  const registrations = limiter(db, "register-address", config.registerPerAddressPerHour, 3600);
  const refreshes = limiter(db, "refresh-address", config.refreshPerAddressPerMinute, 60);
  return {
    async beforeLogin(email, clientAddress) {
      const [byAccount, byAddress] = await Promise.all([account.get(email), address.get(clientAddress)]);
      const blocked = [
        [byAccount, config.loginMaxFailures],
        [byAddress, config.addressMaxFailures],
      ] as const;
      const waits = blocked.filter(([res, max]) => res && res.consumedPoints >= max).map(([res]) => res!.msBeforeNext);
      if (waits.length > 0) throw rateLimited(Math.max(...waits) / 1000, "Too many failed sign-ins; try again later");
    },
    async loginFailed(email, clientAddress) {
      await Promise.all([account.penalty(email, 1), address.penalty(clientAddress, 1)]);
    },
    async loginSucceeded(email) {
      await account.delete(email);
    },
    register: (clientAddress) => consumeOrRefuse(() => registrations.consume(clientAddress)),
    refresh: (clientAddress) => consumeOrRefuse(() => refreshes.consume(clientAddress)),
  };
}

/**
 * Deletes counters expired over an hour ago, every 5 minutes (the library's own sweep,
 * on an unref'd timer). One per process is enough: all limiters share the table.
 */
export function startThrottleSweeper(db: Queryable): void {
  limiter(db, "sweeper", 1, 1, true);
}
