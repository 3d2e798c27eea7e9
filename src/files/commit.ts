import { lookup as contentTypeOf } from "mime-types";
import type { AuditLog } from "../audit/events.js";
import type { Viewer } from "../auth/viewer.js";
import type { Database, Transaction } from "../db/database.js";
import { notifyDatasetEvent } from "../events/bus.js";
import { badUserInput, conflict, quotaExceeded } from "../errors.js";
import type { DatasetAccess } from "../generated/graphql.js";
import { datasetRefusal, datasetScope, mayDo, scopeParams } from "../policy/rules.js";
import type { Previews } from "../previews/service.js";
import { checkId, checkText } from "../validation.js";
import { manifestChanges } from "./manifest.js";
import { meterCommit, metadataBytes } from "./metering.js";
import { fileFolderClash, filePathProblem } from "./paths.js";
import type { FileRow, UploadRow, VersionRow } from "./rows.js";
import * as sql from "./sql.js";
import { storageUsed } from "./store.js";

/** At most this many files in one version, and changes in one commit. */
export const MAX_FILES_PER_VERSION = 10_000;

/** One change of a commit, checked: the upload that becomes `path`, or null to remove it. */
export interface FileChange {
  path: string;
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

/** Checks a `CommitInput`; each problem is BAD_USER_INPUT naming the field (`input.changes[2].path`). */
export function parseCommitInput(input: RawCommitInput): CommitRequest {
  const datasetId = checkId("input.datasetId", input.datasetId);
  const message = input.message == null ? null : checkText("input.message", input.message, { max: 10_000, multiline: true });
  if (input.parentVersion != null && (!Number.isInteger(input.parentVersion) || input.parentVersion < 0)) {
    throw badUserInput("input.parentVersion", "input.parentVersion must be 0 (no version yet) or a version number");
  }
  if (input.changes.length === 0) throw badUserInput("input.changes", "A commit needs at least one change");
  if (input.changes.length > MAX_FILES_PER_VERSION) {
    throw badUserInput("input.changes", `A commit may hold at most ${MAX_FILES_PER_VERSION} changes`);
  }
  const seen = new Set<string>();
  const changes = input.changes.map((change, index) => {
    const field = `input.changes[${index}]`;
    const problem = filePathProblem(change.path);
    if (problem) throw badUserInput(`${field}.path`, `${field}.path: ${problem}`);
    if (seen.has(change.path)) throw badUserInput(`${field}.path`, `${field}.path: ${change.path} is changed twice in this commit`);
    seen.add(change.path);
    return { path: change.path, uploadId: change.uploadId == null ? null : checkId(`${field}.uploadId`, change.uploadId) };
  });
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
        scope.userId,
        scope.admin,
      ]);
      if (!mayDo(current?.access ?? null, "write")) throw datasetRefusal(current?.access ?? null, "write");
      throw conflict("input.parentVersion", `The latest version is ${current!.number}, not ${request.parentVersion}: read it and commit again`);
    }
    const number = advanced.number;
    const uploads = await lockUploads(tx, committerId, request);
    await checkOwnersQuota(tx, committerId, request.datasetId, [...uploads.values()], quotas.storage);
    // The open rows are the parent's files (the latest committed version's).
    const parentFiles = number > 1 ? await tx.query<FileRow>(sql.LATEST_FILES, [request.datasetId, number - 1]) : [];
    const { files, summary } = applyChanges(parentFiles, request.changes, uploads, number - 1);

    // Rows only for what changed: the new version shares every other row with its parent.
    const { closed, opened } = manifestChanges(parentFiles, files, request.changes);
    await meterCommit(tx, advanced.ownerId, request.datasetId, metadataBytes(request.message, opened), quotas.metadata);
    if (closed.length > 0) await tx.query(sql.CLOSE_VERSION_FILES, [request.datasetId, number, closed]);
    if (opened.length > 0) {
      await tx.query(sql.INSERT_VERSION_FILES, [
        request.datasetId,
        number,
        opened.map((file) => file.path),
        opened.map((file) => file.sha256),
        opened.map((file) => file.size),
        opened.map((file) => file.contentType),
      ]);
    }
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
    const added = new Set(request.changes.flatMap((change) => (change.uploadId ? [change.path] : [])));
    await previews?.enqueue(
      tx,
      { datasetId: request.datasetId, userId: committerId },
      files.filter((file) => added.has(file.path)),
    );
    await audit.record(tx, {
      type: "version.committed",
      actorId: committerId,
      subjectId: request.datasetId,
      details: { version: number, ...summary, fileCount: files.length, totalSize },
    });
    await notifyDatasetEvent(tx, { type: "VERSION_COMMITTED", datasetId: request.datasetId, version: number, at: version!.createdAt });
    return version!;
  });
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

/** The parent's files with the changes applied, and what changed; BAD_USER_INPUT where that cannot be. */
function applyChanges(
  parentFiles: FileRow[],
  changes: FileChange[],
  uploads: Map<string, UploadRow>,
  parentNumber: number,
): { files: Array<Omit<FileRow, "datasetId" | "version">>; summary: CommitSummary } {
  const files = new Map(
    parentFiles.map((file) => [file.path, { path: file.path, sha256: file.sha256, size: file.size, contentType: file.contentType }]),
  );
  const summary: CommitSummary = { added: 0, replaced: 0, removed: 0 };
  changes.forEach((change, index) => {
    if (change.uploadId === null) {
      if (!files.delete(change.path)) {
        const field = `input.changes[${index}].path`;
        throw badUserInput(field, `${field}: version ${parentNumber} has no file at ${change.path} to remove`);
      }
      summary.removed += 1;
      return;
    }
    const upload = uploads.get(change.uploadId)!;
    summary[files.has(change.path) ? "replaced" : "added"] += 1;
    files.set(change.path, {
      path: change.path,
      sha256: upload.sha256!,
      size: upload.size!,
      contentType: upload.contentType ?? (contentTypeOf(change.path) || "application/octet-stream"),
    });
  });
  if (files.size > MAX_FILES_PER_VERSION) {
    throw badUserInput("input.changes", `A version may hold at most ${MAX_FILES_PER_VERSION} files; this one would hold ${files.size}`);
  }
  const clash = fileFolderClash(files.keys());
  if (clash) {
    const index = changes.findIndex((change) => change.path === clash[0] || change.path === clash[1]);
    const field = index === -1 ? "input.changes" : `input.changes[${index}].path`;
    throw badUserInput(field, `${field}: ${clash[0]} cannot be both a file and the folder of ${clash[1]}`);
  }
  return { files: [...files.values()], summary };
}
