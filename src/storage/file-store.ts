import { randomUUID } from "node:crypto";
import { copyFile, constants, mkdir, open, readdir, rename, rm, stat, lstat } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { assertRange, assertSha256, isSha256, type BlobStore, type ByteRange } from "./blob-store.js";
import { BlobNotFoundError, ChecksumMismatchError } from "./errors.js";
import { HashingCounter } from "./hashing.js";

/** Options of {@link FileBlobStore.open}. */
export interface FileBlobStoreOptions {
  /** The clock that ages temporary writes for `sweepTemporary` (milliseconds since the epoch). */
  now?: () => number;
}

const TEMPORARY_DIRECTORY = ".tmp";
const FAN_OUT = /^[0-9a-f]{2}$/;

/**
 * Blobs as files: `<root>/<sha[0:2]>/<sha[2:4]>/<sha>` (two levels of 256 directories keep each
 * directory small at millions of blobs). Writes go to `<root>/.tmp/` on the same filesystem,
 * are fsynced, then renamed into place: a rename is atomic, so an address shows nothing or the
 * whole file, even across a crash. Bytes are only ever streamed, never held whole in memory.
 */
export class FileBlobStore implements BlobStore {
  readonly description: string;
  private readonly temporaryRoot: string;
  private readonly now: () => number;

  private constructor(
    private readonly root: string,
    options: FileBlobStoreOptions,
  ) {
    this.description = pathToFileURL(root).href;
    this.temporaryRoot = join(root, TEMPORARY_DIRECTORY);
    this.now = options.now ?? Date.now;
  }

  /** Opens (creating if needed) the store at the absolute directory `root`. */
  static async open(root: string, options: FileBlobStoreOptions = {}): Promise<FileBlobStore> {
    if (!isAbsolute(root)) throw new Error(`file storage root must be an absolute path, got "${root}"`);
    const store = new FileBlobStore(resolve(root), options);
    await mkdir(store.temporaryRoot, { recursive: true });
    return store;
  }

  async putFile(sha256: string, localPath: string, size: number): Promise<void> {
    assertSha256(sha256);
    const local = await stat(localPath);
    if (!local.isFile()) throw new Error(`putFile: ${localPath} is not a regular file`);
    if (local.size !== size) throw new Error(`putFile: ${localPath} holds ${local.size} bytes, not ${size}`);
    const target = this.objectPath(sha256);
    // Also when the address holds the content already: the rename replaces it, atomically, by
    // the same bytes (a reader keeps the file it opened). Skipping would make finishing an
    // upload faster exactly when someone else holds its content, which would tell them so.
    // The bytes must be on disk before the name is: otherwise a crash right after the rename
    // can leave the address naming an empty or partial file.
    await syncFile(localPath);
    const created = await mkdir(dirname(target), { recursive: true });
    try {
      await rename(localPath, target);
    } catch (error) {
      if (errorCode(error) !== "EXDEV") throw error;
      // Another filesystem: rename cannot cross it, so copy into our own temporary place (the
      // kernel copies; nothing is read into memory), make that durable, then rename it in.
      const temporary = this.temporaryPath();
      try {
        await copyFile(localPath, temporary, constants.COPYFILE_EXCL);
        await syncFile(temporary);
        await rename(temporary, target);
      } catch (copyError) {
        await rm(temporary, { force: true });
        throw copyError;
      }
      await syncDirectories(dirname(target), created);
      await rm(localPath, { force: true });
      return;
    }
    await syncDirectories(dirname(target), created);
  }

  async put(body: NodeJS.ReadableStream, options: { expectedSha256?: string; maxBytes?: number } = {}): Promise<{ sha256: string; size: number }> {
    const { expectedSha256, maxBytes } = options;
    if (expectedSha256 !== undefined) assertSha256(expectedSha256);
    const hasher = new HashingCounter(maxBytes);
    const temporary = this.temporaryPath();
    try {
      const handle = await open(temporary, "wx");
      // autoClose off: the handle is fsynced and closed here, whether the pipeline failed or not.
      const file = handle.createWriteStream({ autoClose: false });
      try {
        await pipeline(body, hasher, file);
        await handle.sync();
      } finally {
        // The stream holds a reference on the handle until it is destroyed; close() waits for it.
        file.destroy();
        await handle.close();
      }
      const sha256 = hasher.digest();
      if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
        throw new ChecksumMismatchError(expectedSha256, sha256);
      }
      await this.publish(temporary, sha256);
      return { sha256, size: hasher.byteCount };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async stat(sha256: string): Promise<{ size: number } | null> {
    assertSha256(sha256);
    try {
      return { size: (await stat(this.objectPath(sha256))).size };
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null;
      throw error;
    }
  }

  async read(sha256: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    assertSha256(sha256);
    if (range) assertRange(range);
    // Open first, so that "absent" is decided once, without a gap between a check and the read.
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.objectPath(sha256), "r");
    } catch (error) {
      if (errorCode(error) === "ENOENT") throw new BlobNotFoundError(sha256);
      throw error;
    }
    // autoClose (the default): the handle is closed when the stream ends or is destroyed.
    // 1 MiB reads, not the 64 KiB default: a download costs the server a third of the CPU (docs/speed.md).
    return handle.createReadStream({ highWaterMark: 2 ** 20, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async delete(sha256: string): Promise<void> {
    assertSha256(sha256);
    // The fan-out directories stay: removing an empty one would race with a concurrent
    // putFile into it (mkdir, then rename into a directory that just vanished).
    await rm(this.objectPath(sha256), { force: true });
  }

  async *list(): AsyncIterable<string> {
    for (const first of await directoryNames(this.root, FAN_OUT)) {
      for (const second of await directoryNames(join(this.root, first), FAN_OUT)) {
        const entries = await readdir(join(this.root, first, second), { withFileTypes: true }).catch(absentAsEmpty);
        for (const entry of entries) {
          if (entry.isFile() && isSha256(entry.name) && entry.name.startsWith(first + second)) yield entry.name;
        }
      }
    }
  }

  async sweepTemporary(olderThanMs: number): Promise<number> {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    for (const name of await readdir(this.temporaryRoot).catch(absentAsEmpty)) {
      const path = join(this.temporaryRoot, name);
      // A write in progress keeps touching its file, so its mtime stays recent.
      const info = await lstat(path).catch(() => null);
      if (info === null || info.mtimeMs >= cutoff) continue;
      await rm(path, { force: true, recursive: true });
      removed += 1;
    }
    return removed;
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }

  localPath(sha256: string): string {
    assertSha256(sha256);
    return this.objectPath(sha256);
  }

  private objectPath(sha256: string): string {
    return join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  private temporaryPath(): string {
    return join(this.temporaryRoot, randomUUID());
  }

  /** Renames a complete, fsynced temporary file to its address, or drops it when the address is taken. */
  private async publish(temporary: string, sha256: string): Promise<void> {
    const target = this.objectPath(sha256);
    if (await exists(target)) {
      await rm(temporary, { force: true });
      return;
    }
    const created = await mkdir(dirname(target), { recursive: true });
    // Should another writer publish the same content in between, rename replaces its file with
    // identical bytes, atomically: a reader holding the old file keeps reading it.
    await rename(temporary, target);
    await syncDirectories(dirname(target), created);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (errorCode(error) === "ENOENT") return false;
    throw error;
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Makes the rename into `leaf` durable by fsyncing the directory that holds the new name, and
 * the parents of directories `mkdir` just created (`created`: the topmost one, or undefined).
 */
async function syncDirectories(leaf: string, created: string | undefined): Promise<void> {
  const directories = [leaf];
  if (created !== undefined) {
    const top = dirname(created);
    for (let directory = leaf; directory !== top && directory !== dirname(directory); ) {
      directory = dirname(directory);
      directories.push(directory);
    }
  }
  for (const directory of directories) await syncDirectory(directory);
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } catch (error) {
    // Some platforms cannot fsync a directory (Windows); there the rename is all we can do.
    if (!["EISDIR", "EPERM", "EINVAL", "EBADF"].includes(errorCode(error) ?? "")) throw error;
  } finally {
    await handle.close();
  }
}

async function directoryNames(path: string, pattern: RegExp): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch(absentAsEmpty);
  return entries.filter((entry) => entry.isDirectory() && pattern.test(entry.name)).map((entry) => entry.name);
}

function absentAsEmpty(error: unknown): never[] {
  if (errorCode(error) === "ENOENT") return [];
  throw error;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}
