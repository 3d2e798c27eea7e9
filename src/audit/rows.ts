import type { IsoTime } from "../db/timestamps.js";
import type { ConnectionModel, EdgeModel } from "../graphql/pagination.js";

/** An audit event as stored (the GraphQL `AuditEvent` mapper); `actor` is resolved from `actorId`. */
export interface AuditEventRow {
  id: string;
  type: string;
  actorId: string | null;
  subjectId: string | null;
  at: IsoTime;
  details: Record<string, unknown>;
}

export type AuditEventEdgeModel = EdgeModel<AuditEventRow>;
export type AuditEventConnectionModel = ConnectionModel<AuditEventRow>;
