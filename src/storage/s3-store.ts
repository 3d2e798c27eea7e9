import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { assertRange, assertSha256, isSha256, type BlobStore, type ByteRange } from "./blob-store.js";
import { BlobNotFoundError, ChecksumMismatchError } from "./errors.js";
import { HashingCounter } from "./hashing.js";
import { copyWithinBucket, MAX_SINGLE_COPY } from "./s3-copy.js";

const MiB = 1024 * 1024;
/** S3's rules for multipart uploads: parts of 5 MiB to 5 GiB, at most 10,000 of them. */
const MIN_PART_SIZE = 5 * MiB;
const MAX_PARTS = 10_000;
/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const CONTENT_TYPE = "application/octet-stream";

/** Options of {@link S3BlobStore}. */
export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix without leading or trailing "/", e.g. "datasets/prod"; "" for the bucket's root. */
  prefix: string;
  /** Destroy `client` on close (when the store made it). */
  ownsClient?: boolean;
  /** Bytes per part when streaming an upload of unknown length (at least 5 MiB; default 8 MiB). */
  partSize?: number;
  /** Parts uploaded at once; memory held is about partSize × (queueSize + 1). Default 4. */
  queueSize?: number;
  /** Objects larger than this are copied with multipart UploadPartCopy (default and at most 5 GiB). */
  multipartCopyThreshold?: number;
  /** Bytes per part of a multipart copy (default 512 MiB, raised to fit 10,000 parts). */
  copyPartSize?: number;
  /** The clock that ages temporary writes for `sweepTemporary` (milliseconds since the epoch). */
  now?: () => number;
}

/**
 * Blobs in an S3 bucket (AWS, or any S3-compatible service): `<prefix>/blobs/<sha[0:2]>/<sha>`,
 * temporary writes at `<prefix>/tmp/<uuid>`. Many instances share one bucket: writes of the same
 * content race harmlessly (the same bytes under the same key), and nothing here is per-process.
 */
export class S3BlobStore implements BlobStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly base: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly multipartCopyThreshold: number;
  private readonly copyPartSize: number;
  private readonly now: () => number;
  private readonly ownsClient: boolean;

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    const prefix = options.prefix.replace(/^\/+|\/+$/g, "");
    this.base = prefix === "" ? "" : `${prefix}/`;
    this.description = `s3://${options.bucket}/${prefix}`;
    this.partSize = Math.max(MIN_PART_SIZE, options.partSize ?? 8 * MiB);
    this.queueSize = Math.max(1, options.queueSize ?? 4);
    this.multipartCopyThreshold = Math.min(MAX_SINGLE_COPY, options.multipartCopyThreshold ?? MAX_SINGLE_COPY);
    this.copyPartSize = Math.max(MIN_PART_SIZE, options.copyPartSize ?? 512 * MiB);
    this.now = options.now ?? Date.now;
    this.ownsClient = options.ownsClient ?? false;
  }

  async putFile(sha256: string, localPath: string, size: number): Promise<void> {
    assertSha256(sha256);
    const local = await stat(localPath);
    if (!local.isFile()) throw new Error(`putFile: ${localPath} is not a regular file`);
    if (local.size !== size) throw new Error(`putFile: ${localPath} holds ${local.size} bytes, not ${size}`);
    // Straight to the final key, with no temporary copy: S3 shows an object only once its
    // PutObject or CompleteMultipartUpload has succeeded, never a part of it, so the address
    // holds nothing or all of it. A crash part-way leaves an incomplete multipart upload,
    // invisible to readers, which sweepTemporary (and the bucket's lifecycle rule) aborts.
    // Also when the key holds the content already (the same bytes replace it): skipping would
    // make finishing an upload faster exactly when someone else holds its content.
    const body = createReadStream(localPath);
    try {
      await this.upload(this.blobKey(sha256), body, size);
    } finally {
      body.destroy();
    }
    await rm(localPath, { force: true });
  }

  async put(body: NodeJS.ReadableStream, options: { expectedSha256?: string; maxBytes?: number } = {}): Promise<{ sha256: string; size: number }> {
    const { expectedSha256, maxBytes } = options;
    if (expectedSha256 !== undefined) assertSha256(expectedSha256);
    // The content address is known only at the end, so the bytes go to a temporary key first.
    // Even when the client announces a hash whose content we already hold, every byte is read
    // and hashed: dedupe on a claimed hash would let anyone obtain content they do not have.
    const hasher = new HashingCounter(maxBytes);
    const temporaryKey = `${this.base}tmp/${randomUUID()}`;
    // A failing body destroys the hasher with its error, which fails the upload (lib-storage
    // aborts its multipart upload); a failing upload destroys the hasher, which ends the body.
    let bodyFailure: unknown;
    const piped = pipeline(body, hasher).catch((failure: unknown) => {
      bodyFailure ??= failure;
      throw failure;
    });
    piped.catch(() => {});
    try {
      await this.upload(temporaryKey, hasher, undefined, maxBytes);
      await piped;
    } catch (error) {
      // The body's own failure (or TooLargeError) is the news, even when lib-storage then failed
      // to abort its multipart upload and rejected with that instead (the sweep aborts it later).
      const cause = bodyFailure ?? error;
      hasher.destroy();
      await this.deleteQuietly(temporaryKey);
      throw cause;
    }
    const sha256 = hasher.digest();
    const size = hasher.byteCount;
    try {
      if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
        throw new ChecksumMismatchError(expectedSha256, sha256);
      }
      const key = this.blobKey(sha256);
      if (!(await this.exists(key))) {
        await copyWithinBucket(this.client, {
          bucket: this.bucket,
          sourceKey: temporaryKey,
          targetKey: key,
          size,
          multipartThreshold: this.multipartCopyThreshold,
          partSize: this.copyPartSize,
          concurrency: this.queueSize,
        });
      }
    } finally {
      await this.deleteQuietly(temporaryKey);
    }
    return { sha256, size };
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    assertSha256(sha256);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.blobKey(sha256) }));
      return { size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async read(sha256: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    assertSha256(sha256);
    if (range) assertRange(range);
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.blobKey(sha256),
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(sha256);
      throw error;
    }
    // On Node the body is the HTTP response itself: a Readable.
    const body = response.Body as Readable;
    // A service that ignored Range would answer 200 with everything; sending that as the range
    // would hand a client wrong bytes under a 206, so it is an error here.
    if (range && !response.ContentRange?.startsWith(`bytes ${range.start}-${range.end}/`)) {
      body.destroy();
      throw new Error(`storage answered a range request for ${range.start}-${range.end} with another range`);
    }
    return body;
  }

  async delete(sha256: string): Promise<void> {
    assertSha256(sha256);
    // S3 answers 204 whether or not the key existed.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.blobKey(sha256) }));
  }

  async *list(): AsyncIterable<string> {
    const prefix = `${this.base}blobs/`;
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) {
        const sha256 = object.Key?.slice(object.Key.lastIndexOf("/") + 1) ?? "";
        if (isSha256(sha256) && object.Key === this.blobKey(sha256)) yield sha256;
      }
    }
  }

  /**
   * Deletes temporary objects last modified before the cutoff, and aborts multipart uploads
   * begun before it, both the temporary ones and putFile's direct ones under `blobs/`. An
   * upload's age is counted from its start, so `olderThanMs` must exceed the longest upload.
   */
  async sweepTemporary(olderThanMs: number): Promise<number> {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    const temporaryPrefix = `${this.base}tmp/`;
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: temporaryPrefix })) {
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || object.LastModified === undefined) continue;
        if (object.LastModified.getTime() >= cutoff) continue;
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: object.Key }));
        removed += 1;
      }
    }
    for (const prefix of [temporaryPrefix, `${this.base}blobs/`]) {
      removed += await this.abortUploadsBefore(prefix, cutoff);
    }
    return removed;
  }

  async presignRead(sha256: string, options: { expiresInSeconds: number; contentDisposition: string; contentType: string }): Promise<string> {
    assertSha256(sha256);
    const { expiresInSeconds } = options;
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_PRESIGN_SECONDS) {
      throw new RangeError(`expiresInSeconds must be 1 to ${MAX_PRESIGN_SECONDS}, got ${expiresInSeconds}`);
    }
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.blobKey(sha256),
      ResponseContentDisposition: options.contentDisposition,
      ResponseContentType: options.contentType,
    });
    return getSignedUrl(this.client, command, { expiresIn: expiresInSeconds });
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  private blobKey(sha256: string): string {
    return `${this.base}blobs/${sha256.slice(0, 2)}/${sha256}`;
  }

  /** Uploads a stream (multipart when over one part), with parts sized to fit `maxBytes` or `size`. */
  private async upload(key: string, body: Readable, size?: number, maxBytes?: number): Promise<void> {
    const largest = size ?? maxBytes;
    const partSize = largest !== undefined && Number.isFinite(largest) ? Math.max(this.partSize, Math.ceil(largest / MAX_PARTS)) : this.partSize;
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: CONTENT_TYPE, ContentLength: size },
      partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  private async abortUploadsBefore(prefix: string, cutoff: number): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        if (upload.Initiated === undefined || upload.Initiated.getTime() >= cutoff) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }));
        aborted += 1;
      }
      if (!page.IsTruncated) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** Removing a temporary object is tidying: its failure must not hide the error being reported. */
  private async deleteQuietly(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => {});
  }
}

function isNotFound(error: unknown): boolean {
  const failure = error as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return failure?.name === "NotFound" || failure?.name === "NoSuchKey" || failure?.$metadata?.httpStatusCode === 404;
}
