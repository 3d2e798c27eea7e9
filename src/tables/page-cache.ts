/**
 * Rows a query read ahead, and its total, kept in the API process for the pages that follow: a
 * page asks its reader for the next few pages with it (the scan, the filter and the sort cost
 * about the same for 500 rows as for 100), and a next page through `after` is then answered from
 * here, with no reader and no count. A query is named by its hash (query.ts: the table's copy,
 * the filter with its values, the order and the columns), and a copy never changes, so what is
 * kept is exactly what a fresh read would give. Bounded by an estimate of its size, the least
 * recently used query going first. Each instance keeps its own: a next page on another instance
 * reads again, and gives the same rows.
 */

interface Entry {
  total: number;
  /** Rows of the result from `offset` on, as many as were read. */
  offset: number;
  rows: unknown[][];
  bytes: number;
}

/** Roughly what a value takes of the heap (a string's characters, a slot for anything else). */
function sizeOf(value: unknown): number {
  if (typeof value === "string") return 16 + 2 * value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + sizeOf(item), 16);
  if (value !== null && typeof value === "object") return Object.values(value).reduce((sum: number, item) => sum + sizeOf(item), 16);
  return 16;
}

export class PageCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The total of query `hash`, when known here. */
  total(hash: string): number | undefined {
    return this.entries.get(hash)?.total;
  }

  /** Rows `offset` to `offset + count` of query `hash` (fewer at the end of its result), or undefined unless every one is here. */
  page(hash: string, offset: number, count: number): { rows: unknown[][]; total: number } | undefined {
    const entry = this.entries.get(hash);
    if (!entry || offset < entry.offset) return undefined;
    const end = Math.max(offset, Math.min(offset + count, entry.total));
    if (end > entry.offset + entry.rows.length) return undefined;
    // The most recently used last: the first in the map goes first.
    this.entries.delete(hash);
    this.entries.set(hash, entry);
    return { rows: entry.rows.slice(offset - entry.offset, end - entry.offset), total: entry.total };
  }

  /** Keeps the rows of query `hash` read from `offset` on, and its total. */
  keep(hash: string, total: number, offset: number, rows: unknown[][]): void {
    this.forget(hash);
    const bytes = sizeOf(rows) + 200;
    if (bytes > this.maxBytes) return;
    this.entries.set(hash, { total, offset, rows, bytes });
    this.bytes += bytes;
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.forget(oldest);
    }
  }

  private forget(hash: string): void {
    const entry = this.entries.get(hash);
    if (!entry) return;
    this.entries.delete(hash);
    this.bytes -= entry.bytes;
  }
}
