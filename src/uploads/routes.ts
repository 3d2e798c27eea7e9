import { clientAddressOf } from "../http/client-address.js";
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Server as TusServer } from "@tus/server";
import type { Upload } from "@tus/utils";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { authenticate, tokenIdOf, type Viewer } from "../auth/viewer.js";
import type { Services } from "../graphql/context.js";
import type { Database } from "../db/database.js";
import { ClientError, credentialRefusal } from "../common/errors.js";
import type { DatasetAccess } from "../generated/graphql.js";
import { datasetPermission } from "../policy/dataset-access.js";
import { datasetScope, mayDo, mayWrite, scopeParams } from "../policy/dataset-access.js";
import { createUserLoader } from "../users/loader.js";
import { finishUpload } from "./finish.js";
import type { HashingFileStore } from "./hashing-file-store.js";
import * as sql from "../files/sql.js";
import type { UploadRow } from "../files/rows.js";
import { storageUsed } from "../files/store.js";
import { parseUploadMetadata, type UploadMetadata } from "./metadata.js";
import { createUploadQuota } from "./quota.js";

/** What our checks learnt about a tus request before tus handles it. */
interface Admitted {
  viewer: Viewer;
  /** POST: the new upload's id, what its metadata said, and the bytes its body may bring while its length is deferred. */
  creation?: { id: string; metadata: UploadMetadata; reserve: number };
  /** Later requests: the upload they are about. */
  upload?: UploadRow;
  /** POST and PATCH: the size this request may take the upload to (tus's maximum size). */
  allowance?: number;
  /** Whether this request writes into the upload's staged bytes. */
  writes?: boolean;
}

/** A whole number header (Content-Length, Upload-Offset, Upload-Length), or null when absent or not one. */
function wholeNumber(value: string | string[] | undefined): number | null {
  return typeof value === "string" && /^\d{1,15}$/.test(value) ? Number(value) : null;
}

/** Answers a tus request ourselves, with the protocol's header, before tus sees it. */
function refuse(reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}) {
  return reply
    .code(status)
    .headers({ "tus-resumable": "1.0.0", "cache-control": "no-store", ...headers })
    .type("text/plain; charset=utf-8")
    .send(`${message}\n`);
}

/** A tus hook's refusal: tus sends `status_code` and `body`. */
const tusError = (status_code: number, body: string) => ({ status_code, body: `${body}\n` });

/** Unfinished or uncommitted uploads one user may hold at once (each is a row and a staged file). */
export const MAX_LIVE_UPLOADS = 1000;

/**
 * tus 1.0.0 uploads at `/uploads/` (creation, creation-with-upload, creation-defer-length,
 * termination, expiration). Every request is checked by us first, through the policy's
 * `write` scope as the database has it now, before tus touches a byte: creation needs a
 * dataset the viewer may commit to, later requests the upload's own creator who still may
 * (termination: the creator, whatever their access now). A dataset the viewer may not read
 * is 404, one they may only read 403. A finished upload's bytes are hashed as they arrived
 * and moved into the blob store under their SHA-256 (see finish.ts).
 */
export async function registerUploads(app: FastifyInstance, services: Services, database: Database, staging: HashingFileStore): Promise<void> {
  const { config, metrics } = services;
  const admitted = new WeakMap<IncomingMessage, Admitted>();
  // tus hands hooks its own request object; the Node request under it is our key.
  const admittedOf = (req: { runtime?: { node?: { req: unknown } } }) => admitted.get(req.runtime!.node!.req as IncomingMessage);
  const quota = createUploadQuota(database, config.files, staging);
  const { maxFileSize, storageQuota, maxUnfinishedUploads } = config.files;

  const tus = new TusServer({
    path: "/uploads",
    datastore: staging,
    relativeLocation: true,
    respectForwardedHeaders: config.trustProxy !== false,
    allowedOrigins: [...config.corsOrigins],
    exposedHeaders: ["X-Request-Id"],
    namingFunction: (req) => admittedOf(req)!.creation!.id,
    // tus would read the id from the URL itself; it must be exactly the upload we admitted.
    getFileIdFromRequest: (req) => {
      const admission = admittedOf(req);
      return admission?.upload?.id ?? admission?.creation?.id;
    },
    // Never 0 (tus reads 0 as "no limit"): a full quota is refused in admit(), and finish.ts
    // checks the quota again under the per-user lock, so racing uploads cannot share it out twice.
    // OPTIONS (no one's request) learns MAX_FILE_SIZE.
    maxSize: async (req) => Math.max(1, admittedOf(req)?.allowance ?? maxFileSize),
    onUploadCreate: async (req, upload) => {
      const { viewer, creation } = admittedOf(req)!;
      await createUploadRow(upload, viewer, creation!);
      return {};
    },
    onUploadFinish: async (req, upload) => {
      await finishUpload({ database, services, staging }, upload, admittedOf(req)!.viewer);
      return {};
    },
    onResponseError: (_req, error) => {
      if ("status_code" in error) return undefined;
      app.log.error({ err: error }, "tus upload request failed");
      return tusError(500, "Internal server error");
    },
  });

  /**
   * The new upload's row, after the limits are checked under a per-user lock (so two creations
   * cannot both take the last bytes, or the last unfinished upload): its declared length, or
   * with a deferred length the bytes its body may bring, counts from here on.
   */
  async function createUploadRow(upload: Upload, viewer: Viewer, creation: NonNullable<Admitted["creation"]>): Promise<void> {
    const { metadata, reserve } = creation;
    await database.transaction(async (tx) => {
      await tx.query(sql.UPLOADER_LOCK, [viewer.id]);
      const [{ unfinished }] = (await tx.query<{ unfinished: number }>(sql.LIVE_UPLOADS_OF_USER, [viewer.id])) as [{ unfinished: number }];
      if (unfinished >= maxUnfinishedUploads) throw tusError(429, tooManyUnfinished());
      const used = await storageUsed(tx, viewer.id);
      if (used + (upload.size ?? reserve) > storageQuota) {
        throw tusError(413, `Storage quota exceeded: ${used} of ${storageQuota} bytes are used`);
      }
      await tx.query(sql.INSERT_UPLOAD, [
        upload.id,
        metadata.datasetId,
        viewer.id,
        metadata.filename,
        metadata.contentType,
        metadata.sha256,
        upload.size ?? null,
        config.files.uploadExpirySeconds,
      ]);
      if (upload.size === undefined && reserve > 0) await tx.query(sql.RESERVE_UPLOAD_BYTES, [upload.id, reserve]);
      await services.audit.through(tokenIdOf(viewer)).record(tx, {
        type: "upload.created",
        actorId: viewer.id,
        subjectId: metadata.datasetId,
        details: { uploadId: upload.id, length: upload.size ?? null, filename: metadata.filename },
      });
    });
  }

  /** Our checks; a refusal is answered here and tus never runs. */
  async function admit(request: FastifyRequest, reply: FastifyReply): Promise<Admitted | null> {
    let viewer: Viewer | null;
    try {
      viewer = await authenticate(request.headers.authorization, clientAddressOf(request), services, database, createUserLoader(database));
    } catch (error) {
      if (error instanceof ClientError) {
        const { status, headers } = credentialRefusal(error);
        refuse(reply, status, error.message, headers);
        return null;
      }
      throw error;
    }
    if (!viewer) {
      refuse(reply, 401, "Sign in first: uploads need Authorization: Bearer <access token>", { "www-authenticate": "Bearer" });
      return null;
    }
    if (!mayWrite(viewer)) {
      // Every tus request serves an upload, a write: a READ token has none to make or resume.
      refuse(reply, 403, "This access token may only read (scope READ): uploads need a WRITE token");
      return null;
    }
    // tus's URLs carry no query: one here could only be an attempt to make tus read another id.
    if (request.url.includes("?")) {
      refuse(reply, 400, "tus requests take no query string");
      return null;
    }
    if (request.method === "POST") {
      const parsed = parseUploadMetadata(request.headers["upload-metadata"]);
      if ("problem" in parsed) {
        refuse(reply, 400, parsed.problem);
        return null;
      }
      const permission = await datasetPermission(database, viewer, parsed.datasetId, "write");
      if (!permission.allowed) {
        refuseWriter(reply, permission.access);
        return null;
      }
      return admitCreation(request, reply, viewer, parsed);
    }
    const id = (request.params as { "*": string })["*"];
    const [found] = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)
      ? await database.query<UploadRow & { access: DatasetAccess | null; allowed: boolean | null }>(sql.UPLOAD_OF_CREATOR, [
          id,
          ...scopeParams(datasetScope(viewer, "write")),
        ])
      : [];
    if (!found) {
      refuse(reply, 404, "Upload not found");
      return null;
    }
    const { access, allowed, ...upload } = found;
    // Giving up one's own upload takes nothing from anyone: the creator may, whatever their access now.
    if (request.method !== "DELETE" && allowed !== true) {
      refuseWriter(reply, access, "Upload not found");
      return null;
    }
    if (request.method === "PATCH" && upload.state === "receiving") return admitWrite(request, reply, viewer, upload);
    return { viewer, upload };
  }

  const tooManyUnfinished = () =>
    `At most ${maxUnfinishedUploads} unfinished uploads at once (MAX_UNFINISHED_UPLOADS): finish or terminate some first`;

  /** A creation: the limits on uploads held, the file size and the quota, before tus creates anything. */
  async function admitCreation(request: FastifyRequest, reply: FastifyReply, viewer: Viewer, metadata: UploadMetadata): Promise<Admitted | null> {
    const [{ live, unfinished }] = (await database.query<{ live: number; unfinished: number }>(sql.LIVE_UPLOADS_OF_USER, [viewer.id])) as [
      { live: number; unfinished: number },
    ];
    if (live >= MAX_LIVE_UPLOADS) {
      refuse(reply, 429, `At most ${MAX_LIVE_UPLOADS} unfinished or uncommitted uploads at once: commit or terminate some first`, {
        "retry-after": "60",
      });
      return null;
    }
    if (unfinished >= maxUnfinishedUploads) {
      refuse(reply, 429, tooManyUnfinished(), { "retry-after": "60" });
      return null;
    }
    const room = await quota.room(viewer.id, null);
    if (room <= 0) {
      refuse(reply, 413, `Storage quota exceeded: all ${storageQuota} bytes are used`);
      return null;
    }
    const length = request.headers["upload-length"];
    const declared = typeof length === "string" && /^\d+$/.test(length) ? Number(length) : null;
    // tus reads a creation's body only when it comes as application/offset+octet-stream; its
    // length is unknown (null) when it comes chunked.
    const writes = request.headers["content-type"] === "application/offset+octet-stream";
    const bodyLength = writes ? wholeNumber(request.headers["content-length"]) : 0;
    if ((declared ?? bodyLength ?? 0) > maxFileSize) {
      refuse(reply, 413, `The file is larger than the limit of ${maxFileSize} bytes (MAX_FILE_SIZE)`);
      return null;
    }
    if (declared !== null) {
      const used = await storageUsed(database, viewer.id);
      if (used + declared > storageQuota) {
        refuse(reply, 413, `Storage quota exceeded: ${used} of ${storageQuota} bytes are used, and this file needs ${declared}`);
        return null;
      }
      // tus would create the upload and only then refuse the body, leaving an upload no one knows the id of.
      if (bodyLength !== null && bodyLength > declared) {
        refuse(reply, 413, `The body is longer than the Upload-Length of ${declared} bytes`);
        return null;
      }
    } else if (bodyLength !== null && bodyLength > room) {
      refuse(reply, 413, `Storage quota exceeded: these ${bodyLength} bytes do not fit in the ${room} bytes left of ${storageQuota}`);
      return null;
    }
    // With a deferred length, what the body may bring counts from the creation on (createUploadRow).
    const reserve = declared === null && writes ? (bodyLength ?? room) : 0;
    const creation = { id: randomUUID(), metadata, reserve };
    if (writes) quota.enter(creation.id);
    return { viewer, creation, allowance: room, writes };
  }

  /** A PATCH of an unfinished upload: the size it may reach; a deferred length reserves what this request may write. */
  async function admitWrite(request: FastifyRequest, reply: FastifyReply, viewer: Viewer, upload: UploadRow): Promise<Admitted | null> {
    quota.enter(upload.id);
    let allowance: number | null;
    try {
      if (upload.length === null) {
        const offset = wholeNumber(request.headers["upload-offset"]);
        allowance = await quota.reserve(viewer.id, upload, offset, wholeNumber(request.headers["content-length"]));
      } else {
        // The declared length has counted since the creation.
        allowance = await quota.room(viewer.id, upload.id);
        if (allowance <= ((await staging.stagedSize(upload.id)) ?? 0)) allowance = null;
      }
    } catch (error) {
      await quota.leave(upload.id, viewer.id);
      throw error;
    }
    if (allowance === null) {
      await quota.leave(upload.id, viewer.id);
      refuse(reply, 413, `Storage quota exceeded: all ${storageQuota} bytes are used`);
      return null;
    }
    return { viewer, upload, allowance, writes: true };
  }

  /** No `write` on the dataset: 404 when the viewer may not even read it (as for one that does not exist), else 403. */
  function refuseWriter(reply: FastifyReply, access: DatasetAccess | null, notFound = "Dataset not found") {
    if (!mayDo(access, "read")) return refuse(reply, 404, notFound);
    return refuse(reply, 403, "You may read this dataset but not upload to it: its owner and editors may");
  }

  /** A finished upload's bytes are in the blob store, not in tus: we answer for it. */
  async function answerFinished(request: FastifyRequest, reply: FastifyReply, upload: UploadRow) {
    // Still moving into the blob store: "complete" now would send the client to a commit that
    // refuses it. 423 is what tus clients retry (a lost answer to the last PATCH lands here).
    if (upload.state === "finalizing") {
      return refuse(reply, 423, "This upload's last bytes arrived and are being stored: ask again shortly", { "retry-after": "1" });
    }
    if (request.method === "HEAD") {
      return reply
        .code(200)
        .headers({
          "tus-resumable": "1.0.0",
          "cache-control": "no-store",
          "upload-offset": String(upload.size),
          "upload-length": String(upload.size),
        })
        .send();
    }
    if (request.method === "DELETE") {
      await database.query(sql.DELETE_UPLOAD, [upload.id]);
      return reply.code(204).headers({ "tus-resumable": "1.0.0" }).send();
    }
    return refuse(reply, 409, "This upload is complete: commit it with commitDatasetVersion");
  }

  async function handle(request: FastifyRequest, reply: FastifyReply) {
    // OPTIONS is protocol discovery (tus versions, extensions, maximum size): no one's data.
    if (request.method !== "OPTIONS") {
      const admission = await admit(request, reply);
      if (!admission) return reply;
      if (admission.upload && admission.upload.state !== "receiving") return answerFinished(request, reply, admission.upload);
      if (admission.upload && request.method === "DELETE") return terminate(reply, admission.upload);
      admitted.set(request.raw, admission);
    }
    reply.hijack();
    metrics.uploadsInFlight.inc();
    const admission = admitted.get(request.raw);
    const id = admission?.upload?.id ?? admission?.creation?.id;
    try {
      await tus.handle(request.raw, reply.raw);
    } finally {
      metrics.uploadsInFlight.dec();
      if (id) await staging.release(id);
      // What this request reserved and did not write is given back (by the last writer).
      if (id && admission?.writes) {
        await quota
          .leave(id, admission.viewer.id)
          .catch((error: unknown) => request.log.warn({ err: error }, "giving back an upload's reservation failed"));
      }
    }
  }

  /**
   * tus termination of an unfinished upload, answered by us so that the row (whose length
   * holds the quota) is gone before the answer: first the row, then the staged bytes. A
   * PATCH still writing finds its upload gone when it ends (404).
   */
  async function terminate(reply: FastifyReply, upload: UploadRow) {
    await database.query(sql.DELETE_UPLOAD, [upload.id]);
    await staging.remove(upload.id).catch(() => {});
    return reply.code(204).headers({ "tus-resumable": "1.0.0", "cache-control": "no-store" }).send();
  }

  await app.register(async (uploads) => {
    // tus bodies are raw bytes that tus streams itself: no parser reads them, and Fastify's
    // body limit (for GraphQL) does not apply; tus applies MAX_FILE_SIZE and the quota.
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser("*", (_request, _payload, done) => done(null));
    for (const url of ["/uploads", "/uploads/*"]) {
      // A large PATCH may take long to arrive: no total time, only IDLE_TIMEOUT of silence.
      uploads.route({ method: ["POST", "HEAD", "PATCH", "DELETE", "OPTIONS"], url, handler: handle, config: { requestTimeout: 0 } });
    }
  });
}
