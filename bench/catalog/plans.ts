/**
 * The catalog's statements under `EXPLAIN (ANALYZE, BUFFERS)` on the seeded schema, built by
 * the product's own builders (harness/product.ts) with the values the server would give them:
 * each plan's text, the indexes it reads, the tables it reads whole, and its execution time.
 */
import type pg from "pg";
import type { Statement } from "../harness/product.js";

export interface Plan {
  label: string;
  /** The plan as PostgreSQL prints it. */
  text: string;
  /** Indexes the plan reads (index, index-only and bitmap scans), each once, in plan order. */
  indexes: string[];
  /** Tables read by a sequential scan. */
  seqScans: string[];
  executionMs: number;
}

const INDEX_NODE = /(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) ([\w.]+)/g;
const SEQ_NODE = /Seq Scan on ([\w.]+)/g;

const distinct = (matches: IterableIterator<RegExpMatchArray>) => [...new Set([...matches].map((match) => match[1]!))];

/** Runs the statement's EXPLAIN twice (the first warms the cache as the load just did) and reads the second. */
export async function explain(pool: pg.Pool, label: string, statement: Statement): Promise<Plan> {
  const text = `explain (analyze, buffers) ${statement.text}`;
  await pool.query(text, statement.params);
  const { rows } = await pool.query<{ "QUERY PLAN": string }>(text, statement.params);
  const plan = rows.map((row) => row["QUERY PLAN"]).join("\n");
  return {
    label,
    text: plan,
    indexes: distinct(plan.matchAll(INDEX_NODE)),
    seqScans: distinct(plan.matchAll(SEQ_NODE)),
    executionMs: Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? Number.NaN),
  };
}
