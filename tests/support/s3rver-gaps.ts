import { createReadStream } from "node:fs";
import { readFile, readdir, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type S3rver from "s3rver";

/**
 * s3rver 3.7.1 (the one S3-protocol server on npm that runs on Node 20) lacks operations our
 * blob store and tus on S3 use: ListMultipartUploads, AbortMultipartUpload and UploadPartCopy
 * answer NotImplemented or MethodNotAllowed, and `Range: bytes=0-0` returns the whole object.
 * This fills those four gaps on one server instance, the way S3 documents them, on s3rver's own
 * filesystem store, behind s3rver's own authentication middleware. Everything else is s3rver
 * as published (pinned to 3.7.1 in package.json, since this reaches into its internals).
 */

const require = createRequire(import.meta.url);
type Middleware = (context: KoaContext, next: () => Promise<unknown>) => Promise<unknown>;
const authentication = require("s3rver/lib/middleware/authentication") as () => Middleware;
const S3Error = require("s3rver/lib/models/error") as new (code: string, message: string, detail?: object) => Error;

/** The parts of Koa's context and s3rver's store that the gap handlers use. */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  params: { bucket?: string; key?: string };
  state: Record<string, unknown>;
  status: number;
  body: unknown;
}
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getObject(
    bucket: string,
    key: string,
    options?: { start?: number; end?: number },
  ): Promise<{ content: Readable | null; range?: { start: number; end: number } } | null>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ md5: string }>;
}
interface S3rverInternals {
  middleware: Middleware[];
  store: FilesystemStore;
}

/** Installs the four fixes on `server`; call before `run()`. */
export function fillS3rverGaps(server: S3rver): void {
  const internals = server as unknown as S3rverInternals;
  const routerIndex = internals.middleware.findIndex((middleware) => middleware.name === "dispatch");
  if (routerIndex < 0) throw new Error("s3rver's router not found: the pinned s3rver version changed?");
  const store = internals.store;
  const check = authentication();
  // Before s3rver's router, after its XML encoder (which turns a plain-object body into XML).
  internals.middleware.splice(routerIndex, 0, async (context, next) => {
    const handler = handlerFor(context);
    if (handler === undefined) return next();
    return check(context, () => handler(context, store));
  });
  fixZeroEndRange(store);
}

type Handler = (context: KoaContext, store: FilesystemStore) => Promise<void>;

function handlerFor(context: KoaContext): Handler | undefined {
  const [, bucket, ...keyParts] = context.path.split("/");
  if (bucket === undefined || bucket === "") return undefined;
  const key = keyParts.map(decodeURIComponent).join("/");
  context.params = key === "" ? { bucket } : { bucket, key };
  if (context.method === "GET" && key === "" && "uploads" in context.query) return listMultipartUploads;
  if (context.method === "DELETE" && key !== "" && typeof context.query.uploadId === "string") {
    return abortMultipartUpload;
  }
  if (context.method === "PUT" && key !== "" && "uploadId" in context.query && "x-amz-copy-source" in context.headers) {
    return uploadPartCopy;
  }
  return undefined;
}

function uploadsDirectory(store: FilesystemStore, bucket: string): string {
  return store.getResourcePath(bucket, undefined, "uploads");
}

/** https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html (one page). */
const listMultipartUploads: Handler = async (context, store) => {
  const bucket = context.params.bucket!;
  const prefix = typeof context.query.prefix === "string" ? context.query.prefix : "";
  const directory = uploadsDirectory(store, bucket);
  const uploads: { Key: string; UploadId: string; Initiated: string; StorageClass: string }[] = [];
  for (const uploadId of await readdir(directory).catch(() => [] as string[])) {
    const keyFile = join(directory, uploadId, "key");
    const key = await readFile(keyFile, "utf8").catch(() => null);
    if (key === null || !key.startsWith(prefix)) continue;
    const initiated = (await stat(keyFile)).mtime.toISOString();
    uploads.push({ Key: key, UploadId: uploadId, Initiated: initiated, StorageClass: "STANDARD" });
  }
  uploads.sort((a, b) => (a.Key === b.Key ? a.UploadId.localeCompare(b.UploadId) : a.Key < b.Key ? -1 : 1));
  context.body = {
    ListMultipartUploadsResult: {
      "@": { xmlns: "http://s3.amazonaws.com/doc/2006-03-01/" },
      Bucket: bucket,
      KeyMarker: "",
      UploadIdMarker: "",
      Prefix: prefix,
      MaxUploads: 1000,
      IsTruncated: false,
      Upload: uploads,
    },
  };
};

/** https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html */
const abortMultipartUpload: Handler = async (context, store) => {
  const uploadDirectory = await existingUpload(context, store);
  await rm(uploadDirectory, { recursive: true, force: true });
  context.status = 204;
  context.body = null;
};

/** https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html */
const uploadPartCopy: Handler = async (context, store) => {
  await existingUpload(context, store);
  const partNumber = Number(context.query.partNumber);
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
    throw new S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
  }
  const source = decodeURIComponent(String(context.headers["x-amz-copy-source"])).replace(/^\//, "");
  const [sourceBucket = "", ...sourceKeyParts] = source.split("?")[0]!.split("/");
  const rangeHeader = context.headers["x-amz-copy-source-range"];
  const range = typeof rangeHeader === "string" ? /^bytes=(\d+)-(\d+)$/.exec(rangeHeader) : null;
  if (typeof rangeHeader === "string" && range === null) {
    throw new S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last");
  }
  const object = await store.getObject(
    sourceBucket,
    sourceKeyParts.join("/"),
    range ? { start: Number(range[1]), end: Number(range[2]) } : undefined,
  );
  if (object === null) throw new S3Error("NoSuchKey", "The specified key does not exist.");
  if (object.content === null) throw new S3Error("InvalidRange", "The requested range is not satisfiable");
  const { md5 } = await store.putPart(context.params.bucket!, String(context.query.uploadId), partNumber, object.content);
  context.body = { CopyPartResult: { LastModified: new Date().toISOString(), ETag: JSON.stringify(md5) } };
};

async function existingUpload(context: KoaContext, store: FilesystemStore): Promise<string> {
  const uploadId = String(context.query.uploadId);
  const directory = join(uploadsDirectory(store, context.params.bucket!), uploadId);
  const key = /^[0-9a-f]+$/.test(uploadId) ? await readFile(join(directory, "key"), "utf8").catch(() => null) : null;
  if (key === null || key !== context.params.key) {
    throw new S3Error(
      "NoSuchUpload",
      "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
      { UploadId: uploadId },
    );
  }
  return directory;
}

/** s3rver reads `end: 0` as "no end" (`options.end || Infinity`), so `bytes=0-0` gave everything. */
function fixZeroEndRange(store: FilesystemStore): void {
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await getObject(bucket, key, options);
    if (options?.end === 0 && object?.content) {
      object.content.destroy();
      object.range = { start: 0, end: 0 };
      object.content = createReadStream(store.getResourcePath(bucket, key, "object"), { start: 0, end: 0 });
    }
    return object;
  };
}
