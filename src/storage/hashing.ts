import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { TooLargeError } from "./errors.js";

/**
 * A pass-through that computes the SHA-256 and the size of what flows through it, and fails
 * with {@link TooLargeError} as soon as more than `maxBytes` have arrived, so an oversized body
 * is cut off at the limit instead of being stored first and measured afterwards.
 */
export class HashingCounter extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private bytes = 0;

  constructor(private readonly maxBytes: number = Number.POSITIVE_INFINITY) {
    super();
    if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be a number of bytes, got ${maxBytes}`);
  }

  /** Bytes seen so far. (Not `size`: lib-storage would take a `size` property for the body's length.) */
  get byteCount(): number {
    return this.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(new TooLargeError(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  /** The lower-case hex SHA-256 of everything seen; call once, after the stream ended. */
  digest(): string {
    return this.hash.digest("hex");
  }
}
