import type { Viewer } from "../auth/viewer.js";
import { badUserInput, type ClientError, forbidden, notFound } from "../common/errors.js";
import type { Queryable } from "../db/database.js";
import type { DatasetAccess, DatasetAccessFilter } from "../generated/graphql.js";
import { DATASET_ACCESS } from "./access-sql.js";

/**
 * Whether the viewer's admin role counts: an admin signed in in person. A personal access
 * token never carries admin powers (an admin's token reaches what a plain user's would).
 */
export const actsAsAdmin = (viewer: Viewer | null): boolean => viewer?.role === "ADMIN" && viewer.credential.kind === "session";

/** Whether the viewer may change anything: a person, or a token of scope WRITE. */
export const mayWrite = (viewer: Viewer): boolean => viewer.credential.kind === "session" || viewer.credential.scope === "WRITE";

const isAdmin = actsAsAdmin;

/**
 * What can be done with a dataset, each allowed by some of the viewer's accesses to it
 * (docs/api.md "Who sees what"). The access is computed in SQL (`access-sql.ts`): OWNER,
 * else the role the dataset is shared with them as (EDITOR, VIEWER), else ADMIN for admins,
 * else PUBLIC when the dataset's visibility is PUBLIC or UNLISTED (anyone, anonymous
 * included, reads it; writing never comes from visibility).
 *
 * - `read`: the dataset, its versions, files, previews and collaborators; downloads.
 * - `write`: updateDataset, uploads, commitDatasetVersion.
 * - `manage`: deleteDataset, shareDataset, and unshareDataset of someone else.
 * - `leave`: unshareDataset of oneself: a collaborator giving their access up.
 */
export type DatasetAction = "read" | "write" | "manage" | "leave";

export const DATASET_ACTIONS: Readonly<Record<DatasetAction, readonly DatasetAccess[]>> = {
  read: ["OWNER", "EDITOR", "VIEWER", "ADMIN", "PUBLIC"],
  // An admin reads everything but writes only where they own or edit.
  write: ["OWNER", "EDITOR"],
  manage: ["OWNER"],
  leave: ["EDITOR", "VIEWER"],
};

/** True when `access` (null: none) allows `action`. */
export const mayDo = (access: DatasetAccess | null, action: DatasetAction): boolean => access !== null && DATASET_ACTIONS[action].includes(access);

/**
 * Whether a reader reaches a dataset as one of its own: its owner, a collaborator or an admin,
 * not only because it is public or unlisted (PUBLIC). They alone see who it is shared with
 * (`collaborators` is an empty list for the others, so publishing a dataset never publishes
 * its members), and hear its events through a subscription to every dataset (as the
 * `datasets` lists hold only these: a public dataset's events reach whoever subscribes to it
 * by its id).
 */
export const readsAsMember = (access: DatasetAccess | null): boolean => mayDo(access, "read") && access !== "PUBLIC";

/**
 * The action a dataset update needs: changing its visibility is the owner's alone (like
 * sharing, it decides who reads it), the rest is `write` (owners and editors).
 */
export const updateAction = (changes: { visibility?: unknown }): DatasetAction => (changes.visibility === undefined ? "write" : "manage");

/**
 * A statement's dataset scope: who asks (null: anonymous, no credential), whether their
 * admin role counts, which accesses allow the action, and which datasets the credential may
 * reach at all (null: no limit; a personal access token may be limited to some). A dataset
 * outside `datasets` has no access, so it is NOT_FOUND exactly as an absent one. Statements
 * take it as four parameters (`scopeParams`) and filter rows with `allows(...)` from
 * access-sql.ts.
 */
export interface DatasetScope {
  userId: string | null;
  admin: boolean;
  allowed: readonly DatasetAccess[];
  datasets: readonly string[] | null;
}

/**
 * The scope of `viewer` (null: anonymous) for `action`: the one every door builds (GraphQL,
 * downloads, uploads, events). A personal access token brings its limits: READ allows
 * nothing but reading, and a dataset list limits every action to those datasets.
 */
export function datasetScope(viewer: Viewer | null, action: DatasetAction): DatasetScope {
  const allowed = action === "read" || viewer === null || mayWrite(viewer) ? DATASET_ACTIONS[action] : [];
  const datasets = viewer ? datasetLimit(viewer) : null;
  return { userId: viewer?.id ?? null, admin: isAdmin(viewer), allowed, datasets };
}

/** The scope's values in the order the statements' placeholders take them (`scopeAt` in access-sql.ts). */
export const scopeParams = (scope: DatasetScope) => [scope.userId, scope.admin, scope.allowed, scope.datasets] as const;

/**
 * The refusal of `action` to a viewer whose access is `access`: a dataset they may not read
 * is NOT_FOUND, exactly as one that does not exist (ids cannot be probed); one they may read
 * is FORBIDDEN (they know it exists, and learn that they may not do this).
 */
export function datasetRefusal(viewer: Viewer | null, access: DatasetAccess | null, action: DatasetAction): ClientError {
  if (!mayDo(access, "read")) return notFound("Dataset");
  if (action === "leave" && access === "OWNER") {
    return badUserInput("userId", "You own this dataset: there is no access of yours to take away (delete the dataset instead)");
  }
  const what: Record<DatasetAction, string> = {
    read: "read this dataset",
    write: "change this dataset: its owner and editors may",
    manage: "do this: only the dataset's owner may (deleting, sharing, changing its visibility)",
    leave: "leave this dataset: it is not shared with you",
  };
  if (viewer && !mayWrite(viewer)) return forbidden("This access token may only read (scope READ)");
  return forbidden(`You may not ${what[action]}`);
}

/** unshareDataset: taking another user's access away is `manage`; giving up one's own, `leave`. */
export const unshareAction = (viewer: Viewer, userId: string): DatasetAction => (userId === viewer.id ? "leave" : "manage");

/**
 * Which datasets a `datasets` list covers, by `filter.access`. OWNED is a user's own
 * datasets and, for an admin, every dataset (as `datasets` always listed for admins);
 * SHARED those shared with the viewer; ALL both (an admin: every dataset).
 */
export type DatasetListScope =
  /** One owner's datasets, or (null) every dataset. */
  { kind: "owner"; ownerId: string | null } | { kind: "shared"; userId: string } | { kind: "ownedOrShared"; userId: string };

/** The datasets a viewer's credential is limited to (a personal access token's list); null: no limit. Lists keep only these. */
export const datasetLimit = (viewer: Viewer): readonly string[] | null => (viewer.credential.kind === "token" ? viewer.credential.datasetIds : null);

export function datasetListScope(viewer: Viewer, access: DatasetAccessFilter | null | undefined): DatasetListScope {
  if (access === "SHARED") return { kind: "shared", userId: viewer.id };
  if (isAdmin(viewer)) return { kind: "owner", ownerId: null };
  return access === "ALL" ? { kind: "ownedOrShared", userId: viewer.id } : { kind: "owner", ownerId: viewer.id };
}

/**
 * The one question every door asks about a dataset, answered by the database as it is now:
 * "what may this viewer do with it?" GraphQL, the file routes and (through the same
 * function) subscriptions ask it; the statements that read or change rows carry the same
 * rule in their WHERE clause (access-sql.ts), so this answer is for telling apart the
 * refusals, never a permission on its own.
 */

/** The viewer's access to a dataset (null: none, or no such dataset), and whether it allows the action asked about. */
export interface DatasetPermission {
  access: DatasetAccess | null;
  allowed: boolean;
}

/** May `viewer` do `action` with dataset `datasetId` (an id checked as a UUID), as of now? */
export async function datasetPermission(db: Queryable, viewer: Viewer | null, datasetId: string, action: DatasetAction): Promise<DatasetPermission> {
  const [row] = await db.query<{ access: DatasetAccess | null; allowed: boolean | null }>(DATASET_ACCESS, [
    datasetId,
    ...scopeParams(datasetScope(viewer, action)),
  ]);
  return { access: row?.access ?? null, allowed: row?.allowed === true };
}

/** The viewer's access to dataset `datasetId`, or null when they may not read it or it does not exist. */
export async function findDatasetAccess(db: Queryable, viewer: Viewer | null, datasetId: string): Promise<DatasetAccess | null> {
  return (await datasetPermission(db, viewer, datasetId, "read")).access;
}

/**
 * For a statement scoped to `action` that found nothing to act on: the refusal to throw,
 * NOT_FOUND when the viewer may not read the dataset (or it is gone), FORBIDDEN when they
 * may read it but not do this.
 */
export async function refusalOf(db: Queryable, viewer: Viewer | null, datasetId: string, action: DatasetAction) {
  return datasetRefusal(viewer, await findDatasetAccess(db, viewer, datasetId), action);
}
