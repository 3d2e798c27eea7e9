import type { Queryable } from "../db/database.js";
import type { TimeCursor } from "../graphql/pagination.js";
import type { AuditEventRow } from "./rows.js";
import * as sql from "./sql.js";

export interface AuditEventFilter {
  actorId: string | null;
  type: string | null;
  since: Date | null;
}

const filterParams = (filter: AuditEventFilter) => [filter.actorId, filter.type, filter.since?.toISOString() ?? null];

export function listAuditEvents(db: Queryable, filter: AuditEventFilter, after: TimeCursor | null, limit: number): Promise<AuditEventRow[]> {
  return db.query<AuditEventRow>(sql.AUDIT_EVENT_PAGE, [...filterParams(filter), after?.at ?? null, after?.id ?? null, limit]);
}

export async function countAuditEvents(db: Queryable, filter: AuditEventFilter): Promise<number> {
  const [row] = await db.query<{ count: number }>(sql.AUDIT_EVENT_COUNT, filterParams(filter));
  return row!.count;
}

/** Rows one retention statement deletes at most. */
const DELETE_BATCH = 5000;

/** Deletes every event older than `before`, in batches; returns how many went. */
export async function deleteAuditEventsBefore(db: Queryable, before: Date): Promise<number> {
  let deleted = 0;
  for (;;) {
    const [row] = await db.query<{ count: number }>(sql.DELETE_AUDIT_EVENTS_BEFORE, [before.toISOString(), DELETE_BATCH]);
    deleted += row!.count;
    if (row!.count < DELETE_BATCH) return deleted;
  }
}
