import { InvalidContentAddressError } from "./errors.js";

/** An inclusive byte range, as HTTP Range gives it. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Content-addressed, immutable storage of bytes: one object per SHA-256 (lower-case hex).
 *
 * Every method that takes an address rejects with {@link InvalidContentAddressError} when it
 * is not 64 lower-case hex digits, before touching storage (an address becomes a path or a key).
 */
export interface BlobStore {
  /** For logs: "file:///abs/path" or "s3://bucket/prefix" (never credentials). */
  readonly description: string;
  /**
   * Moves a complete local file whose SHA-256 the caller computed into address `sha256`,
   * atomically: the address shows either nothing or all of it. When the address already holds
   * the content, it is written all the same (an atomic replace by the same bytes), so that the
   * work and the time taken never tell whether anyone else holds this content. The local file
   * is gone afterwards. (When it rejects, the local file is left to the caller.)
   */
  putFile(sha256: string, localPath: string, size: number): Promise<void>;
  /**
   * Streams `body` into a temporary place while hashing it, then makes it visible under its
   * SHA-256; refuses (rejects with ChecksumMismatchError, nothing kept) when `expectedSha256` is
   * given and differs; rejects with TooLargeError when more than `maxBytes` arrive (nothing
   * kept). Returns the address and size. A body that errors rejects with its error, nothing kept.
   */
  put(body: NodeJS.ReadableStream, options?: { expectedSha256?: string; maxBytes?: number }): Promise<{ sha256: string; size: number }>;
  /** Size of the content at `sha256`, or null when absent. */
  stat(sha256: string): Promise<{ size: number } | null>;
  /**
   * The bytes, whole or one inclusive range (already validated by the caller against the
   * size). Rejects with `BlobNotFoundError` when absent.
   */
  read(sha256: string, range?: ByteRange): Promise<NodeJS.ReadableStream>;
  /** Removes the content; absent is fine. */
  delete(sha256: string): Promise<void>;
  /** Every address held (for the orphan sweep and tests). */
  list(): AsyncIterable<string>;
  /**
   * Removes temporary writes older than `olderThanMs` left by crashed processes; returns how
   * many. Choose `olderThanMs` longer than the slowest write in progress may take.
   */
  sweepTemporary(olderThanMs: number): Promise<number>;
  /**
   * S3 only: a presigned GET URL of the content valid `expiresInSeconds`, answering with these
   * headers (Content-Disposition, Content-Type). Undefined on stores that cannot.
   */
  presignRead?(sha256: string, options: { expiresInSeconds: number; contentDisposition: string; contentType: string }): Promise<string>;
  /**
   * Filesystem stores only: the file that holds the content, for a reader that needs a file
   * (previews: DuckDB reads it in place). Stores without one leave it undefined.
   */
  localPath?(sha256: string): string;
  close(): Promise<void>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether `value` is a content address: a SHA-256 in 64 lower-case hex digits. */
export function isSha256(value: string): boolean {
  return SHA256_HEX.test(value);
}

/** Throws {@link InvalidContentAddressError} unless `value` is a content address. */
export function assertSha256(value: string): void {
  if (typeof value !== "string" || !SHA256_HEX.test(value)) throw new InvalidContentAddressError(value);
}

/** Throws a RangeError unless `range` is whole, non-negative byte offsets with start <= end. */
export function assertRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`not a byte range: ${start}-${end}`);
  }
}
