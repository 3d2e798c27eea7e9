import { lookup as contentTypeOf } from "mime-types";
import type { AuditLog } from "../audit/events.js";
import type { Viewer } from "../auth/viewer.js";
import type { Database, Transaction } from "../db/database.js";
import { notifyDatasetEvent } from "../events/bus.js";
import { badUserInput, conflict, quotaExceeded } from "../common/errors.js";
import type { DatasetAccess } from "../generated/graphql.js";
import { datasetRefusal, datasetScope, mayDo, mayWrite, scopeParams } from "../policy/dataset-access.js";
import type { Previews } from "../previews/service.js";
import { checkId, checkText } from "../common/validation.js";
import { eventLoopTurns } from "../common/event-loop-turns.js";
import { manifestChanges } from "./manifest.js";
import { meterCommit, metadataBytes } from "./metering.js";
import { addedPathCollision, collisionProblem, type PathCollision } from "./path-collisions.js";
import { filePathProblem, normalizePath } from "./paths.js";
import type { FileRow, UploadRow, VersionRow } from "./rows.js";
import * as sql from "./sql.js";
import { storageUsed } from "./store.js";

/** At most this many files in one version, and changes in one commit. */
export const MAX_FILES_PER_VERSION = 10_000;
/**
 * At most this many UTF-8 bytes in all the paths of one version (as a commit's body may
 * hold, BODY_LIMIT's default): what a commit reads, checks and writes stays small, so no
 * commit holds the event loop long (10,000 paths of 1 KiB each would be 10 MiB).
 */
export const MAX_PATH_BYTES_PER_VERSION = 2 * 1024 * 1024;

/** One change of a commit, checked: the upload that becomes `path`, or null to remove it. */
export interface FileChange {
  /** In NFC, as it is stored. */
  path: string;
  /** As the client sent it: a path committed before paths were stored in NFC is found by it. */
  sentPath: string;
  uploadId: string | null;
}

/** A commit as the client asked for it, checked for everything that needs no database. */
export interface CommitRequest {
  datasetId: string;
  message: string | null;
  changes: FileChange[];
  parentVersion: number | null;
}

interface RawCommitInput {
  datasetId: string;
  message?: string | null;
  changes: ReadonlyArray<{ path: string; uploadId?: string | null }>;
  parentVersion?: number | null;
}

/**
 * Checks a `CommitInput`; each problem is BAD_USER_INPUT naming the field (`input.changes[2].path`).
 * Paths come out in NFC, as they are stored.
 */
export async function parseCommitInput(input: RawCommitInput): Promise<CommitRequest> {
  const datasetId = checkId("input.datasetId", input.datasetId);
  const message = input.message == null ? null : checkText("input.message", input.message, { max: 10_000, multiline: true });
  if (input.parentVersion != null && (!Number.isInteger(input.parentVersion) || input.parentVersion < 0)) {
    throw badUserInput("input.parentVersion", "input.parentVersion must be 0 (no version yet) or a version number");
  }
  if (input.changes.length === 0) throw badUserInput("input.changes", "A commit needs at least one change");
  if (input.changes.length > MAX_FILES_PER_VERSION) {
    throw badUserInput("input.changes", `A commit may hold at most ${MAX_FILES_PER_VERSION} changes`);
  }
  const turns = eventLoopTurns();
  const seen = new Set<string>();
  const changes: FileChange[] = [];
  for (const [index, change] of input.changes.entries()) {
    const field = `input.changes[${index}]`;
    const path = change.path.isWellFormed() ? normalizePath(change.path) : change.path;
    const problem = filePathProblem(path);
    if (problem) throw badUserInput(`${field}.path`, `${field}.path: ${problem}`);
    if (seen.has(path)) throw badUserInput(`${field}.path`, `${field}.path: ${change.path} is changed twice in this commit`);
    seen.add(path);
    changes.push({ path, sentPath: change.path, uploadId: change.uploadId == null ? null : checkId(`${field}.uploadId`, change.uploadId) });
    if (turns.due()) await turns.take();
  }
  return { datasetId, message, changes, parentVersion: input.parentVersion ?? null };
}

/** What a commit did, for its audit event. */
interface CommitSummary {
  added: number;
  replaced: number;
  removed: number;
}

/**
 * Writes version N+1 of the dataset in one transaction: the parent's file list with the
 * changes applied (as rows for what changed only: manifest.ts), the uploads used up, what
 * it costs the database counted against the owner's METADATA_QUOTA (metering.ts). The
 * committer must be allowed to write to the
 * dataset (the policy's `write` scope, in the statement that advances it): otherwise
 * NOT_FOUND when they may not read it, FORBIDDEN when they may only read it. When
 * `parentVersion` is given and is not the latest, CONFLICT. Nothing is written unless
 * everything holds.
 * The new content's profiles are queued in the same transaction (`previews`), so a commit
 * that lands always has them coming.
 */
export async function commitVersion(
  database: Database,
  audit: AuditLog,
  committer: Viewer,
  request: CommitRequest,
  quotas: { storage: number; metadata: number },
  previews?: Pick<Previews, "enqueue">,
): Promise<VersionRow> {
  const scope = datasetScope(committer, "write");
  const committerId = committer.id;
  return database.transaction(async (tx) => {
    const [advanced] = await tx.query<{ number: number; ownerId: string }>(sql.ADVANCE_LATEST_VERSION, [
      request.datasetId,
      request.parentVersion,
      ...scopeParams(scope),
    ]);
    if (!advanced) {
      const [current] = await tx.query<{ number: number; access: DatasetAccess | null }>(sql.LATEST_VERSION_NUMBER, [
        request.datasetId,
        ...scopeParams(scope),
      ]);
      if (!mayDo(current?.access ?? null, "write") || !mayWrite(committer)) throw datasetRefusal(committer, current?.access ?? null, "write");
      throw conflict("input.parentVersion", `The latest version is ${current!.number}, not ${request.parentVersion}: read it and commit again`);
    }
    const number = advanced.number;
    const uploads = await lockUploads(tx, committerId, request);
    await checkOwnersQuota(tx, committerId, request.datasetId, [...uploads.values()], quotas.storage);
    if (number > 1) await refuseOversizedParent(tx, request, number - 1);
    // The open rows are the parent's files (the latest committed version's).
    const parentFiles = number > 1 ? await tx.query<FileRow>(sql.LATEST_FILES, [request.datasetId, number - 1]) : [];
    const { files, summary } = await applyChanges(parentFiles, request.changes, uploads, number - 1);

    // Rows only for what changed: the new version shares every other row with its parent.
    const { closed, opened } = manifestChanges(parentFiles, files, request.changes);
    await meterCommit(tx, advanced.ownerId, request.datasetId, metadataBytes(request.message, opened), quotas.metadata);
    if (closed.length > 0) await tx.query(sql.CLOSE_VERSION_FILES, [request.datasetId, number, closed]);
    await insertFiles(tx, request.datasetId, number, opened);
    const totalSize = files.reduce((sum, file) => sum + file.size, 0);
    // Last: once its row exists, the version's file list can no longer change (migrations/011).
    const [version] = await tx.query<VersionRow>(sql.INSERT_VERSION, [
      request.datasetId,
      number,
      request.message,
      committerId,
      files.length,
      totalSize,
    ]);
    if (uploads.size > 0) await tx.query(sql.DELETE_UPLOADS, [[...uploads.keys()]]);
    await audit.record(tx, {
      type: "version.committed",
      actorId: committerId,
      subjectId: request.datasetId,
      details: { version: number, ...summary, fileCount: files.length, totalSize },
    });
    await notifyDatasetEvent(tx, { type: "VERSION_COMMITTED", datasetId: request.datasetId, version: number, at: version!.createdAt });
    // After VERSION_COMMITTED: a PREVIEW_READY of content profiled before goes out after it.
    const added = new Set(request.changes.flatMap((change) => (change.uploadId ? [change.path] : [])));
    await previews?.enqueue(
      tx,
      { datasetId: request.datasetId, userId: committerId, version: number },
      files.filter((file) => added.has(file.path)),
    );
    return version!;
  });
}

/**
 * A version made before MAX_PATH_BYTES_PER_VERSION may hold more (10,000 paths of 1 KiB).
 * When not even removing every path the commit names would bring it within, the commit is
 * refused before the version's files are read: megabytes of paths are not read to be refused.
 */
async function refuseOversizedParent(tx: Transaction, request: CommitRequest, parentNumber: number) {
  const [parent] = await tx.query<{ bytes: number }>(sql.VERSION_PATH_BYTES, [request.datasetId]);
  let named = 0;
  for (const change of request.changes) named += Buffer.byteLength(change.sentPath, "utf8") + Buffer.byteLength(change.path, "utf8");
  if (parent!.bytes - named > MAX_PATH_BYTES_PER_VERSION) {
    throw badUserInput(
      "input.changes",
      `The paths of a version may hold at most ${MAX_PATH_BYTES_PER_VERSION} UTF-8 bytes in all; version ${parentNumber}'s hold ${parent!.bytes}, more than this commit could remove`,
    );
  }
}

/** Rows of one INSERT of a version's files: each statement's parameters are built in a moment, not megabytes at once. */
const INSERT_BATCH_ROWS = 1000;
const INSERT_BATCH_PATH_BYTES = 256 * 1024;

async function insertFiles(tx: Transaction, datasetId: string, number: number, files: Array<Omit<FileRow, "datasetId" | "version">>) {
  for (let start = 0; start < files.length; ) {
    let end = start;
    for (let bytes = 0; end < files.length && end - start < INSERT_BATCH_ROWS && bytes < INSERT_BATCH_PATH_BYTES; end += 1) {
      bytes += Buffer.byteLength(files[end]!.path, "utf8");
    }
    const batch = files.slice(start, end);
    await tx.query(sql.INSERT_VERSION_FILES, [
      datasetId,
      number,
      batch.map((file) => file.path),
      batch.map((file) => file.sha256),
      batch.map((file) => file.size),
      batch.map((file) => file.contentType),
    ]);
    start = end;
  }
}

/**
 * Committed content counts against the dataset owner's quota, an upload against its
 * uploader's until then. An owner's own uploads were counted when they finished; an editor's
 * move to the owner here, so they must fit in what the owner has left (under the owner's quota
 * lock, like their own uploads), or QUOTA_EXCEEDED and nothing is written. Without this,
 * editors could store without limit on the owner's account.
 *
 * The check counts the uploads' whole content, whether or not the owner holds the same bytes
 * in a dataset the editor cannot see: succeeding or not, and the message, must not tell the
 * editor what the owner holds. So the message names no figure of the owner's either.
 */
async function checkOwnersQuota(tx: Transaction, committerId: string, datasetId: string, uploads: UploadRow[], storageQuota: number) {
  if (uploads.length === 0) return;
  const [dataset] = await tx.query<{ ownerId: string }>(sql.DATASET_OWNER, [datasetId]);
  const ownerId = dataset!.ownerId;
  if (ownerId === committerId) return;
  // Each content of this commit once: which of them are the same is the editor's own knowledge.
  const sizes = new Map(uploads.map((upload) => [upload.sha256!, upload.size!]));
  const added = [...sizes.values()].reduce((sum, size) => sum + size, 0);
  if (added === 0) return;
  await tx.query(sql.UPLOADER_LOCK, [ownerId]);
  if ((await storageUsed(tx, ownerId)) + added > storageQuota) {
    throw quotaExceeded(`This commit's ${added} bytes of files do not fit in what is left of the dataset owner's storage quota`);
  }
}

/** The finished uploads the changes name, locked; any other id is BAD_USER_INPUT on its change. */
async function lockUploads(tx: Transaction, committerId: string, request: CommitRequest): Promise<Map<string, UploadRow>> {
  const ids = request.changes.flatMap((change) => (change.uploadId ? [change.uploadId] : []));
  if (ids.length === 0) return new Map();
  const rows = await tx.query<UploadRow>(sql.LOCK_FINISHED_UPLOADS, [ids, request.datasetId, committerId]);
  const uploads = new Map(rows.map((row) => [row.id, row]));
  const used = new Set<string>();
  request.changes.forEach((change, index) => {
    if (!change.uploadId) return;
    const field = `input.changes[${index}].uploadId`;
    if (!uploads.has(change.uploadId)) {
      throw badUserInput(
        field,
        `${field}: no finished upload of yours to this dataset has this id (unfinished, expired, already committed, or for another dataset)`,
      );
    }
    if (used.has(change.uploadId)) throw badUserInput(field, `${field}: one upload can become one file only`);
    used.add(change.uploadId);
  });
  return uploads;
}

/**
 * The parent's files with the changes applied, and what changed; BAD_USER_INPUT where that
 * cannot be. Paths are stored in NFC; one the parent lists in another form (committed before
 * that) is found by the form the client sent, and an upload to it replaces it, in NFC.
 * Only what the commit adds must not collide: pairs the parent already held stay.
 * Each loop is linear in the paths' bytes and gives other requests turns.
 */
async function applyChanges(
  parentFiles: FileRow[],
  changes: FileChange[],
  uploads: Map<string, UploadRow>,
  parentNumber: number,
): Promise<{ files: Array<Omit<FileRow, "datasetId" | "version">>; summary: CommitSummary }> {
  const turns = eventLoopTurns();
  const files = new Map<string, Omit<FileRow, "datasetId" | "version">>();
  let pathBytes = 0;
  for (const { path, sha256, size, contentType } of parentFiles) {
    files.set(path, { path, sha256, size, contentType });
    pathBytes += Buffer.byteLength(path, "utf8");
    if (turns.due()) await turns.take();
  }
  const remove = (path: string) => {
    files.delete(path);
    pathBytes -= Buffer.byteLength(path, "utf8");
  };
  const summary: CommitSummary = { added: 0, replaced: 0, removed: 0 };
  const added = new Set<string>();
  for (const [index, change] of changes.entries()) {
    const listed = change.sentPath !== change.path && files.has(change.sentPath) ? change.sentPath : null;
    if (change.uploadId === null) {
      if (!files.has(listed ?? change.path)) {
        const field = `input.changes[${index}].path`;
        throw badUserInput(field, `${field}: version ${parentNumber} has no file at ${change.sentPath} to remove`);
      }
      remove(listed ?? change.path);
      summary.removed += 1;
      continue;
    }
    const upload = uploads.get(change.uploadId)!;
    if (listed !== null) {
      remove(listed);
      summary.replaced += 1;
      if (files.has(change.path)) summary.removed += 1;
    } else if (files.has(change.path)) {
      summary.replaced += 1;
    } else {
      summary.added += 1;
      added.add(change.path);
    }
    if (files.has(change.path)) remove(change.path);
    files.set(change.path, {
      path: change.path,
      sha256: upload.sha256!,
      size: upload.size!,
      contentType: upload.contentType ?? (contentTypeOf(change.path) || "application/octet-stream"),
    });
    pathBytes += Buffer.byteLength(change.path, "utf8");
    if (turns.due()) await turns.take();
  }
  if (files.size > MAX_FILES_PER_VERSION) {
    throw badUserInput("input.changes", `A version may hold at most ${MAX_FILES_PER_VERSION} files; this one would hold ${files.size}`);
  }
  if (pathBytes > MAX_PATH_BYTES_PER_VERSION) {
    throw badUserInput(
      "input.changes",
      `The paths of a version may hold at most ${MAX_PATH_BYTES_PER_VERSION} UTF-8 bytes in all; this one's would hold ${pathBytes}`,
    );
  }
  const collision = await addedPathCollision(files.keys(), added, turns);
  if (collision) throw collisionError(collision, changes);
  return { files: [...files.values()], summary };
}

/** BAD_USER_INPUT naming the change that adds the colliding path (the later one, when the commit adds both). */
function collisionError(collision: PathCollision, changes: FileChange[]) {
  const index = Math.max(
    ...[collision.path, collision.other].map((path) => changes.findIndex((change) => change.uploadId !== null && change.path === path)),
  );
  const field = index < 0 ? "input.changes" : `input.changes[${index}].path`;
  return badUserInput(field, `${field}: ${collisionProblem(collision)}`);
}
