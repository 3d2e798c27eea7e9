import type { FilesConfig } from "../config/config.js";
import type { Database } from "../db/database.js";
import type { UploadRow } from "../files/rows.js";
import * as sql from "../files/sql.js";
import { storageUsed } from "../files/store.js";
import type { HashingFileStore } from "./hashing-file-store.js";

/**
 * The quota as tus requests take it. Every byte staged counts against its uploader from the
 * moment it is written, whichever request writes it: an upload with a declared length holds
 * that length from its creation; one whose length is deferred holds, in its `received`, the
 * bytes it staged plus what the request writing into it may still write. That share is
 * reserved under the uploader's lock before the request's first byte and given back when the
 * request ends, so requests side by side cannot share out the same free bytes.
 */
export interface UploadQuota {
  /** Bytes `userId` may still have in upload `uploadId` (or a new one, null): the file size limit and what the quota leaves. */
  room(userId: string, uploadId: string | null): Promise<number>;
  /**
   * Before a PATCH of a deferred-length upload writes: reserves what it may write, from
   * `offset` (the client's Upload-Offset, or null) and `bodyLength` (Content-Length, or null
   * when chunked). Returns the size the upload may reach, or null when nothing more fits.
   */
  reserve(userId: string, upload: UploadRow, offset: number | null, bodyLength: number | null): Promise<number | null>;
  /** A request begins writing into upload `id` on this process (before it reserves anything). */
  enter(id: string): void;
  /** It ended: the last one to end gives back what the upload of `userId` reserved and did not use. */
  leave(id: string, userId: string): Promise<void>;
}

export function createUploadQuota(database: Database, files: FilesConfig, staging: HashingFileStore): UploadQuota {
  /** Requests writing into each upload on this process now. */
  const writers = new Map<string, number>();

  const room = async (userId: string, uploadId: string | null) =>
    Math.max(0, Math.min(files.maxFileSize, files.storageQuota - (await storageUsed(database, userId, uploadId))));

  async function reserve(userId: string, upload: UploadRow, offset: number | null, bodyLength: number | null): Promise<number | null> {
    return database.transaction(async (tx) => {
      await tx.query(sql.UPLOADER_LOCK, [userId]);
      const allowance = Math.min(files.maxFileSize, files.storageQuota - (await storageUsed(tx, userId, upload.id)));
      const start = Math.max((await staging.stagedSize(upload.id)) ?? 0, offset ?? 0);
      // An empty PATCH (one that only declares the length) writes nothing, and may always come.
      if (bodyLength === 0) return Math.max(allowance, start);
      if (allowance <= start) return null;
      // Bytes past the Content-Length are never read; a chunked body may go up to the allowance.
      await tx.query(sql.RESERVE_UPLOAD_BYTES, [upload.id, bodyLength === null ? allowance : Math.min(allowance, start + bodyLength)]);
      return allowance;
    });
  }

  function enter(id: string) {
    writers.set(id, (writers.get(id) ?? 0) + 1);
  }

  async function leave(id: string, userId: string) {
    const left = (writers.get(id) ?? 1) - 1;
    if (left > 0) {
      writers.set(id, left);
      return;
    }
    writers.delete(id);
    await database.transaction(async (tx) => {
      // Under the lock a reservation takes: a request that entered meanwhile has reserved (or
      // will reserve after this), and its share must not be given back here.
      await tx.query(sql.UPLOADER_LOCK, [userId]);
      if (writers.has(id)) return;
      const staged = await staging.stagedSize(id);
      if (staged !== null) await tx.query(sql.SET_UPLOAD_RECEIVED, [id, staged]);
    });
  }

  return { room, reserve, enter, leave };
}
