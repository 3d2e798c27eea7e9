import type { UserRow } from "../users/rows.js";

/**
 * Live viewers by session id, so that a request bearing a known session's token skips the
 * viewer check statement. It holds only what the database said was valid, and is right
 * only while it hears of every change to a user or session row: `viewer-changes.ts` makes
 * it forget an entry the moment such a change is announced, and stops trusting it (it
 * then answers nothing) while it cannot be sure to hear.
 *
 * The race it guards against: a request reads a viewer as valid, a revocation commits and
 * is announced, and only then does the request store what it read. `snapshot()` before the
 * read and `remember(…, snapshot)` after it: anything forgotten in between, and the read is
 * not stored.
 */
export class ViewerCache {
  readonly #users = new Map<string, UserRow>();
  readonly #sessionsByUser = new Map<string, Set<string>>();
  /** Moves on with every forget: a read that started before it may be stale. */
  #generation = 0;
  #trusted = false;

  constructor(readonly capacity: number) {}

  /** The user behind a live session, as last read from the database; undefined: ask the database. */
  get(sessionId: string): UserRow | undefined {
    return this.#trusted ? this.#users.get(sessionId) : undefined;
  }

  snapshot(): number {
    return this.#generation;
  }

  /** Keeps what a read that began at `snapshot` found valid, unless something was forgotten since. */
  remember(sessionId: string, user: UserRow, snapshot: number): void {
    if (!this.#trusted || snapshot !== this.#generation || this.capacity === 0) return;
    // A Map keeps insertion order: the first key is the oldest, dropped when full.
    if (this.#users.size >= this.capacity && !this.#users.has(sessionId)) this.#drop(this.#users.keys().next().value!);
    this.#users.set(sessionId, user);
    let sessions = this.#sessionsByUser.get(user.id);
    if (!sessions) this.#sessionsByUser.set(user.id, (sessions = new Set()));
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

  /** Whether announcements are known to arrive; while not, nothing is kept or answered. */
  get trusted(): boolean {
    return this.#trusted;
  }

  set trusted(trusted: boolean) {
    if (!trusted) this.forgetAll();
    this.#trusted = trusted;
  }

  get size(): number {
    return this.#users.size;
  }

  #drop(sessionId: string): void {
    const user = this.#users.get(sessionId);
    if (!user) return;
    this.#users.delete(sessionId);
    const sessions = this.#sessionsByUser.get(user.id);
    sessions?.delete(sessionId);
    if (sessions?.size === 0) this.#sessionsByUser.delete(user.id);
  }
}
