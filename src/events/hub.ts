import type { Logger } from "pino";
import type { Viewer } from "../auth/viewer.js";
import type { Database, Queryable, Subscription as Listening } from "../db/database.js";
import { findReadableDataset, listReadableDatasetIds, readScopeKey } from "../datasets/readable.js";
import type { DatasetRow } from "../datasets/rows.js";
import type { VersionRow } from "../files/rows.js";
import { VERSIONS_BY_NUMBER } from "../files/sql.js";
import { notFound } from "../common/errors.js";
import { readsAsMember } from "../policy/dataset-access.js";
import { DATASET_EVENTS_CHANNEL, type DatasetEventMessage, parseDatasetEvent } from "./bus.js";
import { ListenProof } from "./listen-proof.js";
import type { DatasetEventModel } from "./model.js";
import { EventStream } from "./stream.js";

/**
 * This instance's subscribers, and the one LISTEN that feeds them (listen-proof.ts proves
 * that its notifications arrive). Every event that arrives is checked, for each subscriber it
 * could concern, against what that subscriber may read now: the dataset is read through the policy's read scope (`findReadableDataset`, what
 * `dataset(id)` answers), once per event for all subscribers with the same scope. Events are
 * handed to subscribers in the order they were committed, though their checks run at once.
 *
 * A deleted dataset can no longer be read, so DELETED goes to the subscribers that last
 * saw it as readable: a one-dataset subscription checked it when it began and at every event
 * since; an all-datasets subscription knows the viewer's newest datasets from when it began
 * (KNOWN_AT_START) and every dataset an event showed it since, and forgets one as soon as a
 * check finds it unreadable (an UNSHARED arrives, in commit order, before a DELETED).
 */

/** Dataset ids an all-datasets subscription knows at its start: the viewer's newest readable ones. */
export const KNOWN_AT_START = 1_000;
/** Dataset ids remembered per read scope at most; the oldest learnt go first. */
export const KNOWN_LIMIT = 10_000;

/** What the connection tells the hub about the subscriptions it carries. */
export interface SubscriberGate {
  /** False while the connection's session is being checked again: nothing is delivered meanwhile. */
  live(): boolean;
  /** The subscription's events came faster than the client read them. */
  overflowed(): void;
}

interface Subscriber {
  viewer: Viewer;
  /** One dataset's events, or (null) every readable dataset's. */
  datasetId: string | null;
  stream: EventStream;
  gate: SubscriberGate;
  /** One dataset: readable at the last check (DELETED goes out only then). */
  readable: boolean;
  /** Every dataset: the ones known readable, shared by the subscriptions of one read scope. */
  known: KnownDatasets | null;
}

/** Dataset ids known to be readable within one read scope. */
class KnownDatasets {
  readonly ids = new Set<string>();
  subscribers = 0;
  constructor(readonly ready: Promise<void>) {}

  add(id: string): void {
    this.ids.delete(id);
    this.ids.add(id);
    if (this.ids.size > KNOWN_LIMIT) this.ids.delete(this.ids.values().next().value!);
  }
}

/** What the check of one dataset for one scope found: the row, none (not readable), or undefined (the check failed). */
type Check = DatasetRow | null | undefined;

/** A delivery decided when the event arrived, done in commit order. */
type Delivery = () => void;

export interface EventHubOptions {
  /** Events waiting to be sent to one subscription at most (WS_MAX_QUEUED_EVENTS). */
  queueLimit: number;
}

export class EventHub {
  readonly #singles = new Map<string, Set<Subscriber>>();
  readonly #everything = new Set<Subscriber>();
  readonly #known = new Map<string, KnownDatasets>();
  readonly #interrupted = new Set<(error: Error) => void>();
  #closing = false;
  #listener: Listening | undefined;
  /** Whether notifications arrive: proven by probes (listen-proof.ts). */
  readonly #proof: ListenProof;
  /** The deliveries of the last event received: the next one's wait for them. */
  #tail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly database: Database,
    private readonly logger: Logger,
    private readonly options: EventHubOptions,
  ) {
    this.#proof = new ListenProof(database, logger);
  }

  /** LISTENs on the events channel (every instance does, so events cross instances). */
  static async start(database: Database, logger: Logger, options: EventHubOptions): Promise<EventHub> {
    const hub = new EventHub(database, logger, options);
    let proved: Promise<void> | undefined;
    hub.#listener = await database.listen(DATASET_EVENTS_CHANNEL, {
      notification: (payload) => hub.#receive(payload),
      listening: () => {
        // The embedded database notifies in-process, as the statement returns: nothing to prove.
        if (database.engine === "pglite") hub.#proof.on();
        else proved = hub.#proof.prove();
      },
      lost: (error) => hub.#interrupt(error, "the listening connection was lost"),
    });
    if (database.engine === "pglite") return hub;
    // Start-up waits for the first proof, so that the first connections already find events on.
    await proved;
    hub.#proof.schedule();
    return hub;
  }

  #interrupt(error: Error, why: string): void {
    this.#proof.lost();
    if (this.#closing) return;
    this.logger.warn({ err: error }, `live events off: ${why}; events are missed until notifications arrive again`);
    for (const callback of this.#interrupted) callback(error);
  }

  /** Whether events arrive now (a subscription begun otherwise could miss some). */
  get listening(): boolean {
    return this.#proof.listening && !this.#closing;
  }

  /** Tells `callback` each time the listening connection is lost: events committed meanwhile are not delivered. */
  onInterrupted(callback: (error: Error) => void): () => void {
    this.#interrupted.add(callback);
    return () => this.#interrupted.delete(callback);
  }

  /** Subscriptions open on this instance. */
  get size(): number {
    let count = this.#everything.size;
    for (const subscribers of this.#singles.values()) count += subscribers.size;
    return count;
  }

  /**
   * A new subscription's stream: one dataset's events (NOT_FOUND, through `db`, unless the
   * viewer may read it) or every readable dataset's. Registered before the check, so that no
   * event committed while it runs is missed (each is checked on its own).
   */
  async open(db: Queryable, viewer: Viewer, datasetId: string | null, gate: SubscriberGate): Promise<EventStream> {
    const subscriber: Subscriber = {
      viewer,
      datasetId,
      gate,
      readable: false,
      known: null,
      stream: new EventStream(
        this.options.queueLimit,
        () => gate.overflowed(),
        () => this.#remove(subscriber),
      ),
    };
    if (datasetId) {
      const subscribers = this.#singles.get(datasetId) ?? new Set();
      this.#singles.set(datasetId, subscribers);
      subscribers.add(subscriber);
    } else {
      subscriber.known = this.#knownFor(viewer);
      this.#everything.add(subscriber);
    }
    try {
      if (datasetId) {
        if (!(await findReadableDataset(db, viewer, datasetId))) throw notFound("Dataset");
        subscriber.readable = true;
      } else {
        await subscriber.known!.ready;
      }
    } catch (error) {
      await subscriber.stream.return();
      throw error;
    }
    return subscriber.stream;
  }

  /**
   * Stops listening and waits for the deliveries of the events already received, so that a
   * stopping instance sends what it has before its sockets close. Subscriptions stay open.
   */
  async drain(): Promise<void> {
    if (this.#closing) return this.#tail;
    this.#closing = true;
    this.#proof.stop();
    await this.#listener?.close();
    await this.#tail;
  }

  /** Drains, then ends every subscription. */
  async close(): Promise<void> {
    await this.drain();
    for (const subscriber of [...this.#everything, ...[...this.#singles.values()].flatMap((set) => [...set])]) {
      subscriber.stream.end();
    }
  }

  /** The known datasets of the viewer's read scope, seeded once (by its first all-datasets subscription here). */
  #knownFor(viewer: Viewer): KnownDatasets {
    const key = readScopeKey(viewer);
    let known = this.#known.get(key);
    if (!known) {
      const seeding = listReadableDatasetIds(this.database, viewer, KNOWN_AT_START).then((ids) => {
        // Oldest first, so that the newest are forgotten last.
        for (const id of ids.reverse()) created.add(id);
      });
      const created = new KnownDatasets(seeding);
      known = created;
      this.#known.set(key, known);
      // A failed seed is not kept: the next subscription tries again.
      seeding.catch(() => {
        if (this.#known.get(key) === created) this.#known.delete(key);
      });
    }
    known.subscribers += 1;
    return known;
  }

  #remove(subscriber: Subscriber): void {
    if (subscriber.datasetId) {
      const subscribers = this.#singles.get(subscriber.datasetId);
      subscribers?.delete(subscriber);
      if (subscribers?.size === 0) this.#singles.delete(subscriber.datasetId);
      return;
    }
    this.#everything.delete(subscriber);
    const known = subscriber.known!;
    known.subscribers -= 1;
    if (known.subscribers === 0) {
      const key = readScopeKey(subscriber.viewer);
      if (this.#known.get(key) === known) this.#known.delete(key);
    }
  }

  #receive(payload: string): void {
    if (this.#closing) return;
    // Probes: ours come back to us; another instance's are nothing to anyone here.
    if (this.#proof.received(payload)) return;
    const message = parseDatasetEvent(payload);
    if (!message) {
      this.logger.warn({ payload: payload.slice(0, 200) }, "live events: ignored a notification that is not a well-formed event");
      return;
    }
    const prepared = this.#prepare(message).catch((error: unknown) => {
      this.logger.error({ err: error, event: message }, "live events: could not prepare an event's deliveries; it was not delivered");
      return [] as Delivery[];
    });
    this.#tail = this.#tail.then(async () => {
      for (const deliver of await prepared) deliver();
    });
  }

  /** Decides, as the event arrives, what each subscriber it concerns gets; the deliveries are done later, in order. */
  async #prepare(message: DatasetEventMessage): Promise<Delivery[]> {
    if (message.type === "DELETED") return this.#deleted(message);
    const datasetId = message.datasetId!;
    const targets = this.#targets(datasetId);
    if (targets.length === 0) return [];
    const check = this.#checker(message);
    // PREVIEW_READY: the latest version of the dataset holding the file, when its profile was stored.
    const versionNumber = message.type === "VERSION_COMMITTED" || message.type === "PREVIEW_READY" ? message.version : null;
    // Read while the checks run; only those whose check passes see it.
    const version = versionNumber === null ? Promise.resolve(undefined) : this.#readVersion(datasetId, versionNumber);
    return Promise.all(
      targets.map(async (subscriber) =>
        this.#delivery(subscriber, message, datasetId, await check(datasetId, subscriber.viewer), versionNumber, await version),
      ),
    );
  }

  /** A version, read once for every subscriber of an event (versions never change); undefined if the read failed (read on delivery then). */
  #readVersion(datasetId: string, number: number): Promise<VersionRow | null | undefined> {
    return this.database.query<VersionRow>(VERSIONS_BY_NUMBER, [[datasetId], [number]]).then(
      ([row]) => row ?? null,
      () => undefined,
    );
  }

  /** The subscriptions open for `datasetId`'s events: its own, and every all-datasets one. */
  #targets(datasetId: string): Subscriber[] {
    return [...(this.#singles.get(datasetId) ?? []), ...this.#everything].filter((subscriber) => subscriber.stream.open);
  }

  /** Reads a dataset as a viewer may, once per event for each read scope. */
  #checker(message: DatasetEventMessage): (datasetId: string, viewer: Viewer) => Promise<Check> {
    const checks = new Map<string, Promise<Check>>();
    let failed = false;
    return (datasetId, viewer) => {
      const key = `${datasetId} ${readScopeKey(viewer)}`;
      let check = checks.get(key);
      if (!check) {
        check = findReadableDataset(this.database, viewer, datasetId).catch((error: unknown) => {
          // Unknown is not readable: nothing goes out, and nothing is taken for lost either.
          if (!failed)
            this.logger.error({ err: error, event: message }, "live events: could not check who may read an event's dataset; not delivered");
          failed = true;
          return undefined;
        });
        checks.set(key, check);
      }
      return check;
    };
  }

  /** What `subscriber` gets for an event of `datasetId` once its check found `row`. */
  #delivery(
    subscriber: Subscriber,
    message: DatasetEventMessage,
    datasetId: string,
    row: Check,
    versionNumber: number | null,
    version: VersionRow | null | undefined,
  ): Delivery {
    const event: DatasetEventModel = {
      type: message.type,
      datasetId,
      dataset: row ?? null,
      versionNumber,
      version,
      at: new Date(message.at),
      sha256: message.sha256,
    };
    return () => {
      if (row === undefined) return;
      // A subscription to every dataset hears those the viewer reaches as one of their own (policy's `readsAsMember`).
      if (row === null || (!subscriber.datasetId && !readsAsMember(row.access ?? null))) {
        // No longer readable: a one-dataset subscription ends; an all-datasets one forgets it.
        if (subscriber.datasetId) {
          subscriber.readable = false;
          subscriber.stream.push({ kind: "accessLost" }, true);
        } else subscriber.known!.ids.delete(datasetId);
        return;
      }
      if (subscriber.datasetId) subscriber.readable = true;
      else subscriber.known!.add(datasetId);
      if (subscriber.gate.live()) subscriber.stream.push({ kind: "event", event });
    };
  }

  /** DELETED: to whoever last saw the dataset readable (decided when its turn comes, after the events before it). */
  #deleted(message: DatasetEventMessage): Delivery[] {
    const datasetId = message.datasetId!;
    const event: DatasetEventModel = { type: "DELETED", datasetId, dataset: null, versionNumber: null, at: new Date(message.at), sha256: null };
    return this.#targets(datasetId).map((subscriber) => () => {
      if (subscriber.datasetId) {
        if (subscriber.readable && subscriber.gate.live()) subscriber.stream.push({ kind: "event", event }, true);
        else subscriber.stream.end();
        return;
      }
      if (!subscriber.known!.ids.delete(datasetId)) return;
      if (subscriber.gate.live()) subscriber.stream.push({ kind: "event", event });
    });
  }
}
