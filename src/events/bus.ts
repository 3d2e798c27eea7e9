import type { Queryable } from "../db/database.js";

/**
 * The event bus between writers and every instance's subscribers: PostgreSQL NOTIFY on one
 * channel (PGlite has it too). A writer notifies inside the transaction of its change, so the
 * event exists exactly when the change commits, and arrives after it, in commit order. The
 * payload names what changed and nothing more (ids only, far under NOTIFY's 8,000 bytes):
 * whoever receives it reads the rows, as the subscriber may see them at that moment.
 */

export const DATASET_EVENTS_CHANNEL = "dataset_events";

export const DATASET_EVENT_TYPES = ["UPDATED", "DELETED", "VERSION_COMMITTED", "PREVIEW_READY", "SHARED", "UNSHARED"] as const;
export type DatasetEventType = (typeof DATASET_EVENT_TYPES)[number];

/**
 * One event as it travels (pinned between the writers: sharing and previews write the same
 * shape). `version` for VERSION_COMMITTED; `userId` for SHARED and UNSHARED (the collaborator
 * whose access changed); for PREVIEW_READY, the dataset whose profile of the content `sha256`
 * was stored, and its latest `version` holding it (a profile is one dataset's: another dataset
 * holding the same bytes hears nothing of it).
 */
export interface DatasetEventMessage {
  type: DatasetEventType;
  datasetId: string | null;
  version: number | null;
  userId: string | null;
  sha256: string | null;
  /** ISO-8601, when the writer made the change. */
  at: string;
}

/** What a writer says; the fields its type does not use may be left out, and `at` is now unless given. */
export type DatasetEventInput = { type: DatasetEventType } & Partial<Omit<DatasetEventMessage, "type">>;

/** The message `input` stands for, every field present. */
export function datasetEventMessage(input: DatasetEventInput): DatasetEventMessage {
  return {
    type: input.type,
    datasetId: input.datasetId ?? null,
    version: input.version ?? null,
    userId: input.userId ?? null,
    sha256: input.sha256 ?? null,
    at: input.at ?? new Date().toISOString(),
  };
}

/** One statement, always the same: the channel and the payload as parameters. */
const NOTIFY = "select pg_notify($1, $2)";

/**
 * Announces `input` when the transaction `tx` commits (nothing, if it rolls back). Run it
 * on the transaction of the change itself: on the pool outside one, it is announced at
 * once, before the change may even be visible.
 */
export async function notifyDatasetEvent(tx: Queryable, input: DatasetEventInput): Promise<void> {
  await tx.query(NOTIFY, [DATASET_EVENTS_CHANNEL, JSON.stringify(datasetEventMessage(input))]);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256 = /^[0-9a-f]{64}$/;

const idOrNull = (value: unknown) =>
  value === null || value === undefined ? null : typeof value === "string" && UUID.test(value) ? value.toLowerCase() : undefined;

/**
 * A payload as received, checked: what each type needs is there and well-formed, or null.
 * Anyone who can run SQL can NOTIFY on the channel; nothing received is trusted further than
 * this (the receiver reads the rows itself).
 */
export function parseDatasetEvent(payload: string): DatasetEventMessage | null {
  let raw: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(payload);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
    raw = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const type = raw.type as DatasetEventType;
  if (!DATASET_EVENT_TYPES.includes(type)) return null;
  const datasetId = idOrNull(raw.datasetId);
  const userId = idOrNull(raw.userId);
  const version =
    raw.version === null || raw.version === undefined
      ? null
      : Number.isInteger(raw.version) && (raw.version as number) > 0
        ? (raw.version as number)
        : undefined;
  const sha256 =
    raw.sha256 === null || raw.sha256 === undefined ? null : typeof raw.sha256 === "string" && SHA256.test(raw.sha256) ? raw.sha256 : undefined;
  const at = typeof raw.at === "string" && !Number.isNaN(Date.parse(raw.at)) ? raw.at : undefined;
  if (datasetId === undefined || userId === undefined || version === undefined || sha256 === undefined || at === undefined) return null;
  if (datasetId === null) return null;
  if ((type === "VERSION_COMMITTED" || type === "PREVIEW_READY") && version === null) return null;
  if (type === "PREVIEW_READY" && sha256 === null) return null;
  if ((type === "SHARED" || type === "UNSHARED") && userId === null) return null;
  return { type, datasetId, version, userId, sha256, at };
}
