import type { Context } from "../context.js";
import type { Queryable } from "../db/database.js";

/**
 * The audit trail: one row per security-relevant event or change, written in the same
 * transaction (or the same statement) as the change, and counted in /metrics by type.
 */
export type AuditType =
  | "user.registered"
  | "login.succeeded"
  | "login.failed"
  | "login.throttled"
  | "session.refresh_token_reused"
  | "session.logout"
  | "session.logout_all"
  | "password.changed"
  | "user.role_changed"
  | "user.active_changed"
  | "dataset.created"
  | "dataset.updated"
  | "dataset.deleted"
  | "dataset.shared"
  | "dataset.share_changed"
  | "dataset.unshared"
  | "upload.created"
  | "upload.completed"
  | "version.committed";

export interface AuditEventInput {
  type: AuditType;
  actorId: string | null;
  subjectId: string | null;
  details?: Record<string, unknown>;
}

/** $1 type, $2 actor, $3 subject, $4 details (JSON text). */
export const INSERT_AUDIT_EVENT = `
  insert into audit_events (type, actor_id, subject_id, details)
  values ($1, $2, $3, $4::jsonb)`;

/** Writes `event` on `db` (pass the transaction of the change it describes) and counts it. */
export async function recordAudit(context: Pick<Context, "services">, db: Queryable, event: AuditEventInput): Promise<void> {
  await db.query(INSERT_AUDIT_EVENT, [event.type, event.actorId, event.subjectId, JSON.stringify(event.details ?? {})]);
  context.services.metrics.auditEvent(event.type);
}
