import type { Queryable, Transaction } from "../db/database.js";
import type { Metrics } from "../observability/metrics.js";
import type { AuditType } from "./types.js";

/**
 * The audit trail: one row per security-relevant event or change, written in the same
 * transaction (or the same statement) as the change, and counted in /metrics by type once
 * that change has committed. Every event is written through an `AuditLog`, with a type of
 * the union in types.ts: a misspelt type does not compile.
 */
export interface AuditEvent {
  type: AuditType;
  actorId: string | null;
  subjectId: string | null;
  details?: Record<string, unknown>;
}

/**
 * A change and its audit event in one statement (a data-modifying CTE), for changes that
 * are one statement: one `type` event per row the statement returns. Its last parameter
 * (`$n`, after the statement's own) is the personal access token the change is made
 * through, or null: `AuditLog.query` adds it.
 */
export interface AuditedStatement {
  readonly text: string;
  readonly type: AuditType;
}

/** Where the CTE takes the token id, until the statement's own placeholders are known. */
const TOKEN_PARAMETER = "$token";

/**
 * Builds an `AuditedStatement`: `statement` is given the CTE that writes a `type` event for
 * each row of `from` (`actor`, `subject` and `details` are SQL expressions over its columns)
 * and places it in its WITH list. The token id goes into the event's details as `tokenId`,
 * from the parameter after the highest the statement uses.
 */
export function auditedStatement(
  type: AuditType,
  columns: { from: string; actor: string; subject: string; details?: string },
  statement: (auditCte: string) => string,
): AuditedStatement {
  const details = columns.details ?? "'{}'::jsonb";
  const cte = `audited as (
    insert into audit_events (type, actor_id, subject_id, details)
    select '${type}', ${columns.actor}, ${columns.subject},
      (${details}) || case when ${TOKEN_PARAMETER}::text is null then '{}'::jsonb else jsonb_build_object('tokenId', ${TOKEN_PARAMETER}::text) end
    from ${columns.from}
  )`;
  const text = statement(cte);
  const highest = Math.max(0, ...[...text.matchAll(/\$(\d+)/g)].map((match) => Number(match[1])));
  return { text: text.replaceAll(TOKEN_PARAMETER, `$${highest + 1}`), type };
}

const INSERT_AUDIT_EVENT = `
  insert into audit_events (type, actor_id, subject_id, details)
  values ($1, $2, $3, $4::jsonb)`;

/**
 * The one way events are written. `db` is the transaction of the change an event describes
 * (a `Transaction`: counted once it commits, not at all if it rolls back), or the database
 * for an event that is the only write (committed, and counted, as the statement returns).
 */
export interface AuditLog {
  record(db: Queryable, event: AuditEvent): Promise<void>;
  /** Runs an audited statement: the change and its events (one a returned row). */
  query<Row>(db: Queryable, statement: AuditedStatement, params: readonly unknown[]): Promise<Row[]>;
  /**
   * The same log for what is done through personal access token `tokenId` (null: a
   * session): each event's details carry `tokenId`, so the trail says which script did it.
   */
  through(tokenId: string | null): AuditLog;
}

/** The server's audit log, counting into `metrics`; without, events are counted nowhere (the command-line tools). */
export function createAuditLog(metrics?: Pick<Metrics, "auditEvents">): AuditLog {
  /** Counts once committed: at the end of the transaction, or now for a statement on its own (committed as it returned). */
  const count = (db: Queryable | Transaction, type: AuditType, events: number) => {
    if (!metrics || events === 0) return;
    const add = () => metrics.auditEvents(type, events);
    if ("afterCommit" in db) db.afterCommit(add);
    else add();
  };
  const logThrough = (tokenId: string | null): AuditLog => ({
    async record(db, event) {
      const details = tokenId === null ? (event.details ?? {}) : { ...event.details, tokenId };
      await db.query(INSERT_AUDIT_EVENT, [event.type, event.actorId, event.subjectId, JSON.stringify(details)]);
      count(db, event.type, 1);
    },
    async query<Row>(db: Queryable, statement: AuditedStatement, params: readonly unknown[]) {
      const rows = await db.query<Row>(statement.text, [...params, tokenId]);
      count(db, statement.type, rows.length);
      return rows;
    },
    through: logThrough,
  });
  return logThrough(null);
}
