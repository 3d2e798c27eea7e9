import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { type Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { FileStore } from "@tus/file-store";
import { Upload } from "@tus/utils";

/** What tus answers (404) when an upload's staged file went, before or while its bytes were written. */
class UploadGoneError extends Error {
  override readonly name = "UploadGoneError";
  readonly status_code = 404;
  readonly body = "Upload not found\n";
}

/** How much of a body may wait in memory for the write in progress to return. */
const WRITE_BATCH_BYTES = 2 ** 20;

/** What has been hashed of one upload: the running SHA-256 of its first `offset` bytes. */
interface HashState {
  hash: Hash;
  offset: number;
}

/**
 * tus's file store, computing each upload's SHA-256 while its bytes stream in.
 *
 * Each chunk is written at its position first and hashed only once the write returned, so
 * the running hash covers exactly the bytes on disk, also when a client disconnects half
 * way: a resumed upload goes on hashing where it stopped, with no second read. Only when
 * this process has no running hash for an upload (it restarted, or the upload began on
 * another instance sharing the staging directory) is the staged prefix read once to catch up.
 */
export class HashingFileStore extends FileStore {
  readonly #hashes = new Map<string, HashState>();
  readonly #moved = new Map<string, Upload>();
  /** The writes in progress into each upload: removing the upload stops them. */
  readonly #writing = new Map<string, Set<Writable>>();
  /** Bytes written into staging, for the bytes-in counter. */
  onBytes: (count: number) => void = () => {};

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    let state: HashState | undefined;
    let file: FileHandle | undefined;
    let position = offset;
    /** The write in progress, awaited before the file is closed, also when the stream failed. */
    let inFlight: Promise<void> = Promise.resolve();
    // As fs.WriteStream does: the chunks that arrived while a write was in progress go
    // together in the next writev, so a body costs a few large writes, not one thread-pool
    // round trip per 64 KiB socket read.
    const sink = new Writable({
      highWaterMark: WRITE_BATCH_BYTES,
      writev: (entries, callback) => {
        const chunks = entries.map((entry) => entry.chunk as Buffer);
        inFlight = writeFully(file!, chunks, position).then(() => {
          for (const chunk of chunks) {
            state!.hash.update(chunk);
            position += chunk.length;
            this.onBytes(chunk.length);
          }
          state!.offset = position;
        });
        inFlight.then(() => callback(), callback);
      },
    });
    // Known before the file is opened, so that a removal from here on stops this write.
    const writing = this.#writing.get(id) ?? new Set();
    this.#writing.set(id, writing.add(sink));
    try {
      try {
        state = await this.#stateAt(id, offset);
        file = await open(this.#path(id), "r+");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new UploadGoneError("the upload's staged file is gone");
        throw error;
      }
      if (sink.destroyed) throw new UploadGoneError("the upload was removed while its file was opened");
      await pipeline(readable, sink);
    } finally {
      if (writing.delete(sink) && writing.size === 0) this.#writing.delete(id);
      // Whether the body ended, the client went away or a limit cut the stream: what was
      // written stays, and the running hash covers exactly that much.
      await inFlight.catch(() => undefined);
      await file?.close();
    }
    return position;
  }

  /**
   * The SHA-256 (hex) of the upload's `size` bytes, once they are all written; forgets the
   * running hash.
   */
  async digest(id: string, size: number): Promise<string> {
    const state = await this.#stateAt(id, size);
    this.#hashes.delete(id);
    return state.hash.digest("hex");
  }

  /** Where the upload's bytes are staged. */
  stagedPath(id: string): string {
    return this.#path(id);
  }

  /** Bytes staged so far, or null when the upload is not staged here. */
  async stagedSize(id: string): Promise<number | null> {
    try {
      return (await stat(this.#path(id))).size;
    } catch {
      return null;
    }
  }

  /**
   * The upload's bytes were moved into the blob store: until `release`, tus still sees it
   * as complete (it reads the upload once more to answer the request that finished it).
   */
  moved(upload: Upload): void {
    this.#hashes.delete(upload.id);
    this.#moved.set(upload.id, new Upload({ ...upload, offset: upload.size! }));
  }

  /** Forgets a moved upload's tus record, once the request that finished it is answered. */
  async release(id: string): Promise<void> {
    if (!this.#moved.delete(id)) return;
    await this.configstore.delete(id);
  }

  override async getUpload(id: string): Promise<Upload> {
    return this.#moved.get(id) ?? super.getUpload(id);
  }

  /**
   * Removes the staged bytes, and stops any write into them in progress (answered 404): bytes
   * written into a removed file would count against nobody's quota while they take space.
   */
  override async remove(id: string): Promise<void> {
    this.#hashes.delete(id);
    for (const sink of this.#writing.get(id) ?? []) sink.destroy(new UploadGoneError("the upload was removed while its bytes arrived"));
    await super.remove(id);
  }

  async #stateAt(id: string, offset: number): Promise<HashState> {
    const known = this.#hashes.get(id);
    if (known && known.offset === offset) return known;
    const state = { hash: createHash("sha256"), offset };
    if (offset > 0) {
      for await (const chunk of createReadStream(this.#path(id), { start: 0, end: offset - 1 })) state.hash.update(chunk as Buffer);
    }
    this.#hashes.set(id, state);
    return state;
  }

  #path(id: string): string {
    return (this as unknown as { resolve(id: string): string }).resolve(id);
  }
}

/** Writes every byte of `chunks` at `position`, going on after a short write. */
async function writeFully(file: FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let buffers = chunks;
  let at = position;
  while (buffers.length > 0) {
    const { bytesWritten } = await file.writev(buffers, at);
    at += bytesWritten;
    buffers = skipBytes(buffers, bytesWritten);
  }
}

/** `buffers` without their first `count` bytes. */
function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  let left = count;
  let index = 0;
  while (index < buffers.length && left >= buffers[index]!.length) left -= buffers[index++]!.length;
  const rest = buffers.slice(index);
  if (left > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}
