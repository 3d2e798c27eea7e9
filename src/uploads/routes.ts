import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Server as TusServer } from "@tus/server";
import type { Upload } from "@tus/utils";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { authenticate, type Viewer } from "../auth/viewer.js";
import type { Services } from "../context.js";
import type { Database } from "../db/database.js";
import { ClientError } from "../errors.js";
import type { DatasetAccess } from "../generated/graphql.js";
import { datasetPermission } from "../policy/dataset-access.js";
import { datasetScope, mayDo, scopeParams } from "../policy/rules.js";
import { createUserLoader } from "../users/loader.js";
import { finishUpload } from "./finish.js";
import type { HashingFileStore } from "./hashing-file-store.js";
import * as sql from "../files/sql.js";
import type { UploadRow } from "../files/rows.js";
import { storageUsed } from "../files/store.js";
import { parseUploadMetadata, type UploadMetadata } from "./metadata.js";

/** What our checks learnt about a tus request before tus handles it. */
interface Admitted {
  viewer: Viewer;
  /** POST: the new upload's id and what its metadata said. */
  creation?: { id: string; metadata: UploadMetadata };
  /** Later requests: the upload they are about. */
  upload?: UploadRow;
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
  const admittedOf = (req: { runtime?: { node?: { req: unknown } } }) => admitted.get(req.runtime!.node!.req as IncomingMessage)!;

  /** Bytes the viewer may still store in `uploadId` (or a new upload): the file size limit and what the quota leaves. */
  const room = async (userId: string, uploadId: string | null) =>
    Math.max(0, Math.min(config.files.maxFileSize, config.files.storageQuota - (await storageUsed(database, userId, uploadId))));

  const tus = new TusServer({
    path: "/uploads",
    datastore: staging,
    relativeLocation: true,
    respectForwardedHeaders: config.trustProxy !== false,
    allowedOrigins: [...config.corsOrigins],
    exposedHeaders: ["X-Request-Id"],
    namingFunction: (req) => admittedOf(req).creation!.id,
    // tus would read the id from the URL itself; it must be exactly the upload we admitted.
    getFileIdFromRequest: (req) => {
      const admission = admittedOf(req);
      return admission?.upload?.id ?? admission?.creation?.id;
    },
    // Never 0 (tus reads 0 as "no limit"): a full quota is refused in admit(), and finish.ts
    // checks the quota again under the per-user lock, so racing uploads cannot share it out twice.
    maxSize: async (req, id) => Math.max(1, await room(admittedOf(req).viewer.id, id)),
    onUploadCreate: async (req, upload) => {
      const { viewer, creation } = admittedOf(req);
      await createUploadRow(upload, viewer, creation!.metadata);
      return {};
    },
    onUploadFinish: async (req, upload) => {
      await finishUpload({ database, services, staging }, upload, admittedOf(req).viewer);
      return {};
    },
    onResponseError: (_req, error) => {
      if ("status_code" in error) return undefined;
      app.log.error({ err: error }, "tus upload request failed");
      return tusError(500, "Internal server error");
    },
  });

  /** The new upload's row, after the quota is checked under a per-user lock (so two creations cannot both take the last bytes). */
  async function createUploadRow(upload: Upload, viewer: Viewer, metadata: UploadMetadata): Promise<void> {
    await database.transaction(async (tx) => {
      await tx.query(sql.UPLOADER_LOCK, [viewer.id]);
      const used = await storageUsed(tx, viewer.id);
      if (upload.size !== undefined && used + upload.size > config.files.storageQuota) {
        throw tusError(413, `Storage quota exceeded: ${used} of ${config.files.storageQuota} bytes are used`);
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
      await services.audit.record(tx, {
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
      viewer = await authenticate(request.headers.authorization, services.tokens, services.viewers, database, createUserLoader(database));
    } catch (error) {
      if (error instanceof ClientError) {
        refuse(reply, 401, error.message, { "www-authenticate": 'Bearer error="invalid_token"' });
        return null;
      }
      throw error;
    }
    if (!viewer) {
      refuse(reply, 401, "Sign in first: uploads need Authorization: Bearer <access token>", { "www-authenticate": "Bearer" });
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
      const [{ live }] = (await database.query<{ live: number }>(sql.LIVE_UPLOADS_OF_USER, [viewer.id])) as [{ live: number }];
      if (live >= MAX_LIVE_UPLOADS) {
        refuse(reply, 429, `At most ${MAX_LIVE_UPLOADS} unfinished or uncommitted uploads at once: commit or terminate some first`, {
          "retry-after": "60",
        });
        return null;
      }
      if ((await room(viewer.id, null)) <= 0) {
        refuse(reply, 413, `Storage quota exceeded: all ${config.files.storageQuota} bytes are used`);
        return null;
      }
      const length = request.headers["upload-length"];
      if (typeof length === "string" && /^\d+$/.test(length)) {
        if (Number(length) > config.files.maxFileSize) {
          refuse(reply, 413, `The file is larger than the limit of ${config.files.maxFileSize} bytes (MAX_FILE_SIZE)`);
          return null;
        }
        const used = await storageUsed(database, viewer.id);
        if (used + Number(length) > config.files.storageQuota) {
          refuse(reply, 413, `Storage quota exceeded: ${used} of ${config.files.storageQuota} bytes are used, and this file needs ${length}`);
          return null;
        }
      }
      return { viewer, creation: { id: randomUUID(), metadata: parsed } };
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
    if (
      request.method === "PATCH" &&
      upload.state === "receiving" &&
      (await room(viewer.id, upload.id)) <= ((await staging.stagedSize(upload.id)) ?? 0)
    ) {
      refuse(reply, 413, `Storage quota exceeded: all ${config.files.storageQuota} bytes are used`);
      return null;
    }
    return { viewer, upload };
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
    }
    if (request.method === "PATCH" && id) await recordReceived(id);
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

  /** While a length is deferred, the quota counts what arrived. */
  async function recordReceived(id: string) {
    const received = await staging.stagedSize(id);
    if (received !== null) await database.query(sql.SET_UPLOAD_RECEIVED, [id, received]);
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
