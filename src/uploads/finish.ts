import type { Upload } from "@tus/utils";
import { INSERT_AUDIT_EVENT } from "../audit/events.js";
import type { Viewer } from "../auth/viewer.js";
import type { Services } from "../context.js";
import type { Database } from "../db/database.js";
import type { UploadRow } from "../files/rows.js";
import * as sql from "../files/sql.js";
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
 * 3. the staged file moved under its content address (atomically; dropped if the content
 *    is there already: one copy per content);
 * 4. the upload `complete`: only now can a commit use it.
 *
 * A crash between 2 and 4 leaves a `finalizing` upload that no commit accepts and that
 * expires like any other; never a version pointing at missing bytes.
 */
export async function finishUpload({ database, services, staging }: FinishParts, upload: Upload, viewer: Viewer): Promise<void> {
  const size = upload.size!;
  const sha256 = await staging.digest(upload.id, size);
  const [row] = await database.query<UploadRow>(sql.UPLOAD_BY_ID, [upload.id]);
  if (!row) throw { status_code: 404, body: "Upload not found\n" };
  if (row.declaredSha256 && row.declaredSha256 !== sha256) {
    await staging.remove(upload.id);
    await database.query(sql.DELETE_UPLOAD, [upload.id]);
    throw { status_code: CHECKSUM_MISMATCH, body: `Checksum Mismatch: the bytes hash to ${sha256}, not ${row.declaredSha256}\n` };
  }
  await database.transaction(async (tx) => {
    await tx.query(sql.UPSERT_BLOB, [sha256, size]);
    await tx.query(sql.MARK_UPLOAD_FINALIZING, [upload.id, sha256, size]);
  });
  await services.files.store.putFile(sha256, staging.stagedPath(upload.id), size);
  staging.moved(upload);
  await database.transaction(async (tx) => {
    await tx.query(sql.MARK_UPLOAD_COMPLETE, [upload.id]);
    await tx.query(INSERT_AUDIT_EVENT, ["upload.completed", viewer.id, row.datasetId, JSON.stringify({ uploadId: upload.id, sha256, size })]);
  });
  services.metrics.auditEvent("upload.completed");
}
