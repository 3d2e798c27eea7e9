import type { TokenScope } from "../generated/graphql.js";
import type { UserRow } from "../users/rows.js";

/** The longest an entry is served, announcements or not: a last guard against a change no trigger saw. */
export const ENTRY_MAX_AGE_MS = 60_000;

/**
 * What never changes about a personal access token once made, by the SHA-256 of its secret
 * (base64url; the secret itself is never kept): which token and user it is, and its reach.
 * Whether it still works is the cache's entry for `tokenId`, forgotten like a session's.
 */
export interface TokenFacts {
  tokenId: string;
  userId: string;
  scope: TokenScope;
  datasetIds: readonly string[] | null;
  /** When the token expires (`Date.now()` milliseconds), or null: never. */
  expiresAtMs: number | null;
  /** When this instance last stamped its `lastUsedAt` (`Date.now()`), so it writes at most once a minute. */
  stampedAt: number;
}

/**
 * Live viewers by credential id (a session's, or a personal access token's), so that a
 * request bearing a known session's token, or a known personal token, skips the viewer
 * check statement. It holds only what the database said was valid, and is right
 * only while it hears of every change to a user or session row: `viewer-changes.ts` makes
 * it forget an entry the moment such a change is announced, and extends its trust only
 * for a short while after each proof that announcements arrive (`trustUntil`). Outside
 * that time it answers nothing, however late the timers that would say so run.
 *
 * The race it guards against: a request reads a viewer as valid, a revocation commits and
 * is announced, and only then does the request store what it read. `readOnce` notes the
 * generation before the read and `remember` compares after it: anything forgotten in
 * between, and the read is not stored.
 */
export class ViewerCache {
  readonly #users = new Map<string, { user: UserRow; storedAt: number; expiresAtMs: number | null }>();
  readonly #tokenFacts = new Map<string, TokenFacts>();
  readonly #sessionsByUser = new Map<string, Set<string>>();
  readonly #reading = new Map<string, { snapshot: number; read: Promise<UserRow> }>();
  /** Moves on with every forget: a read that started before it may be stale. */
  #generation = 0;
  /** `performance.now()` until which announcements are known to arrive… */
  #trustedUntil = Number.NEGATIVE_INFINITY;
  /**
   * …and the same moment by the wall clock: the monotonic clock stands still while the
   * machine is suspended, the wall clock does not, so trust ends by whichever ends first.
   */
  #trustedUntilWall = Number.NEGATIVE_INFINITY;

  constructor(
    readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The user behind a live session, as last read from the database; undefined: ask the database. */
  get(sessionId: string): UserRow | undefined {
    if (!this.trusted) return undefined;
    const entry = this.#users.get(sessionId);
    if (!entry) return undefined;
    if (this.now() - entry.storedAt > ENTRY_MAX_AGE_MS || (entry.expiresAtMs !== null && Date.now() >= entry.expiresAtMs)) {
      this.#drop(sessionId);
      return undefined;
    }
    return entry.user;
  }

  /**
   * One database read per session at a time: a request for a session whose read is under
   * way, and began after the last forget, shares that read, so a burst of requests on a
   * session not yet seen costs one statement. Not while untrusted: a read shared then could
   * have begun before a revocation this instance never heard of.
   */
  readOnce<Row extends UserRow>(key: string, read: (snapshot: number) => Promise<Row>): Promise<Row> {
    const current = this.#reading.get(key);
    // A key names one kind of read (a session's, or a token's: `token <hash>`), so what it shares has that read's type.
    if (current && current.snapshot === this.#generation && this.trusted) return current.read as Promise<Row>;
    const snapshot = this.#generation;
    if (!this.trusted || this.capacity === 0) return read(snapshot);
    const shared: Promise<Row> = read(snapshot).finally(() => {
      if (this.#reading.get(key)?.read === shared) this.#reading.delete(key);
    });
    this.#reading.set(key, { snapshot, read: shared });
    return shared;
  }

  /**
   * Keeps what a read that began at `snapshot` found valid, unless something was forgotten
   * since; a token's entry ends by itself at its expiry (`expiresAtMs`, wall clock).
   */
  remember(sessionId: string, user: UserRow, snapshot: number, expiresAtMs: number | null = null): void {
    if (!this.trusted || snapshot !== this.#generation || this.capacity === 0) return;
    // A Map keeps insertion order: the first key is the oldest, dropped when full.
    if (this.#users.size >= this.capacity && !this.#users.has(sessionId)) this.#drop(this.#users.keys().next().value!);
    this.#users.set(sessionId, { user, storedAt: this.now(), expiresAtMs });
    const sessions = this.#sessionsByUser.get(user.id) ?? new Set();
    this.#sessionsByUser.set(user.id, sessions);
    sessions.add(sessionId);
  }

  /** A token's facts by the hash of its secret; only what the database once confirmed, never a verdict on its validity. */
  tokenFacts(secretHash: string): TokenFacts | undefined {
    return this.#tokenFacts.get(secretHash);
  }

  rememberTokenFacts(secretHash: string, facts: TokenFacts): void {
    if (this.capacity === 0) return;
    if (this.#tokenFacts.size >= this.capacity && !this.#tokenFacts.has(secretHash)) this.#tokenFacts.delete(this.#tokenFacts.keys().next().value!);
    this.#tokenFacts.set(secretHash, facts);
  }

  forgetSession(sessionId: string): void {
    this.#generation += 1;
    this.#drop(sessionId);
  }

  forgetUser(userId: string): void {
    this.#generation += 1;
    for (const sessionId of this.#sessionsByUser.get(userId) ?? []) this.#users.delete(sessionId);
    this.#sessionsByUser.delete(userId);
  }

  forgetAll(): void {
    this.#generation += 1;
    this.#users.clear();
    this.#sessionsByUser.clear();
  }

  /** Whether announcements are known to arrive now. */
  get trusted(): boolean {
    return this.now() < this.#trustedUntil && Date.now() < this.#trustedUntilWall;
  }

  /** Announcements are known to arrive until `until` (a `performance.now()` time). */
  trustUntil(until: number): void {
    if (!this.trusted) this.forgetAll(); // whatever it held from before may be stale
    const wall = Date.now() + (until - this.now());
    this.#trustedUntil = Math.max(this.#trustedUntil, until);
    this.#trustedUntilWall = Math.max(this.#trustedUntilWall, wall);
  }

  /** Stops trusting at once, and empties. */
  distrust(): void {
    this.#trustedUntil = Number.NEGATIVE_INFINITY;
    this.#trustedUntilWall = Number.NEGATIVE_INFINITY;
    this.forgetAll();
  }

  get size(): number {
    return this.#users.size;
  }

  #drop(sessionId: string): void {
    const entry = this.#users.get(sessionId);
    if (!entry) return;
    this.#users.delete(sessionId);
    const sessions = this.#sessionsByUser.get(entry.user.id);
    sessions?.delete(sessionId);
    if (sessions?.size === 0) this.#sessionsByUser.delete(entry.user.id);
  }
}
