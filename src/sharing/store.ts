import type { Viewer } from "../auth/viewer.js";
import type { Context } from "../graphql/context.js";
import type { Database, Queryable } from "../db/database.js";
import { badUserInput, conflict } from "../common/errors.js";
import type { DatasetAccess, DatasetRole } from "../generated/graphql.js";
import { type DatasetScope, datasetRefusal, datasetScope, scopeParams, unshareAction } from "../policy/dataset-access.js";
import type { UserRow } from "../users/rows.js";
import { findActiveUserByUsername } from "../users/store.js";
import { notifyDatasetEvent } from "../events/bus.js";
import type { CollaboratorRow } from "./rows.js";
import * as sql from "./sql.js";

/** Users one dataset may be shared with at once: `collaborators` is one list, read whole. */
export const MAX_COLLABORATORS = 200;

/** Any username that names no active user gets this one answer: whether an inactive account has it is not said here. */
const NO_SUCH_USER = "No user with this username can be given access: check the spelling";

/**
 * Shares the dataset with the active user `username` as `role`, or changes the role they
 * have: one transaction with its audit event and its live event (`notify.ts`). Only where the
 * viewer's scope allows `manage` (the owner); otherwise NOT_FOUND or FORBIDDEN. Setting the
 * role they already have changes nothing and announces nothing.
 */
export async function shareDataset(
  context: Pick<Context, "services">,
  database: Database,
  viewer: Viewer,
  request: { datasetId: string; username: string; role: DatasetRole },
): Promise<CollaboratorRow> {
  const scope = datasetScope(viewer, "manage");
  return database.transaction(async (tx) => {
    const dataset = await lockDataset(tx, request.datasetId, scope);
    if (!dataset.allowed) throw datasetRefusal(viewer, dataset.access, "manage");
    const user = await findActiveUserByUsername(tx, request.username);
    if (!user) throw badUserInput("username", NO_SUCH_USER);
    // Only the owner gets this far, so this is sharing with oneself.
    if (user.id === viewer.id) throw badUserInput("username", "You own this dataset: share it with someone else");
    const [current] = await tx.query<{ role: DatasetRole }>(sql.COLLABORATOR_ROLE, [request.datasetId, user.id]);
    if (!current && dataset.collaborators >= MAX_COLLABORATORS) {
      throw conflict("datasetId", `A dataset may be shared with at most ${MAX_COLLABORATORS} users: unshare it with someone first`);
    }
    const [row] = await tx.query<CollaboratorRow>(sql.UPSERT_COLLABORATOR, [request.datasetId, user.id, request.role, ...scopeParams(scope)]);
    if (current?.role === request.role) return withUser(row!, user);
    await context.services.audit.record(tx, {
      type: current ? "dataset.share_changed" : "dataset.shared",
      actorId: viewer.id,
      subjectId: request.datasetId,
      details: current ? { userId: user.id, from: current.role, to: request.role } : { userId: user.id, role: request.role },
    });
    await notifyDatasetEvent(tx, { type: "SHARED", datasetId: request.datasetId, userId: user.id });
    return withUser(row!, user);
  });
}

/**
 * Takes `userId`'s access to the dataset away: the owner's to do (`manage`), or the user's
 * own (`leave`). True when there was a share to remove; false when the user had none.
 */
export async function unshareDataset(
  context: Pick<Context, "services">,
  database: Database,
  viewer: Viewer,
  request: { datasetId: string; userId: string },
): Promise<boolean> {
  const action = unshareAction(viewer, request.userId);
  const scope = datasetScope(viewer, "manage");
  return database.transaction(async (tx) => {
    const dataset = await lockDataset(tx, request.datasetId, datasetScope(viewer, action));
    if (!dataset.allowed) throw datasetRefusal(viewer, dataset.access, action);
    const [removed] = await tx.query<{ role: DatasetRole }>(sql.DELETE_COLLABORATOR, [request.datasetId, request.userId, ...scopeParams(scope)]);
    if (!removed) return false;
    await context.services.audit.record(tx, {
      type: "dataset.unshared",
      actorId: viewer.id,
      subjectId: request.datasetId,
      details: { userId: request.userId, role: removed.role, left: action === "leave" },
    });
    await notifyDatasetEvent(tx, { type: "UNSHARED", datasetId: request.datasetId, userId: request.userId });
    return true;
  });
}

interface LockedDataset {
  access: DatasetAccess | null;
  allowed: boolean;
  collaborators: number;
}

/** The viewer's access to the dataset, its row locked for this transaction; no dataset is no access. */
async function lockDataset(tx: Queryable, datasetId: string, scope: DatasetScope): Promise<LockedDataset> {
  const [row] = await tx.query<LockedDataset>(sql.LOCK_DATASET_FOR_SHARING, [datasetId, ...scopeParams(scope)]);
  return row ? { ...row, allowed: row.allowed === true } : { access: null, allowed: false, collaborators: 0 };
}

const withUser = (row: CollaboratorRow, user: UserRow): CollaboratorRow => ({ ...row, user });
