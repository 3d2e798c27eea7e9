import type { Queryable } from "../db/database.js";

/**
 * Share changes announced to the live events (`datasetEvents` subscriptions): a NOTIFY on
 * the `dataset_events` channel, sent inside the transaction of the change, so PostgreSQL
 * delivers it to every instance exactly when the change commits, and never for one rolled
 * back. The receiver reads rows by these ids and checks each subscriber's access itself.
 *
 * The payload's shape is pinned with the events module (src/events): change both or
 * neither. `{"type":"SHARED"|"UNSHARED","datasetId":"<uuid>","version":null,
 * "userId":"<the collaborator's id>","sha256":null,"at":"<ISO-8601>"}`; a role change is
 * SHARED again. Far under NOTIFY's 8,000-byte limit.
 */
export const DATASET_EVENTS_CHANNEL = "dataset_events";

export interface ShareEvent {
  type: "SHARED" | "UNSHARED";
  datasetId: string;
  /** The collaborator whose access changed. */
  userId: string;
  at: Date;
}

export async function notifyShareChange(tx: Queryable, event: ShareEvent): Promise<void> {
  const payload = { type: event.type, datasetId: event.datasetId, version: null, userId: event.userId, sha256: null, at: event.at.toISOString() };
  await tx.query(`select pg_notify('${DATASET_EVENTS_CHANNEL}', $1)`, [JSON.stringify(payload)]);
}
