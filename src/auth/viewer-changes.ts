import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Database, Subscription } from "../db/database.js";
import type { ViewerCache } from "./viewer-cache.js";

/** The channel migrations/005 announces every user and session change on. */
export const VIEWER_CHANGES_CHANNEL = "viewer_changes";

/**
 * How often the listening connection proves it still hears announcements, and how long a
 * proof may take. Together they bound how long a silently broken connection (a partition
 * with no reset) can leave the cache trusted: at most about 3 seconds.
 */
export const PROBE_EVERY_MS = 2_000;
export const PROBE_WITHIN_MS = 1_000;
/** An instance whose probe has not been heard for this long is taken for gone. */
const PEER_SILENT_MS = 3 * PROBE_EVERY_MS;

/** What the watch offers the code that revokes. */
export interface ViewerChanges extends Subscription {
  /**
   * After a revocation has committed: forgets the user or session here, then waits (up to
   * PROBE_WITHIN_MS) until every other live instance confirms it has taken in everything
   * announced before, so the client's next request is refused wherever it lands.
   */
  revoked(kind: "user" | "session", id: string): Promise<void>;
}

/**
 * Keeps `cache` honest. Every change to a user or session row is announced by a trigger
 * (migrations/005): `user:<id>`, `session:<id>`, or `*` (TRUNCATE). Instances also talk on
 * the same channel:
 *
 * - `probe:<instance>:<nonce>`, every PROBE_EVERY_MS: sent through the ordinary connections
 *   (as every change is), it must come back on the listening one, or the cache is not
 *   trusted (it answers nothing). That also catches a LISTEN that went through a
 *   transaction pooler, where announcements never arrive. Peers learn who is alive from it.
 * - `sync:<instance>:<nonce>` after a revocation; each other instance answers
 *   `ack:<nonce>:<instance>`. NOTIFY is delivered in commit order, so an instance that
 *   heard the sync has already applied the revocation announced before it.
 * - `bye:<instance>` when an instance stops, so nobody waits for its answers.
 */
export async function watchViewerChanges(database: Database, cache: ViewerCache, logger: Logger): Promise<ViewerChanges> {
  const self = randomUUID();
  /** Other instances, by when their last probe was heard. */
  const peers = new Map<string, number>();
  const probes = new Map<string, () => void>();
  const syncs = new Map<string, { unanswered: Set<string>; answered: () => void }>();
  let listening = false;
  let warned = false;
  let proved: Promise<void> | undefined;

  const notify = (payload: string) => database.query("select pg_notify($1, $2)", [VIEWER_CHANGES_CHANNEL, payload]);

  const distrust = (reason: string, error?: unknown) => {
    if (cache.trusted || !warned) logger.warn({ err: error }, `viewer cache off: ${reason}`);
    warned = true;
    cache.trusted = false;
  };

  const probe = async () => {
    const nonce = randomUUID();
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => (probes.delete(nonce), resolve(false)), PROBE_WITHIN_MS);
      probes.set(nonce, () => (clearTimeout(timer), probes.delete(nonce), resolve(true)));
    });
    // Not awaited: a send that hangs (a partition) must not hold up the verdict.
    notify(`probe:${self}:${nonce}`).catch((error) => distrust("could not send the probe notification", error));
    if (!(await arrived)) {
      return distrust(`a notification did not come back within ${PROBE_WITHIN_MS} ms (is the LISTEN connection going through a transaction pooler? see DATABASE_LISTEN_URL)`);
    }
    if (!cache.trusted) logger.info("viewer cache on: change notifications arrive");
    warned = false;
    cache.trusted = true;
  };

  const fromInstance = (payload: string) => {
    const [kind = "", instance = "", rest = ""] = payload.split(":");
    if (instance === self) {
      if (kind === "probe") probes.get(rest)?.();
      return;
    }
    if (kind === "probe") {
      const known = peers.has(instance);
      peers.set(instance, Date.now());
      // A newcomer learns of this instance now rather than at its next probe.
      if (!known) void probe();
    }
    else if (kind === "bye") peers.delete(instance);
    else if (kind === "sync") notify(`ack:${rest}:${self}`).catch((error) => logger.warn({ err: error }, "could not answer a revocation sync"));
    else if (kind === "ack") {
      // `ack:<nonce>:<instance>`: here `instance` is the nonce, `rest` who answered.
      const sync = syncs.get(instance);
      sync?.unanswered.delete(rest);
      if (sync?.unanswered.size === 0) sync.answered();
    }
  };

  const subscription = await database.listen(VIEWER_CHANGES_CHANNEL, {
    notification(payload) {
      const colon = payload.indexOf(":");
      const kind = colon < 0 ? payload : payload.slice(0, colon);
      if (kind === "user") cache.forgetUser(payload.slice(colon + 1));
      else if (kind === "session") cache.forgetSession(payload.slice(colon + 1));
      else if (["probe", "sync", "ack", "bye"].includes(kind)) fromInstance(payload);
      else cache.forgetAll(); // `*`, or anything not understood: the safe answer
    },
    listening() {
      listening = true;
      // Whatever changed while nobody listened is unknown: start empty, trust after a proof.
      cache.forgetAll();
      proved = probe();
    },
    lost(error) {
      listening = false;
      distrust("the listening connection was lost", error);
    },
  });
  // Start-up waits for the first proof, so the first requests already find the cache on.
  await proved;
  const timer = setInterval(() => void probe(), PROBE_EVERY_MS);
  timer.unref();

  return {
    async revoked(kind, id) {
      if (kind === "user") cache.forgetUser(id);
      else cache.forgetSession(id);
      const now = Date.now();
      const live = [...peers].filter(([, heardAt]) => now - heardAt < PEER_SILENT_MS).map(([peer]) => peer);
      if (!listening || live.length === 0) return;
      const nonce = randomUUID();
      const unanswered = new Set(live);
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), PROBE_WITHIN_MS);
        syncs.set(nonce, { unanswered, answered: () => (clearTimeout(timer), resolve(true)) });
      });
      try {
        await notify(`sync:${self}:${nonce}`);
        if (!(await answered)) {
          logger.warn({ unanswered: [...unanswered] }, "instances did not confirm a revocation in time (stopped, or cut off: they stop trusting their cache within seconds)");
        }
      } finally {
        syncs.delete(nonce);
      }
    },
    async close() {
      clearInterval(timer);
      cache.trusted = false;
      await notify(`bye:${self}`).catch(() => undefined);
      await subscription.close();
    },
  };
}
