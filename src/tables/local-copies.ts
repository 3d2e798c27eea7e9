import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { BlobStore } from "../storage/blob-store.js";

/**
 * Where a table reader finds a table's columnar copy as a local file. The filesystem store
 * has it in place. With S3, DuckDB would need its httpfs extension (a download we never
 * allow) or a file: the copy is fetched once into `directory` (a temporary name, renamed
 * when whole, so a reader never sees part of it), and reused by every later query on this
 * instance; the sweep (copies.ts) removes it with the copy. Fetches of one copy at once
 * share one download.
 */
export class LocalCopies {
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(
    private readonly store: BlobStore,
    private readonly directory: string,
  ) {}

  /** A local file holding the copy at `key`. Rejects as the store does (BlobNotFoundError, a network error). */
  async path(key: string): Promise<string> {
    const inPlace = this.store.localPath?.(key);
    if (inPlace) return inPlace;
    const cached = this.cachePath(key);
    if (
      await stat(cached).then(
        () => true,
        () => false,
      )
    )
      return cached;
    let fetching = this.fetching.get(key);
    if (!fetching) {
      fetching = this.fetch(key, cached).finally(() => this.fetching.delete(key));
      this.fetching.set(key, fetching);
    }
    return fetching;
  }

  /** Removes this instance's local copy of `key`, if any. */
  async remove(key: string): Promise<void> {
    await rm(this.cachePath(key), { force: true });
  }

  private cachePath(key: string): string {
    return join(this.directory, `${key}.parquet`);
  }

  private async fetch(key: string, target: string): Promise<string> {
    await mkdir(this.directory, { recursive: true });
    const partial = join(this.directory, `${randomUUID()}.partial`);
    try {
      await pipeline(await this.store.read(key), createWriteStream(partial));
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return target;
  }
}
