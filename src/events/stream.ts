import type { DatasetEventModel } from "./model.js";

/** What a subscription's stream carries: an event, or the news that its one dataset can no longer be read. */
export type StreamItem = { kind: "event"; event: DatasetEventModel } | { kind: "accessLost" };

/**
 * The events of one subscription, in the order they were committed, as the async iterator
 * GraphQL's `subscribe` consumes. At most `limit` wait to be sent: a client that does not
 * read its socket fills that, and then `overflowed` is told (the connection is closed) rather
 * than the server holding its events without end. `return()` (the client completed, or the
 * connection closed) ends it at once, idle or not, and tells `closed`.
 */
export class EventStream implements AsyncIterableIterator<StreamItem> {
  readonly #queue: StreamItem[] = [];
  #waiting: ((result: IteratorResult<StreamItem>) => void) | undefined;
  /** No more items: what is queued is still handed out, then it is done. */
  #ending = false;
  #closed = false;

  constructor(
    private readonly limit: number,
    private readonly overflowed: () => void,
    private readonly closed: () => void,
  ) {}

  /** Whether items may still be pushed. */
  get open(): boolean {
    return !this.#ending && !this.#closed;
  }

  /** Queues `item`; with `last`, nothing follows it and the stream completes after it. */
  push(item: StreamItem, last = false): void {
    if (!this.open) return;
    if (last) this.#end();
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ value: item, done: false });
      return;
    }
    if (this.#queue.length >= this.limit) {
      this.#finish();
      this.overflowed();
      return;
    }
    this.#queue.push(item);
  }

  /** Completes once what is queued has been handed out. */
  end(): void {
    if (!this.open) return;
    this.#end();
    if (this.#queue.length === 0) this.#finish();
  }

  next(): Promise<IteratorResult<StreamItem>> {
    const item = this.#queue.shift();
    if (item) {
      if (this.#ending && this.#queue.length === 0) this.#close();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.#ending || this.#closed) {
      this.#close();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<StreamItem>> {
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<StreamItem>> {
    this.#finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #end(): void {
    this.#ending = true;
  }

  /** Ends now: whoever waits is told it is done, and `closed` learns of it once. */
  #finish(): void {
    this.#queue.length = 0;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.({ value: undefined, done: true });
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ending = true;
    this.closed();
  }
}
