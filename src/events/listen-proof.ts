import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import { DATASET_EVENTS_CHANNEL } from "./bus.js";

/** How often each instance proves that notifications reach it, and how long a proof may take. */
export const PROBE_EVERY_MS = 10_000;
export const PROBE_WITHIN_MS = 2_000;
/** A probe's payload starts so (an event's is JSON). */
const PROBE_PREFIX = "probe:";

/**
 * Whether the events channel's notifications reach this instance. LISTEN in force is not
 * proof that they arrive (through a transaction pooler they do not): a probe is sent on the
 * channel and must come back, at start and every PROBE_EVERY_MS. The embedded database
 * notifies in-process, so it is on as soon as it listens.
 */
export class ListenProof {
  #listening = false;
  #stopped = false;
  #warned = false;
  #prover: NodeJS.Timeout | undefined;
  /** Probes in flight, by payload. */
  readonly #probes = new Map<string, () => void>();

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
  ) {}

  /** Whether notifications arrive now (as last proven; off once lost). */
  get listening(): boolean {
    return this.#listening;
  }

  /** Notifications arrive without proof (the embedded database). */
  on(): void {
    this.#listening = true;
  }

  /** The listening connection was lost: off until a probe comes back. */
  lost(): void {
    this.#listening = false;
  }

  /** Whether `payload` is a probe (ours is taken as proof; another instance's is nothing to anyone here). */
  received(payload: string): boolean {
    if (!payload.startsWith(PROBE_PREFIX)) return false;
    this.#probes.get(payload)?.();
    return true;
  }

  /** No more probes. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#prover);
  }

  /** The next probe: soon while events are off (so they come back on soon), else every PROBE_EVERY_MS. */
  schedule(): void {
    if (this.#stopped) return;
    this.#prover = setTimeout(
      () => {
        void this.prove().then(() => this.schedule());
      },
      this.#listening ? PROBE_EVERY_MS : PROBE_WITHIN_MS,
    );
    this.#prover.unref();
  }

  /** Sends a probe on the channel and waits for it to come back: live events are on only while probes come back. */
  async prove(): Promise<void> {
    if (this.#stopped) return;
    const nonce = `${PROBE_PREFIX}${randomUUID()}`;
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#probes.delete(nonce);
        resolve(false);
      }, PROBE_WITHIN_MS);
      this.#probes.set(nonce, () => {
        clearTimeout(timer);
        this.#probes.delete(nonce);
        resolve(true);
      });
    });
    this.database.query("select pg_notify($1, $2)", [DATASET_EVENTS_CHANNEL, nonce]).catch(() => undefined);
    if (await arrived) {
      if (!this.#listening && !this.#stopped) this.logger.info("live events on: notifications arrive");
      this.#listening = !this.#stopped;
      this.#warned = false;
      return;
    }
    if (this.#warned || this.#stopped) return;
    this.#warned = true;
    // Never proven (since the connection came up): off, and new connections are refused.
    // Proven before: a slow probe on a busy machine is likelier than a broken LISTEN that
    // nobody reported (a lost connection is reported), so events stay on, with a warning.
    this.logger.warn(
      `live events: a notification did not come back within ${PROBE_WITHIN_MS} ms` +
        (this.#listening
          ? "; events may be late"
          : " (is the LISTEN connection going through a transaction pooler? see DATABASE_LISTEN_URL): live events stay off until one does"),
    );
  }
}
