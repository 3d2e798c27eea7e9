import type { IsoTime } from "../db/timestamps.js";
import { badUserInput } from "../common/errors.js";

/**
 * Relay connections over keyset pages, shared by every list. A page is read with one
 * extra row (`first + 1`) to learn whether another page follows.
 */

export const MAX_PAGE_SIZE = 100;

/** One item and the cursor that continues after it. */
export interface EdgeModel<Row> {
  cursor: string;
  node: Row;
}

/**
 * A connection before field resolution. Cursors are written only when `edges` or a
 * `pageInfo` cursor is read (most clients of `nodes` never ask), and `totalCount` is counted
 * only when asked for.
 */
export interface ConnectionModel<Row> {
  nodes: Row[];
  readonly edges: EdgeModel<Row>[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; readonly startCursor: string | null; readonly endCursor: string | null };
  totalCount: () => Promise<number>;
}

/** The fields every connection type computes from its model, the same for every list. */
export function connectionResolvers<Row>() {
  return {
    nodes: (connection: ConnectionModel<Row>) => connection.nodes,
    totalCount: (connection: ConnectionModel<Row>) => connection.totalCount(),
  };
}

/** `first` must be 1 to 100 (docs/api.md "Input rules"). */
export function checkFirst(first: number | null | undefined): number {
  const size = first ?? 20;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badUserInput("first", `first must be from 1 to ${MAX_PAGE_SIZE}`);
  }
  return size;
}

/**
 * Builds the connection from rows read with `limit = first + 1`.
 * `hasPreviousPage` is true whenever the page starts after a cursor.
 */
export function toConnection<Row>(
  rows: Row[],
  first: number,
  after: unknown,
  cursorOf: (row: Row) => string,
  totalCount: () => Promise<number>,
): ConnectionModel<Row> {
  const nodes = rows.slice(0, first);
  let edges: EdgeModel<Row>[] | undefined;
  return {
    nodes,
    get edges() {
      edges ??= nodes.map((node) => ({ cursor: cursorOf(node), node }));
      return edges;
    },
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage: after != null,
      get startCursor() {
        return nodes.length > 0 ? cursorOf(nodes[0]!) : null;
      },
      get endCursor() {
        return nodes.length > 0 ? cursorOf(nodes.at(-1)!) : null;
      },
    },
    totalCount,
  };
}

/**
 * The rows of a page read with its list's count as one more column ("totalCount", the same
 * on every row). An empty page brings no count: on a first page that means there is none
 * (0); after a cursor it is unknown (null: counted on demand).
 */
export function separateCount<Row>(
  rows: ReadonlyArray<Row & { totalCount: number }>,
  firstPage: boolean,
): { rows: Row[]; totalCount: number | null } {
  if (rows.length === 0) return { rows: [], totalCount: firstPage ? 0 : null };
  return { rows: rows.map(({ totalCount: _count, ...row }) => row as unknown as Row), totalCount: rows[0]!.totalCount };
}

/**
 * A connection's `totalCount`: the count read with the page, or, when the look-ahead did
 * not see it selected (null), `count` on demand.
 */
export function totalCountFrom(read: number | null, count: () => Promise<number>): () => Promise<number> {
  return read === null ? count : () => Promise.resolve(read);
}

// Exactly what `Date.toISOString()` writes for dates PostgreSQL can hold (years 1 to 9999).
const ISSUED_TIME = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * True when `key` is a timestamp exactly as this server writes it into cursors, so a
 * forged one is refused before it reaches the database.
 */
export function isIssuedTime(key: string): boolean {
  return ISSUED_TIME.test(key) && new Date(key).toISOString() === key;
}

/** Cursors are opaque to clients: base64url of a small JSON array. */
export const encodeCursor = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString("base64url");

/** The cursor's parts, or BAD_USER_INPUT on `after` when it is not one this server issued. */
export function decodeCursor(cursor: string): unknown[] {
  try {
    if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) throw new Error("not base64url");
    const parts: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(parts)) return parts;
  } catch {
    // fall through to the client error
  }
  throw badUserInput("after", "after is not a cursor issued by this server");
}

/** A position in a list ordered by a time and then id (newest first): the last row seen. */
export interface TimeCursor {
  at: string;
  id: string;
}

/**
 * Cursors for a list ordered by (time, id), tagged with the list's name, so a cursor of
 * one list is refused by every other (BAD_USER_INPUT on `after`).
 */
export function timeCursors(list: string) {
  const refuse = () => badUserInput("after", `after is not a cursor issued by this server for ${list}`);
  return {
    encode: (at: IsoTime, id: string) => encodeCursor([list, at, id]),
    decode(after: string): TimeCursor {
      const [tag, at, id, ...rest] = decodeCursor(after);
      if (tag !== list || rest.length > 0 || typeof at !== "string" || !isIssuedTime(at) || typeof id !== "string") throw refuse();
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw refuse();
      return { at, id: id.toLowerCase() };
    },
  };
}
