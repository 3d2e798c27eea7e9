import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Database, Subscription } from "../db/database.js";
import type { ViewerCache } from "./viewer-cache.js";

/** The channel migrations/005 announces every user and session change on. */
export const VIEWER_CHANGES_CHANNEL = "viewer_changes";

/** How often each instance proves that announcements reach it, and how long a proof may take. */
export const PROBE_EVERY_MS = 2_000;
export const PROBE_WITHIN_MS = 1_000;
/**
 * A proof sent at time t lets the cache answer until t + TRUST_WINDOW_MS. A revocation that
 * commits at time c is therefore, by c + TRUST_WINDOW_MS, either taken in by an instance
 * (its later proof came back after the announcement, which is delivered in commit order)
 * or that instance no longer answers from memory. No timer has to fire for that to hold.
 */
export const TRUST_WINDOW_MS = PROBE_EVERY_MS + PROBE_WITHIN_MS;
/** An instance whose probe has not been heard for this long is taken for gone. */
const PEER_SILENT_MS = 3 * PROBE_EVERY_MS;
/** More instances than any deployment has: beyond it, newcomers are not waited for (the window still holds). */
const MAX_PEERS = 1_000;

/**
 * What code that keeps something per user or session (open subscriptions) hears: the same
 * announcements the cache acts on, as they arrive.
 */
export interface ViewerChangeObserver {
  /** Something about this user changed: role, active, token version, or the row is gone. */
  user(userId: string): void;
  /** This session changed or ended. */
  session(sessionId: string): void;
  /** Anything may have changed: a TRUNCATE, an announcement not understood, or announcements may have been missed (the listening connection was lost, or is back). */
  everything(): void;
}

/** What the watch offers the code that revokes. */
export interface ViewerChanges extends Subscription {
  /** Tells `observer` of every announced change from now on, until the returned function is called. */
  observe(observer: ViewerChangeObserver): () => void;
  /**
   * After a revocation has committed: forgets the user or session here, then waits until
   * every other live instance confirms it has taken in everything announced before, or at
   * most TRUST_WINDOW_MS (after which none still answers from memory what it has not heard).
   * So the client's next request is refused wherever it lands. Never throws.
   */
  revoked(kind: "user" | "session", id: string): Promise<void>;
}

/**
 * Keeps `cache` honest. Every change to a user or session row that matters is announced by
 * a trigger (migrations/005, 006): `user:<id>`, `session:<id>`, or `*` (TRUNCATE). Instances
 * also talk on the same channel:
 *
 * - `probe:<instance>:<nonce>`, every PROBE_EVERY_MS: sent through the ordinary connections
 *   (as every change is), it must come back on the listening one; each one that does
 *   extends the cache's trust (TRUST_WINDOW_MS from when it was sent). That also catches a
 *   LISTEN that went through a transaction pooler, where nothing comes back. Peers learn
 *   from it who is alive.
 * - `sync:<instance>:<nonce>` after a revocation; each other instance answers
 *   `ack:<nonce>:<instance>`. NOTIFY is delivered in commit order, so an instance that
 *   heard the sync has already applied the revocation announced before it; and once the
 *   revoker hears its own sync, it has heard the first probe of every instance started
 *   before the revocation.
 * - `bye:<instance>` when an instance stops, so nobody waits for its answers.
 */
export async function watchViewerChanges(database: Database, cache: ViewerCache, logger: Logger): Promise<ViewerChanges> {
  const self = randomUUID();
  const now = () => performance.now();
  /** Other instances, by when their last probe was heard. */
  const peers = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  /** Syncs in flight by nonce: who has answered, and (once known) whose answers are awaited. */
  const syncs = new Map<string, { answeredBy: Set<string>; awaited?: Set<string>; allAnswered: () => void }>();
  let listening = false;
  /** When the listening connection last came up: the peers map is complete only a trust window later. */
  let listeningSince = Number.POSITIVE_INFINITY;
  /** When a newcomer was last left out of a full peers map: until it would be pruned, confirmations are incomplete. */
  let droppedPeerAt = Number.NEGATIVE_INFINITY;
  let closed = false;
  /** Moves on whenever the listening connection comes, goes, or closes: a proof counts only within one. */
  let epoch = 0;
  let warned = false;
  let proved: Promise<void> | undefined;
  const observers = new Set<ViewerChangeObserver>();
  const tell = (call: (observer: ViewerChangeObserver) => void) => {
    for (const observer of observers) call(observer);
  };

  const notify = (payload: string) => database.query("select pg_notify($1, $2)", [VIEWER_CHANGES_CHANNEL, payload]);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

  /** True once `payload` comes back on the listening connection; false after `withinMs`. */
  const heardWithin = (payload: string, withinMs: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(
        () => {
          waiting.delete(payload);
          resolve(false);
        },
        Math.max(0, withinMs),
      );
      waiting.set(payload, () => {
        clearTimeout(timer);
        waiting.delete(payload);
        resolve(true);
      });
    });

  const warn = (message: string, error?: unknown) => {
    if (!warned) logger.warn({ err: error }, `viewer cache off: ${message}`);
    warned = true;
  };

  const probe = async () => {
    const sentAt = now();
    const sentIn = epoch;
    const payload = `probe:${self}:${randomUUID()}`;
    const arrived = heardWithin(payload, PROBE_WITHIN_MS);
    // Not awaited: a send that hangs (a partition) must not hold up the verdict.
    notify(payload).catch((error) => warn("could not send the probe notification", error));
    if (!(await arrived)) {
      return warn(
        `a notification did not come back within ${PROBE_WITHIN_MS} ms (is the LISTEN connection going through a transaction pooler? see DATABASE_LISTEN_URL)`,
      );
    }
    if (closed || !listening || epoch !== sentIn) return;
    if (warned || !cache.trusted) logger.info("viewer cache on: change notifications arrive");
    warned = false;
    cache.trustUntil(sentAt + TRUST_WINDOW_MS);
  };

  const fromInstance = (kind: string, instance: string, rest: string) => {
    if (instance === self) {
      waiting.get(`${kind}:${instance}:${rest}`)?.();
      return;
    }
    if (kind === "probe") {
      const known = peers.has(instance);
      if (!known && peers.size >= MAX_PEERS) {
        droppedPeerAt = now();
        return;
      }
      peers.set(instance, now());
      // A newcomer learns of this instance now rather than at its next probe.
      if (!known) void probe();
    } else if (kind === "bye") peers.delete(instance);
    else if (kind === "sync") notify(`ack:${rest}:${self}`).catch((error) => logger.warn({ err: error }, "could not answer a revocation sync"));
    else if (kind === "ack") {
      // `ack:<nonce>:<instance>`: here `instance` is the nonce, `rest` who answered.
      const sync = syncs.get(instance);
      if (!sync) return;
      sync.answeredBy.add(rest);
      if (sync.awaited && [...sync.awaited].every((peer) => sync.answeredBy.has(peer))) sync.allAnswered();
    }
  };

  const subscription = await database.listen(VIEWER_CHANGES_CHANNEL, {
    notification(payload) {
      const [kind = "", first = "", second = ""] = payload.split(":");
      if (kind === "user") {
        cache.forgetUser(first);
        tell((observer) => observer.user(first));
      } else if (kind === "session") {
        cache.forgetSession(first);
        tell((observer) => observer.session(first));
      } else if (kind === "probe" || kind === "sync" || kind === "ack" || kind === "bye") fromInstance(kind, first, second);
      else {
        cache.forgetAll(); // `*`, or anything not understood: the safe answer
        tell((observer) => observer.everything());
      }
    },
    listening() {
      epoch += 1;
      listening = true;
      listeningSince = now();
      // Whatever changed while nobody listened is unknown: start empty, trust after a proof.
      cache.distrust();
      proved = probe();
      // After a loss, whatever was announced meanwhile is unknown.
      if (epoch > 1) tell((observer) => observer.everything());
    },
    lost(error) {
      epoch += 1;
      listening = false;
      cache.distrust();
      warn("the listening connection was lost", error);
      tell((observer) => observer.everything());
    },
  });
  // Start-up waits for the first proof, so the first requests already find the cache on.
  await proved;
  const timer = setInterval(() => {
    const silentSince = now() - PEER_SILENT_MS;
    for (const [peer, heardAt] of peers) if (heardAt < silentSince) peers.delete(peer);
    void probe();
  }, PROBE_EVERY_MS);
  timer.unref();

  /** Waits for every live peer's answer to a sync, or until `deadline`; false if the deadline came first. */
  const confirmedByPeers = async (deadline: number): Promise<boolean> => {
    const nonce = randomUUID();
    const echo = heardWithin(`sync:${self}:${nonce}`, deadline - now());
    let allAnswered: () => void = () => undefined;
    const answered = new Promise<boolean>((resolve) => (allAnswered = () => resolve(true)));
    const sync: { answeredBy: Set<string>; awaited?: Set<string>; allAnswered: () => void } = { answeredBy: new Set(), allAnswered };
    syncs.set(nonce, sync);
    try {
      await notify(`sync:${self}:${nonce}`);
      // Our own sync back: every instance whose probe was delivered before it is now known,
      // provided this connection has listened for a trust window (any instance still trusting
      // has a probe in that window) and no newcomer was left out of a full peers map.
      if (!(await echo)) return false;
      if (now() - listeningSince < TRUST_WINDOW_MS || now() - droppedPeerAt < PEER_SILENT_MS) return false;
      const silentSince = now() - PEER_SILENT_MS;
      sync.awaited = new Set([...peers].filter(([, heardAt]) => heardAt >= silentSince).map(([peer]) => peer));
      if ([...sync.awaited].every((peer) => sync.answeredBy.has(peer))) return true;
      return await Promise.race([answered, sleep(deadline - now()).then(() => false)]);
    } finally {
      syncs.delete(nonce);
    }
  };

  return {
    observe(observer) {
      observers.add(observer);
      return () => observers.delete(observer);
    },
    async revoked(kind, id) {
      if (kind === "user") cache.forgetUser(id);
      else cache.forgetSession(id);
      // Embedded PGlite is one process (data-dir-lock.ts), and it calls every listener before
      // the committing statement returns: every cache of it has forgotten already.
      if (database.engine === "pglite") return;
      const deadline = now() + TRUST_WINDOW_MS;
      try {
        // A connection up for less than a trust window may not know every instance yet: wait
        // until it does (never past the deadline), rather than wait out the whole window.
        const complete = listeningSince + TRUST_WINDOW_MS;
        if (listening && now() < complete && complete <= deadline) await sleep(complete - now());
        if (listening && (await confirmedByPeers(deadline))) return;
      } catch (error) {
        logger.warn({ err: error }, "could not ask the other instances to confirm a revocation");
      }
      // Unconfirmed: by the deadline, every instance has either taken it in or stopped trusting.
      logger.warn({ kind }, "a revocation was not confirmed by every instance: waiting out the trust window");
      await sleep(deadline - now());
    },
    async close() {
      closed = true;
      epoch += 1;
      clearInterval(timer);
      cache.distrust();
      await notify(`bye:${self}`).catch(() => undefined);
      await subscription.close();
    },
  };
}
