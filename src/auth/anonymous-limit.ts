import { throttlingGroup } from "../http/client-address.js";
import { rateLimited } from "../common/errors.js";

/**
 * The limit on requests with no credential (`ANONYMOUS_MAX_PER_ADDRESS` a minute per client
 * address group), counted in this instance's memory: a fixed window per address group that
 * starts with its first request. PER INSTANCE: behind N instances an address may make up to
 * N times the limit, as each counts only what reaches it.
 *
 * Why not the database, as sign-in is throttled (throttle.ts): every anonymous request, the
 * public catalog's included, would write and commit a counter row before its answer; the
 * catalog benchmark measured that write as a large part of an anonymous request's cost. The
 * anonymous limit protects capacity (anonymous traffic cannot starve signed-in users), which
 * an instance can judge for itself; sign-in limits protect accounts, and stay shared.
 *
 * Bounded: at most `maxAddresses` windows are kept. Windows are kept in the order they
 * started, so expired ones are dropped from the front as requests come; should more than
 * `maxAddresses` address groups be inside their window at once, the oldest window is
 * forgotten early (that address group starts afresh) rather than memory growing.
 */
export class AnonymousLimit {
  /** Address group → its window's end (epoch ms) and requests counted in it; oldest window first. */
  private readonly windows = new Map<string, { endsAt: number; count: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly maxAddresses = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request with no credential from `address`; throws RATE_LIMITED once it is over its minute's limit. */
  consume(address: string): void {
    const now = this.now();
    this.dropExpired(now);
    const group = throttlingGroup(address);
    let window = this.windows.get(group);
    if (!window || window.endsAt <= now) {
      // A new window goes to the end of the map (delete first), keeping the map in order of end.
      this.windows.delete(group);
      if (this.windows.size >= this.maxAddresses) this.windows.delete(this.windows.keys().next().value!);
      window = { endsAt: now + WINDOW_MS, count: 0 };
      this.windows.set(group, window);
    }
    window.count += 1;
    if (window.count > this.perMinute) {
      throw rateLimited((window.endsAt - now) / 1000, "Too many requests without signing in from your address; try again shortly, or sign in");
    }
  }

  /** How many address groups are inside a window now (tests, metrics). */
  get size(): number {
    return this.windows.size;
  }

  /** Drops windows that have ended from the front (the oldest); stops at the first open one. */
  private dropExpired(now: number): void {
    for (const [group, window] of this.windows) {
      if (window.endsAt > now) return;
      this.windows.delete(group);
    }
  }
}

const WINDOW_MS = 60_000;
