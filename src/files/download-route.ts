import { pipeline, Transform } from "node:stream";
import contentDisposition from "content-disposition";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import parseRange from "range-parser";
import type { Services } from "../graphql/context.js";
import type { Database } from "../db/database.js";
import { datasetScope, scopeParams } from "../policy/dataset-access.js";
import { sendableContentType } from "./content-types.js";
import { fileName, normalizePath, storedPathProblem } from "./paths.js";
import { refuse, UUID, versionParam, whoAsks } from "./route-viewer.js";
import type { FileRow } from "./rows.js";
import { verifyDownload } from "./signed-urls.js";
import * as sql from "./sql.js";

interface DownloadParams {
  datasetId: string;
  version: string;
  "*": string;
}

/**
 * `GET` and `HEAD /datasets/{id}/versions/{number|latest}/files/{path}`: the bytes of one
 * file, streamed from the blob store, for a viewer within the dataset's read scope (the
 * same rule as `dataset(id)`), signed in with a token or holding a signed link, or for
 * anyone with no credential at all when the dataset is PUBLIC or UNLISTED (the read scope
 * of an anonymous viewer, counted against their address's anonymous limit).
 */
export function registerDownloads(app: FastifyInstance, services: Services, database: Database): void {
  const { files, metrics } = services;

  async function download(request: FastifyRequest<{ Params: DownloadParams }>, reply: FastifyReply) {
    const { datasetId, version: versionText, "*": path } = request.params;
    const version = versionParam(versionText);
    const problem = storedPathProblem(path);
    if (problem) return refuse(reply, 400, `The file path is not valid: ${problem}`);
    // A link names one version by its number: `latest` never takes one.
    const viewer = await whoAsks(request, reply, services, database, (query, now) =>
      typeof version === "number" ? verifyDownload(files.downloadKey, query, { datasetId, version, path }, now) : null,
    );
    if (viewer === undefined) return reply;
    // Access as the database has it now: a share taken away fails the very next request, links included.
    const scope = scopeParams(datasetScope(viewer, "read"));
    const find = async (at: string) =>
      version !== undefined && UUID.test(datasetId)
        ? (await database.query<FileRow>(sql.FILE_FOR_READER, [datasetId, version, ...scope, at]))[0]
        : undefined;
    // Paths are stored in NFC: a URL in another form (NFD, from macOS) finds the file too. The
    // path as sent is looked for first: a file committed before paths were stored in NFC has it.
    const normalized = normalizePath(path);
    const file = (await find(path)) ?? (normalized === path ? undefined : await find(normalized));
    if (file) return sendFile(request, reply, file);
    // With no credential, only PUBLIC and UNLISTED datasets are readable: the rest may be readable once signed in.
    if (!viewer) {
      return refuse(reply, 401, "File not found, or not public: sign in (Authorization: Bearer <access token>) or use a signed downloadUrl", {
        "www-authenticate": "Bearer",
      });
    }
    return refuse(reply, 404, "File not found");
  }

  async function sendFile(request: FastifyRequest, reply: FastifyReply, file: FileRow) {
    const etag = `"${file.sha256}"`;
    reply.headers({
      etag,
      "accept-ranges": "bytes",
      // Readers can lose access: a cache asks again each time (and gets a 304 when it may).
      "cache-control": "private, no-cache",
      "content-type": sendableContentType(file.contentType),
      "content-disposition": contentDisposition(fileName(file.path)),
      "x-content-type-options": "nosniff",
      // Even opened in a tab, stored content runs no script of its own.
      "content-security-policy": "sandbox; default-src 'none'",
    });
    if (matchesEtag(request.headers["if-none-match"], etag)) return reply.code(304).send();

    let range: { start: number; end: number } | undefined;
    const rangeHeader = request.headers.range;
    const ifRange = request.headers["if-range"];
    if (rangeHeader && (ifRange === undefined || ifRange === etag)) {
      const ranges = parseRange(file.size, rangeHeader, { combine: true });
      if (ranges === -1) return reply.code(416).header("content-range", `bytes */${file.size}`).send();
      // Malformed (-2), another unit, or several ranges: the whole file, as RFC 9110 allows.
      if (Array.isArray(ranges) && ranges.type === "bytes" && ranges.length === 1) range = ranges[0]!;
    }
    const length = range ? range.end - range.start + 1 : file.size;
    reply.header("content-length", String(length));
    if (range) reply.code(206).header("content-range", `bytes ${range.start}-${range.end}/${file.size}`);
    if (request.method === "HEAD" || length === 0) return reply.send();

    const body = await files.store.read(file.sha256, range);
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        metrics.bytesDownloaded.inc(chunk.length);
        callback(null, chunk);
      },
    });
    // pipeline, not pipe: a store read that fails half way ends the response instead of leaving it open.
    pipeline(body as NodeJS.ReadableStream, counted, (error) => {
      if (error) request.log.warn({ err: error, sha256: file.sha256 }, "download stream ended early");
    });
    return reply.send(counted);
  }

  app.route<{ Params: DownloadParams }>({ method: ["GET", "HEAD"], url: "/datasets/:datasetId/versions/:version/files/*", handler: download });
}

/** True when If-None-Match names `etag` (or is `*`); weak comparison, as RFC 9110 asks for it. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}
