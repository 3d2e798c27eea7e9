import { type Client, createClient, type ExecutionResult } from "graphql-ws";
import WebSocket from "ws";
import type { UntypedData } from "./server.js";

/** graphql-ws's own client over `ws`, as a Node program (or, with the browser's WebSocket, a page) subscribes. */

/** `http://host/graphql` as the WebSocket URL of the same endpoint. */
export const wsUrl = (httpUrl: string) => httpUrl.replace(/^http/, "ws");

/** How a connection or subscription ended, as the client saw it. */
export interface Closed {
  code: number;
  reason: string;
}

/** What waiting found: nothing within the guard time is a failure with a message, not a hang. */
const GUARD_MS = 15_000;

/** One subscription's results as they come, and how it ended. */
export class LiveSubscription {
  readonly results: ExecutionResult[] = [];
  #read = 0;
  #wake: (() => void) | undefined;
  /** "complete", or the error the client was given (a CloseEvent, or the GraphQL errors of an `error` message). */
  ended: "complete" | { error: unknown } | undefined;
  readonly finished: Promise<"complete" | { error: unknown }>;
  #finish!: (how: "complete" | { error: unknown }) => void;
  readonly dispose: () => void;

  constructor(client: Client, query: string, variables: Record<string, unknown>) {
    this.finished = new Promise((resolve) => {
      this.#finish = resolve;
    });
    this.dispose = client.subscribe(
      { query, variables },
      {
        next: (result) => {
          this.results.push(result as ExecutionResult);
          this.#wake?.();
        },
        error: (error) => this.#end({ error }),
        complete: () => this.#end("complete"),
      },
    );
  }

  #end(how: "complete" | { error: unknown }): void {
    this.ended = how;
    this.#finish(how);
    this.#wake?.();
  }

  /** The next result not yet read (fails the test if none comes, or the subscription ends first). */
  async next(): Promise<ExecutionResult> {
    const deadline = Date.now() + GUARD_MS;
    while (this.#read >= this.results.length) {
      if (this.ended) throw new Error(`the subscription ended (${JSON.stringify(this.ended)}) before another result came`);
      if (Date.now() > deadline) throw new Error(`no result within ${GUARD_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.results[this.#read++]!;
  }

  /** Whether a result not yet read is there within `ms` (for polling until a subscription is in place). */
  async arrivesWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.#read >= this.results.length && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.#read < this.results.length;
  }

  /** Reads and drops results until one whose event matches `match`. */
  async skipUntil(match: (event: Record<string, UntypedData>) => boolean): Promise<void> {
    for (;;) {
      const result = await this.next();
      const event = (result.data as { datasetEvents?: Record<string, UntypedData> } | null)?.datasetEvents;
      if (event && match(event)) return;
    }
  }

  /** The next result's event (fails on a result with errors). */
  async nextEvent(): Promise<Record<string, UntypedData>> {
    const result = await this.next();
    if (result.errors) throw new Error(`expected an event, got errors: ${JSON.stringify(result.errors)}`);
    return (result.data as { datasetEvents: Record<string, UntypedData> }).datasetEvents;
  }

  /** Results not read yet. */
  get unread(): ExecutionResult[] {
    return this.results.slice(this.#read);
  }
}

/** A client connection; `closes` records every close the client saw. */
export class LiveClient {
  readonly client: Client;
  readonly closes: Closed[] = [];
  #closed: Array<(closed: Closed) => void> = [];
  acknowledged = false;

  constructor(httpUrl: string, connectionParams: Record<string, unknown> | undefined) {
    this.client = createClient({
      url: wsUrl(httpUrl),
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      lazy: false,
      // Every failure is the test's to see: no retry, no reconnection.
      shouldRetry: () => false,
      onNonLazyError: () => {},
      on: {
        connected: () => {
          this.acknowledged = true;
        },
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: string };
          const closed = { code, reason: String(reason) };
          this.closes.push(closed);
          for (const resolve of this.#closed.splice(0)) resolve(closed);
        },
      },
    });
  }

  /** Signed in with `token`, as the contract says: `{ authorization: "Bearer <token>" }`. */
  static as(httpUrl: string, token: string): LiveClient {
    return new LiveClient(httpUrl, { authorization: `Bearer ${token}` });
  }

  subscribe(query: string, variables: Record<string, unknown> = {}): LiveSubscription {
    return new LiveSubscription(this.client, query, variables);
  }

  /** Resolves once the server has acknowledged connection_init. */
  async connected(): Promise<void> {
    const deadline = Date.now() + GUARD_MS;
    while (!this.acknowledged) {
      if (this.closes.length > 0) throw new Error(`closed before it was acknowledged: ${JSON.stringify(this.closes[0])}`);
      if (Date.now() > deadline) throw new Error(`not acknowledged within ${GUARD_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The next close (or the one already seen). */
  closed(): Promise<Closed> {
    if (this.closes.length > 0) return Promise.resolve(this.closes[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not closed within ${GUARD_MS} ms`)), GUARD_MS);
      this.#closed.push((closed) => {
        clearTimeout(timer);
        resolve(closed);
      });
    });
  }

  dispose(): Promise<void> {
    return Promise.resolve(this.client.dispose());
  }
}

/** The events subscription most tests use. */
export const DATASET_EVENTS = `subscription Events($datasetId: ID) {
  datasetEvents(datasetId: $datasetId) { type datasetId at dataset { id name } version { number fileCount } }
}`;
