import { createHash } from "node:crypto";
import { RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import { throttlingGroup } from "../client-address.js";
import type { ThrottleConfig } from "../config.js";
import type { Queryable } from "../db/database.js";
import { rateLimited } from "../errors.js";

/**
 * Throttling of sign-in, registration and session refresh, on rate-limiter-flexible's
 * PostgreSQL store in our own `rate_limits` table (migrations/002), so every instance
 * shares the counts, on PostgreSQL and PGlite alike.
 */
export interface Throttle {
  /**
   * Counts a sign-in attempt against the account and the address before the password is
   * checked, in one atomic upsert each, so parallel guesses cannot all slip under the limit.
   * Refuses with RATE_LIMITED when either is over.
   */
  loginAttempt(email: string, address: string): Promise<void>;
  /** A success clears the account's count and gives the address its point back. */
  loginSucceeded(email: string, address: string): Promise<void>;
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

/** Accounts are counted by a hash of the email: fixed length, and no addresses in the table. */
const accountKey = (email: string) => createHash("sha256").update(email).digest("base64url");

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
    async loginAttempt(email, clientAddress) {
      const outcomes = await Promise.allSettled([account.consume(accountKey(email)), address.consume(throttlingGroup(clientAddress))]);
      const refusals = outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [outcome.reason as unknown] : []));
      const over = refusals.filter((reason): reason is RateLimiterRes => reason instanceof RateLimiterRes);
      if (over.length < refusals.length) throw refusals.find((reason) => !(reason instanceof RateLimiterRes));
      if (over.length > 0) {
        throw rateLimited(Math.max(...over.map((res) => res.msBeforeNext)) / 1000, "Too many failed sign-ins; try again later");
      }
    },
    async loginSucceeded(email, clientAddress) {
      await Promise.all([account.delete(accountKey(email)), address.reward(throttlingGroup(clientAddress), 1)]);
    },
    register: (clientAddress) => consumeOrRefuse(() => registrations.consume(throttlingGroup(clientAddress))),
    refresh: (clientAddress) => consumeOrRefuse(() => refreshes.consume(throttlingGroup(clientAddress))),
  };
}

/**
 * Deletes counters expired over an hour ago, every 5 minutes (the library's own sweep,
 * on an unref'd timer). One per process is enough: all limiters share the table.
 */
export function startThrottleSweeper(db: Queryable): void {
  limiter(db, "sweeper", 1, 1, true);
}
