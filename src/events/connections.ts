import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { WebSocket } from "ws";
import { credentialStillWorks, stillStandsFor } from "../auth/credentials.js";
import type { Viewer } from "../auth/viewer.js";
import type { ViewerCache } from "../auth/viewer-cache.js";
import type { ViewerChanges } from "../auth/viewer-changes.js";
import type { Queryable } from "../db/database.js";
import type { SubscriberGate } from "./hub.js";

/**
 * The WebSocket close codes this server uses, beside graphql-ws's own (4400 bad message,
 * 4406 no graphql-transport-ws, 4408 no connection_init in time, 4409 duplicate id, 4429
 * a second connection_init). graphql-ws clients retry after each of these but 1008.
 */
export const Close = {
  /** The server's idle timeout: the connection held no subscription. */
  normal: 1000,
  /** The server is stopping (SIGTERM); another instance, or this one restarted, takes the client. */
  goingAway: 1001,
  /** The server lost its feed of events (or of revocations) for a moment: reconnect and read again what may have been missed. */
  serviceRestart: 1012,
  /** The client read its events slower than they came, or the database did not answer: try again shortly. */
  tryAgainLater: 1013,
  /** No valid token in connection_init, or the session ended since (graphql-ws's Forbidden). */
  forbidden: 4403,
  /** An error of ours while handling a message. */
  internalError: 4500,
} as const;

/** A close reason fits in 123 bytes of UTF-8 (RFC 6455). */
export function closeReason(reason: string): string {
  let fitted = reason;
  while (Buffer.byteLength(fitted) > 123) fitted = fitted.slice(0, -1);
  return fitted;
}

/**
 * One WebSocket connection: its signed-in viewer (once connection_init was accepted), its
 * subscriptions, and whether events may go out on it now. While the viewer's session is
 * being checked again (an announcement came), it is suspended: nothing is delivered.
 */
export class LiveConnection implements SubscriberGate {
  readonly id = randomUUID();
  viewer: Viewer | null = null;
  /** The graphql-ws ids of its accepted subscriptions still open. */
  readonly subscriptions = new Set<string>();
  #suspensions = 0;
  #closed = false;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: WebSocket,
    readonly log: FastifyBaseLogger,
    private readonly idleTimeoutMs: number,
  ) {}

  get closed(): boolean {
    return this.#closed || this.socket.readyState !== this.socket.OPEN;
  }

  live(): boolean {
    return this.#suspensions === 0 && !this.closed;
  }

  overflowed(): void {
    this.log.info({ connection: this.id }, "websocket closed: the client read its events slower than they came");
    this.close(Close.tryAgainLater, "Events came faster than this connection read them: reconnect and read again what changed");
  }

  suspend(): () => void {
    this.#suspensions += 1;
    let resumed = false;
    return () => {
      if (resumed) return;
      resumed = true;
      this.#suspensions -= 1;
    };
  }

  /** Closes once (later calls do nothing), with a reason cut to fit. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stopIdleTimer();
    this.socket.close(code, closeReason(reason));
  }

  /** A connection without subscriptions is closed after the idle timeout. */
  startIdleTimer(): void {
    this.stopIdleTimer();
    this.#idleTimer = setTimeout(() => this.close(Close.normal, "Idle: no subscription for a while"), this.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  stopIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}

/** How often every connection's session is checked again anyway, in case an announcement was missed. */
export const RECHECK_EVERY_MS = 60_000;

/**
 * The signed-in connections of this instance, by user and by session, and the watch that
 * ends those whose session is revoked: an announcement about a user or session (logout,
 * logoutAll, password or role change, deactivation) suspends their connections at once,
 * then reads the session again; a session no longer valid closes them with 4403. Also every
 * RECHECK_EVERY_MS, as a last guard.
 */
export class LiveConnections {
  readonly all = new Set<LiveConnection>();
  readonly #byUser = new Map<string, Set<LiveConnection>>();
  readonly #bySession = new Map<string, Set<LiveConnection>>();
  /** Open subscriptions per user, on this instance. */
  readonly #subscriptionsByUser = new Map<string, number>();
  readonly #stopObserving: () => void;
  readonly #timer: NodeJS.Timeout;
  /** Connections through a personal access token that expires: the timer that rechecks them then. */
  readonly #expiryTimers = new Map<LiveConnection, NodeJS.Timeout>();

  constructor(
    private readonly database: Queryable,
    viewerChanges: ViewerChanges,
    private readonly viewers: ViewerCache,
    private readonly log: FastifyBaseLogger,
  ) {
    this.#stopObserving = viewerChanges.observe({
      user: (userId) => this.#recheck(this.#byUser.get(userId), true),
      session: (sessionId) => this.#recheck(this.#bySession.get(sessionId), true),
      everything: () => this.#recheck(this.all, true),
    });
    this.#timer = setInterval(() => this.#recheck(this.all, false), RECHECK_EVERY_MS);
    this.#timer.unref();
  }

  /**
   * Starts watching a connection whose connection_init was accepted. A personal access token
   * that expires ends its connections then: no announcement says so (time alone ends it), and
   * the periodic recheck would leave up to RECHECK_EVERY_MS of events past the expiry.
   */
  add(connection: LiveConnection): void {
    const viewer = connection.viewer!;
    this.all.add(connection);
    addTo(this.#byUser, viewer.id, connection);
    addTo(this.#bySession, viewer.sessionId, connection);
    const expiresAtMs = viewer.credential.kind === "token" ? viewer.credential.expiresAtMs : null;
    if (expiresAtMs !== null) {
      // setTimeout takes at most 2^31-1 ms (~24.8 days): a later expiry is met by a later recheck.
      const timer = setTimeout(() => this.#recheck([connection], true), Math.min(Math.max(0, expiresAtMs - Date.now()) + 1, 2 ** 31 - 1));
      timer.unref();
      this.#expiryTimers.set(connection, timer);
    }
  }

  /** Forgets a closed connection, and its subscriptions in the user's count. */
  remove(connection: LiveConnection): void {
    if (!this.all.delete(connection)) return;
    clearTimeout(this.#expiryTimers.get(connection));
    this.#expiryTimers.delete(connection);
    const viewer = connection.viewer!;
    removeFrom(this.#byUser, viewer.id, connection);
    removeFrom(this.#bySession, viewer.sessionId, connection);
    for (const id of [...connection.subscriptions]) this.subscriptionEnded(connection, id);
  }

  subscriptionsOf(userId: string): number {
    return this.#subscriptionsByUser.get(userId) ?? 0;
  }

  subscriptionStarted(connection: LiveConnection, id: string): void {
    const userId = connection.viewer!.id;
    connection.subscriptions.add(id);
    this.#subscriptionsByUser.set(userId, this.subscriptionsOf(userId) + 1);
    connection.stopIdleTimer();
  }

  subscriptionEnded(connection: LiveConnection, id: string): void {
    if (!connection.subscriptions.delete(id)) return;
    const userId = connection.viewer!.id;
    const left = this.subscriptionsOf(userId) - 1;
    if (left > 0) this.#subscriptionsByUser.set(userId, left);
    else this.#subscriptionsByUser.delete(userId);
    if (connection.subscriptions.size === 0 && !connection.closed) connection.startIdleTimer();
  }

  close(): void {
    this.#stopObserving();
    clearInterval(this.#timer);
  }

  /**
   * Checks each connection's session again (suspended meanwhile, when an announcement asked
   * for it), once per session, as a request's token is checked: from the viewer cache while
   * it is trusted (it has forgotten whatever was announced), else from the database. Closes
   * those no longer valid.
   */
  #recheck(connections: Iterable<LiveConnection> | undefined, suspend: boolean): void {
    const checks = new Map<string, Promise<boolean>>();
    for (const connection of [...(connections ?? [])]) {
      const resume = suspend ? connection.suspend() : () => {};
      const viewer = connection.viewer!;
      const key = `${viewer.sessionId} ${viewer.id} ${viewer.tokenVersion} ${viewer.role} ${viewer.credential.kind}`;
      let check = checks.get(key);
      if (!check) {
        check = this.#sessionValid(viewer);
        checks.set(key, check);
      }
      check.then(
        (valid) => {
          resume();
          if (valid) return;
          connection.log.info({ connection: connection.id, viewerId: viewer.id }, "websocket closed: its session ended");
          // A close reason holds at most 123 bytes; each says what to do next.
          connection.close(
            Close.forbidden,
            viewer.credential.kind === "token"
              ? "The access token has ended (revoked, expired, or its user deactivated): make a new one"
              : "The session has ended (signed out, password or role changed, or deactivated): sign in again",
          );
        },
        (error: unknown) => {
          resume();
          this.log.warn({ err: error, connection: connection.id }, "could not check a websocket's session again: closing it");
          connection.close(Close.tryAgainLater, "The session could not be checked: reconnect shortly");
        },
      );
    }
  }

  async #sessionValid(viewer: Viewer): Promise<boolean> {
    const cached = this.viewers.get(viewer.sessionId);
    if (cached && stillStandsFor(viewer, cached)) return true;
    return credentialStillWorks(this.database, viewer);
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key) ?? new Set();
  map.set(key, set);
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  set?.delete(value);
  if (set?.size === 0) map.delete(key);
}
