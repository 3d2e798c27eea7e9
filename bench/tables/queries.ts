/**
 * What the tables part asks of a table: filtered and sorted row queries through the API, each
 * with a filter value no other query of the run uses (so no cache of any kind can answer one
 * from another), their pages followed through `after` cursors, and clients doing that in a loop.
 */
import { graphql } from "../harness/client.js";
import { GENERATED_CATEGORIES } from "../harness/generated-csv.js";

/** `FileTable.rows` of the version's one file, as a frontend asks it: the page, its total, and where the next begins. */
export const ROWS_QUERY = `query TableRows($id: ID!, $first: Int, $after: String, $where: RowFilter, $orderBy: [RowOrder!]) {
  dataset(id: $id) { latestVersion { files { table { rows(first: $first, after: $after, where: $where, orderBy: $orderBy) {
    totalCount nodes pageInfo { hasNextPage endCursor }
  } } } } }
}`;

export interface RowQuery {
  where: unknown;
  orderBy: Array<{ column: string; direction: "ASC" | "DESC" }>;
}

const ORDERS: RowQuery["orderBy"][] = [
  [{ column: "amount", direction: "DESC" }],
  [{ column: "at", direction: "DESC" }],
  [{ column: "score", direction: "ASC" }],
];

/**
 * The n-th query: one category (a quarter of the rows) and a score at least a threshold that
 * differs for every n below 80,000 (100 to 899.99: 2 % to 22 % of the rows match), sorted by
 * one of three columns in turn (a number, a timestamp, a double).
 */
export function rowQuery(n: number): RowQuery {
  const threshold = 100 + ((n * 6173) % 80_000) / 100;
  return {
    where: {
      and: [
        { column: "category", op: "EQ", value: GENERATED_CATEGORIES[n % GENERATED_CATEGORIES.length] },
        { column: "score", op: "GTE", value: threshold },
      ],
    },
    orderBy: ORDERS[n % ORDERS.length]!,
  };
}

export interface TableTarget {
  origin: string;
  datasetId: string;
  pageSize: number;
}

export interface PageAnswer {
  ms: number;
  rows: number;
  totalCount: number;
  endCursor: string | null;
  hasNextPage: boolean;
}

type RowsData = {
  dataset: {
    latestVersion: {
      files: Array<{
        table: { rows: { totalCount: number; nodes: unknown[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } | null;
      }>;
    };
  };
};

/** One page of `query` (after `after`), timed from the request to its parsed answer. */
export async function fetchPage(target: TableTarget, token: string, query: RowQuery, after: string | null): Promise<PageAnswer> {
  const started = performance.now();
  const data = await graphql<RowsData>(target.origin, token, ROWS_QUERY, {
    id: target.datasetId,
    first: target.pageSize,
    after,
    where: query.where,
    orderBy: query.orderBy,
  });
  const ms = performance.now() - started;
  const table = data.dataset.latestVersion.files[0]?.table;
  if (!table) throw new Error("the file has no table");
  const { rows } = table;
  return { ms, rows: rows.nodes.length, totalCount: rows.totalCount, endCursor: rows.pageInfo.endCursor, hasNextPage: rows.pageInfo.hasNextPage };
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function latencySummary(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN;
  return { count: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? Number.NaN };
}

export interface PagingResult {
  clients: number;
  /** Every page's time, first pages and next pages together. */
  pages: LatencySummary;
  firstPages: LatencySummary;
  nextPages: LatencySummary;
  errors: number;
  firstError?: string;
}

/**
 * `tokens.length` clients, each paging through queries of its own (numbered from `firstQuery`,
 * one counter for all) until `stop`: a first page, then up to `nextPages` pages through `after`,
 * then the next query. An error is counted and its client goes on with the next query.
 */
export function startPaging(
  target: TableTarget,
  tokens: readonly string[],
  firstQuery: number,
  nextPages: number,
): { stop(): Promise<PagingResult> } {
  let stopping = false;
  let next = firstQuery;
  const first: number[] = [];
  const following: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const client = async (token: string) => {
    while (!stopping) {
      const query = rowQuery(next++);
      try {
        let page = await fetchPage(target, token, query, null);
        first.push(page.ms);
        for (let index = 0; index < nextPages && page.hasNextPage && !stopping; index += 1) {
          page = await fetchPage(target, token, query, page.endCursor);
          following.push(page.ms);
        }
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message.slice(0, 300) : String(error);
      }
    }
  };
  const running = Promise.all(tokens.map(client));
  return {
    async stop() {
      stopping = true;
      await running;
      return {
        clients: tokens.length,
        pages: latencySummary([...first, ...following]),
        firstPages: latencySummary(first),
        nextPages: latencySummary(following),
        errors,
        ...(firstError ? { firstError } : {}),
      };
    },
  };
}
