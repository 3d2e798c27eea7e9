import type { Upload } from "@tus/utils";
import { tokenIdOf, type Viewer } from "../auth/viewer.js";
import type { Services } from "../graphql/context.js";
import type { Database } from "../db/database.js";
import type { UploadRow } from "../files/rows.js";
import * as sql from "../files/sql.js";
import { storageUsed } from "../files/store.js";
import type { HashingFileStore } from "./hashing-file-store.js";

/** tus's answer to bytes that do not hash to the sha256 the client gave (the checksum extension's status). */
export const CHECKSUM_MISMATCH = 460;

interface FinishParts {
  database: Database;
  services: Services;
  staging: HashingFileStore;
}

/**
 * Turns an upload whose last byte arrived into content in the blob store:
 *
 * 1. the SHA-256 computed while the bytes streamed in; a client's differing sha256 removes
 *    the upload and answers 460;
 * 2. in one transaction, the blob row (made or kept) and the upload pointing at it
 *    (`finalizing`): from here on the garbage collector cannot remove that content,
 *    because a referenced blob row cannot be deleted (foreign key, RESTRICT);
 * 3. the staged file moved under its content address, atomically, also when that content is
 *    stored already (an atomic replace by the same bytes): finishing does the same work, and
 *    takes the same time, whether or not anyone else holds the content;
 * 4. the upload `complete`: only now can a commit use it.
 *
 * A crash between 2 and 4 leaves a `finalizing` upload that no commit accepts and that
 * expires like any other; never a version pointing at missing bytes. An upload that goes
 * meanwhile (its dataset deleted, terminated) answers 404: before 2 nothing was stored; after
 * 3 the bytes are offered back to the collector (see `reclaim`), which the upload's deletion
 * may already have run for before they arrived.
 */
/** Uploads this process is finishing now: a second finish of the same one (an empty PATCH beside the last) waits its turn as 423. */
const finishing = new Set<string>();

/**
 * Where a test holds a finish, to put a deleteDataset into a window that a real race hits only
 * by chance: before the staged bytes are hashed, and between the blob row and the move of the
 * bytes. Set only by tests, which run the server in their own process; nothing else reaches it.
 */
export const finishPauses: { beforeDigest?: (uploadId: string) => Promise<void>; beforeMove?: (uploadId: string) => Promise<void> } = {};

const busy = () => ({ status_code: 423, body: "This upload's last bytes arrived and are being stored: ask again shortly\n" });
const notFound = () => ({ status_code: 404, body: "Upload not found\n" });

export async function finishUpload(parts: FinishParts, upload: Upload, viewer: Viewer): Promise<void> {
  if (finishing.has(upload.id)) throw busy();
  finishing.add(upload.id);
  try {
    await finish(parts, upload, viewer);
  } finally {
    finishing.delete(upload.id);
  }
}

async function finish({ database, services, staging }: FinishParts, upload: Upload, viewer: Viewer): Promise<void> {
  const size = upload.size!;
  const { config } = services;
  await finishPauses.beforeDigest?.(upload.id);
  let sha256: string;
  try {
    sha256 = await staging.digest(upload.id, size);
  } catch (error) {
    // The staged bytes went since they were written (the upload terminated, its dataset
    // deleted, or it expired): the upload is gone, which is the client's answer, not a fault.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw notFound();
    throw error;
  }
  const [row] = await database.query<UploadRow>(sql.UPLOAD_BY_ID, [upload.id]);
  if (!row) throw notFound();
  const refuse = async (status_code: number, body: string) => {
    await staging.remove(upload.id);
    await database.query(sql.DELETE_UPLOAD, [upload.id]);
    return { status_code, body: `${body}\n` };
  };
  if (row.declaredSha256 && row.declaredSha256 !== sha256) {
    throw await refuse(CHECKSUM_MISMATCH, `Checksum Mismatch: the bytes hash to ${sha256}, not ${row.declaredSha256}`);
  }
  // Under the uploader's lock, with this upload counted at its final size: uploads that
  // streamed in side by side cannot each have taken the same free bytes.
  const outcome = await database.transaction(async (tx) => {
    await tx.query(sql.UPLOADER_LOCK, [viewer.id]);
    const used = await storageUsed(tx, viewer.id, upload.id);
    const alreadyHeld = (await tx.query(sql.CONTENT_HELD_BY_USER, [viewer.id, sha256])).length > 0;
    if (!alreadyHeld && used + size > config.files.storageQuota) return "over quota" as const;
    await tx.query(sql.UPSERT_BLOB, [sha256, size]);
    const marked = await tx.query(sql.MARK_UPLOAD_FINALIZING, [upload.id, sha256, size]);
    return marked.length > 0 ? ("finalizing" as const) : ("gone" as const);
  });
  if (outcome === "over quota")
    throw await refuse(413, `Storage quota exceeded: this upload would pass the ${config.files.storageQuota} bytes allowed`);
  // Not receiving any more: another request finishes it (423, ask again), or it went (404).
  if (outcome === "gone") throw (await database.query(sql.UPLOAD_BY_ID, [upload.id])).length > 0 ? busy() : notFound();
  await finishPauses.beforeMove?.(upload.id);
  await services.files.store.putFile(sha256, staging.stagedPath(upload.id), size);
  staging.moved(upload);
  const completed = await database.transaction(async (tx) => {
    const marked = await tx.query(sql.MARK_UPLOAD_COMPLETE, [upload.id]);
    if (marked.length === 0) return false;
    await services.audit.through(tokenIdOf(viewer)).record(tx, {
      type: "upload.completed",
      actorId: viewer.id,
      subjectId: row.datasetId,
      details: { uploadId: upload.id, sha256, size },
    });
    return true;
  });
  if (!completed) {
    // The upload went while its bytes moved (terminated, its dataset deleted, expired). Its
    // deletion may have collected the blob row before the bytes arrived, finding nothing to
    // delete: the row is made again and collected, so the bytes go unless something holds them.
    await services.files.garbage.reclaim(sha256, size);
    throw notFound();
  }
}
