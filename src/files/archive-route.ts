import contentDisposition from "content-disposition";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Database } from "../db/database.js";
import type { IsoTime } from "../db/timestamps.js";
import type { Services } from "../graphql/context.js";
import { datasetScope, scopeParams } from "../policy/dataset-access.js";
import { zipVersion } from "./archive.js";
import { refuse, UUID, versionParam, whoAsks } from "./route-viewer.js";
import type { FileRow } from "./rows.js";
import { verifyArchive } from "./signed-urls.js";
import * as sql from "./sql.js";

interface ArchiveParams {
  datasetId: string;
  version: string;
}

interface ArchivedVersion {
  number: number;
  fileCount: number;
  createdAt: IsoTime;
  datasetName: string;
}

/**
 * The archive's file name, from the dataset's name: letters, digits, spaces, dots, dashes and
 * underscores kept, anything else (slashes, quotes, controls) a dash; never empty, never hidden.
 */
export function archiveFileName(datasetName: string, version: number): string {
  const safe = datasetName
    .normalize("NFC")
    .replace(/[^\p{L}\p{N} ._-]+/gu, "-")
    .replace(/^[\s.-]+|[\s.-]+$/g, "")
    .slice(0, 100);
  return `${safe || "dataset"}-v${version}.zip`;
}

/** The name in plain ASCII, for clients that read only `filename` (accents dropped, anything else `_`). */
const asciiFallback = (name: string) =>
  name
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(/[^\x20-\x7e]/g, "_");

/**
 * `GET` and `HEAD /datasets/{id}/versions/{number|latest}/archive.zip`: every file of the
 * version in one ZIP, streamed as it is written (src/files/archive.ts), with a file download's
 * authorization: a token or a signed link (`DatasetVersion.archiveUrl`) of a viewer within the
 * dataset's read scope, asked of the database on every request.
 */
export function registerArchives(app: FastifyInstance, services: Services, database: Database): void {
  const { files, metrics } = services;

  async function archive(request: FastifyRequest<{ Params: ArchiveParams }>, reply: FastifyReply) {
    const { datasetId, version: versionText } = request.params;
    const version = versionParam(versionText);
    // A link names one version by its number: `latest` never takes one.
    const viewer = await whoAsks(request, reply, services, database, (query, now) =>
      typeof version === "number" ? verifyArchive(files.downloadKey, query, { datasetId, version }, now) : null,
    );
    if (viewer === undefined) return reply;
    const scope = scopeParams(datasetScope(viewer, "read"));
    const found =
      version !== undefined && UUID.test(datasetId)
        ? (await database.query<ArchivedVersion>(sql.VERSION_FOR_READER, [datasetId, version, ...scope]))[0]
        : undefined;
    if (!found) {
      // With no credential, only PUBLIC and UNLISTED datasets are readable: the rest may be readable once signed in (as downloads answer).
      if (!viewer) {
        return refuse(reply, 401, "Version not found, or not public: sign in (Authorization: Bearer <access token>) or use a signed archiveUrl", {
          "www-authenticate": "Bearer",
        });
      }
      return refuse(reply, 404, "Version not found");
    }
    const entries = await database.query<FileRow>(sql.VERSION_FILES_FOR_READER, [datasetId, found.number, ...scope, found.fileCount]);
    // None: the access went between the two statements. Any other shortfall is never sent as an archive.
    if (entries.length === 0 && found.fileCount > 0) return refuse(reply, 404, "Version not found");
    if (entries.length !== found.fileCount) throw new Error(`version ${found.number} lists ${entries.length} of its ${found.fileCount} files`);

    const fileName = archiveFileName(found.datasetName, found.number);
    reply.headers({
      // Readers can lose access: a cache asks again each time.
      "cache-control": "private, no-cache",
      "content-type": "application/zip",
      "content-disposition": contentDisposition(fileName, { fallback: asciiFallback(fileName) }),
      "x-content-type-options": "nosniff",
    });
    if (request.method === "HEAD") return reply.send();
    const body = zipVersion(files.store, entries, new Date(found.createdAt), (bytes) => metrics.bytesDownloaded.inc(bytes));
    body.on("error", (error) => request.log.warn({ err: error, datasetId, version: found.number }, "archive stream ended early"));
    return reply.send(body);
  }

  app.route<{ Params: ArchiveParams }>({ method: ["GET", "HEAD"], url: "/datasets/:datasetId/versions/:version/archive.zip", handler: archive });
}
