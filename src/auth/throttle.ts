import { createHash } from "node:crypto";
import { RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import { throttlingGroup } from "../http/client-address.js";
import type { ThrottleConfig } from "../config/config.js";
import type { Queryable } from "../db/database.js";
import { type ClientError, rateLimited } from "../common/errors.js";

/**
 * Throttling of sign-in, registration, session refresh and writes (anonymous requests: anonymous-limit.ts), on rate-limiter-flexible's
 * PostgreSQL store in our own `rate_limits` table (migrations/002), so every instance
 * shares the counts, on PostgreSQL and PGlite alike. Client addresses are counted by their
 * throttling group (an IPv6 address by its /64: client-address.ts).
 *
 * Sign-in failures are counted three ways. The main limit is per account and client
 * address: whoever guesses at an account from one place is stopped there, and the account
 * stays open to its owner everywhere else (no lock-out by strangers). Per address, for any
 * accounts: one client trying many accounts. Per account, from everywhere, a far higher
 * hard cap over a longer window: guessing one account from many addresses.
 */
export interface Throttle {
  /**
   * Counts a sign-in attempt before the password is checked, each count one atomic
   * upsert, so parallel guesses cannot all slip under a limit. The address is counted
   * first: a client over its limit is refused without adding counters for the accounts it
   * names. Returns the refusal when a limit is over, `undefined` when the attempt may go on.
   */
  loginAttempt(email: string, address: string): Promise<SignInRefusal | undefined>;
  /** A success clears the account's counts (consecutive failures end) and gives the address its point back. */
  loginSucceeded(email: string, address: string): Promise<void>;
  register(address: string): Promise<void>;
  refresh(address: string): Promise<void>;
  /** Counts one mutation by a signed-in user; RATE_LIMITED over `writesPerUserPerMinute`. */
  write(userId: string): Promise<void>;
  /**
   * Personal access tokens: RATE_LIMITED when the address is over its sign-in failures
   * (`LOGIN_ADDRESS_MAX_FAILURES`), before a presented secret is looked up.
   */
  refuseGuessing(address: string): Promise<void>;
  /** A secret that matched no token: one failure against the address, as a wrong password is. */
  secretGuessed(address: string): Promise<void>;
}

/** Which sign-in limit refused an attempt. */
export type SignInLimit = "address" | "account-address" | "account";

/** A refused sign-in attempt. */
export interface SignInRefusal {
  /** RATE_LIMITED with the seconds until the longest of the limits hit ends. */
  error: ClientError;
  limits: SignInLimit[];
  /**
   * The first refusal by this limit in its window: the one worth recording, so that a
   * client that keeps trying adds one audit event per window, not one per attempt.
   */
  firstInWindow: boolean;
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

/**
 * A limiter on the shared table. The library's own sweep is off: `src/jobs/sweeper.ts` deletes
 * expired counters of every kind, on one timer per process.
 */
function limiter(db: Queryable, keyPrefix: string, points: number, durationSeconds: number) {
  // A duration of 0 would be a counter that never expires (the library's `expire` null).
  if (!(durationSeconds > 0)) throw new Error(`throttle ${keyPrefix}: a window of ${durationSeconds} s never ends`);
  return new RateLimiterPostgres({
    storeClient: storeClient(db),
    storeType: "client",
    tableName: TABLE,
    tableCreated: true,
    clearExpiredByTimeout: false,
    keyPrefix,
    points,
    duration: durationSeconds,
  });
}

/** Accounts are counted by a hash of the email: fixed length, and no addresses in the table. */
const accountKey = (email: string) => createHash("sha256").update(email).digest("base64url");
/** An account from one address group, hashed the same way (and for the same reasons). */
const accountAddressKey = (email: string, group: string) => createHash("sha256").update(`${email}\n${group}`).digest("base64url");

/** Turns the library's "over the limit" rejection into RATE_LIMITED; other errors pass. */
async function consumeOrRefuse(consume: () => Promise<unknown>, message?: string): Promise<void> {
  try {
    await consume();
  } catch (error) {
    if (error instanceof RateLimiterRes) throw rateLimited(error.msBeforeNext / 1000, message);
    throw error;
  }
}

/** A limiter's verdict on one consumption: over the limit or not, and by how much. */
type Verdict = { over: false } | { over: true; limit: SignInLimit; res: RateLimiterRes; first: boolean };

async function consumeFor(limit: SignInLimit, limiter: RateLimiterPostgres, key: string): Promise<Verdict> {
  try {
    await limiter.consume(key);
    return { over: false };
  } catch (error) {
    if (!(error instanceof RateLimiterRes)) throw error;
    // Refused attempts are counted too, so exactly one attempt sees the count one past the limit.
    return { over: true, limit, res: error, first: error.consumedPoints === limiter.points + 1 };
  }
}

function refusal(verdicts: Verdict[]): SignInRefusal | undefined {
  const over = verdicts.filter((verdict) => verdict.over);
  if (over.length === 0) return undefined;
  const retryAfterSeconds = Math.max(...over.map((verdict) => verdict.res.msBeforeNext)) / 1000;
  return {
    error: rateLimited(retryAfterSeconds, "Too many failed sign-ins; try again later"),
    limits: over.map((verdict) => verdict.limit),
    firstInWindow: over.some((verdict) => verdict.first),
  };
}

/** Throttle for one request, running its statements on `db` (so they are counted). */
export function createThrottle(db: Queryable, config: ThrottleConfig): Throttle {
  const accountAddress = () => limiter(db, "login-account-address", config.loginMaxFailures, config.loginWindowSeconds);
  const account = () => limiter(db, "login-account", config.accountMaxFailures, config.accountWindowSeconds);
  const address = () => limiter(db, "login-address", config.addressMaxFailures, config.loginWindowSeconds);
  return {
    async loginAttempt(email, clientAddress) {
      const group = throttlingGroup(clientAddress);
      const byAddress = await consumeFor("address", address(), group);
      if (byAddress.over) return refusal([byAddress]);
      const verdicts = await Promise.all([
        consumeFor("account-address", accountAddress(), accountAddressKey(email, group)),
        consumeFor("account", account(), accountKey(email)),
      ]);
      return refusal(verdicts);
    },
    async loginSucceeded(email, clientAddress) {
      const group = throttlingGroup(clientAddress);
      await Promise.all([accountAddress().delete(accountAddressKey(email, group)), account().delete(accountKey(email)), address().reward(group, 1)]);
    },
    register: (clientAddress) =>
      consumeOrRefuse(() => limiter(db, "register-address", config.registerPerAddressPerHour, 3600).consume(throttlingGroup(clientAddress))),
    refresh: (clientAddress) =>
      consumeOrRefuse(() => limiter(db, "refresh-address", config.refreshPerAddressPerMinute, 60).consume(throttlingGroup(clientAddress))),
    async refuseGuessing(clientAddress) {
      const limit = address();
      const counted = await limit.get(throttlingGroup(clientAddress));
      if (counted && counted.consumedPoints >= limit.points)
        throw rateLimited(counted.msBeforeNext / 1000, "Too many failed sign-ins; try again later");
    },
    async secretGuessed(clientAddress) {
      await consumeFor("address", address(), throttlingGroup(clientAddress));
    },
    write: (userId) =>
      consumeOrRefuse(
        () => limiter(db, "write-user", config.writesPerUserPerMinute, 60).consume(userId),
        "Too many changes in a minute; try again shortly",
      ),
  };
}

/**
 * Deletes up to $2 counters whose window ended before $1 (epoch milliseconds), through the
 * `expire` index, and says how many. Every counter has an end: `limiter` allows no window
 * without one.
 */
const DELETE_EXPIRED_COUNTERS = `
  with gone as (
    delete from ${TABLE} where key in (select key from ${TABLE} where expire < $1 limit $2) returning 1
  )
  select count(*)::int as "count" from gone`;

const DELETE_BATCH = 5000;

/** Deletes every counter whose window ended before `nowMs`, in batches; returns how many went. */
export async function deleteExpiredCounters(db: Queryable, nowMs: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const [row] = await db.query<{ count: number }>(DELETE_EXPIRED_COUNTERS, [nowMs, DELETE_BATCH]);
    deleted += row!.count;
    if (row!.count < DELETE_BATCH) return deleted;
  }
}
