import type { UserRow } from "../users/rows.js";

/** The longest an entry is served, announcements or not: a last guard against a change no trigger saw. */
export const ENTRY_MAX_AGE_MS = 60_000;

/**
 * Live viewers by session id, so that a request bearing a known session's token skips the
 * viewer check statement. It holds only what the database said was valid, and is right
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
  readonly #users = new Map<string, { user: UserRow; storedAt: number }>();
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
    if (this.now() - entry.storedAt > ENTRY_MAX_AGE_MS) {
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
  readOnce(key: string, read: (snapshot: number) => Promise<UserRow>): Promise<UserRow> {
    const current = this.#reading.get(key);
    if (current && current.snapshot === this.#generation && this.trusted) return current.read;
    const snapshot = this.#generation;
    if (!this.trusted || this.capacity === 0) return read(snapshot);
    const shared: Promise<UserRow> = read(snapshot).finally(() => {
      if (this.#reading.get(key)?.read === shared) this.#reading.delete(key);
    });
    this.#reading.set(key, { snapshot, read: shared });
    return shared;
  }

  /** Keeps what a read that began at `snapshot` found valid, unless something was forgotten since. */
  remember(sessionId: string, user: UserRow, snapshot: number): void {
    if (!this.trusted || snapshot !== this.#generation || this.capacity === 0) return;
    // A Map keeps insertion order: the first key is the oldest, dropped when full.
    if (this.#users.size >= this.capacity && !this.#users.has(sessionId)) this.#drop(this.#users.keys().next().value!);
    this.#users.set(sessionId, { user, storedAt: this.now() });
    const sessions = this.#sessionsByUser.get(user.id) ?? new Set();
    this.#sessionsByUser.set(user.id, sessions);
    sessions.add(sessionId);
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
