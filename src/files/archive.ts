import { pipeline, type Readable, Transform } from "node:stream";
import { ZipFile } from "yazl";
import type { BlobStore } from "../storage/blob-store.js";
import { storedInArchive } from "./archive-compression.js";
import { nativeZipChecksums } from "./zip-checksum.js";

nativeZipChecksums();

/** A file as an archive takes it: where it goes, which content, how many bytes the manifest says. */
export interface ArchiveEntry {
  path: string;
  sha256: string;
  size: number;
  contentType: string;
}

/**
 * A version's files as one ZIP (yazl), written as it is read: one stored file open at a time,
 * each piped through yazl's CRC and (where it helps) deflate into the returned stream, which
 * holds back the reading while whoever consumes it is slow. Nothing is kept whole: memory is
 * a few stream buffers whatever the archive's size. yazl writes ZIP64 records for whatever
 * passes 4 GiB (an entry, or an offset), from the sizes it counts as the bytes pass.
 *
 * Never a file left out: a read that fails (an absent object, a storage error half way), or
 * a content whose byte count is not the manifest's (yazl checks `size`), destroys the
 * returned stream with the error before the archive's end, so whoever sends it breaks the
 * transfer instead of finishing a truncated archive. When the consumer goes away first (the
 * client hung up), the read in progress is stopped and no further file is opened.
 *
 * `mtime`: every entry's time (the version's): the same version gives the same entries.
 */
export function zipVersion(store: BlobStore, entries: readonly ArchiveEntry[], mtime: Date, counted: (bytes: number) => void): Readable {
  const zip = new ZipFile();
  let reading: (NodeJS.ReadableStream & { destroy?: (error?: Error) => void }) | null = null;
  let stopped = false;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counted(chunk.length);
      callback(null, chunk);
    },
  });
  const stop = (error: Error | null | undefined) => {
    if (stopped) return;
    stopped = true;
    reading?.destroy?.();
    if (error) out.destroy(error);
  };
  // yazl reports a failed read, or a byte count other than `size`, here.
  zip.on("error", stop);
  for (const entry of entries) {
    zip.addReadStreamLazy(
      entry.path,
      { size: entry.size, mtime, mode: 0o100644, compress: !storedInArchive(entry.path, entry.contentType) },
      (callback) => {
        if (stopped) return;
        store.read(entry.sha256).then((body) => {
          if (stopped) return (body as Readable).destroy?.();
          reading = body;
          // yazl pipes the body, and pipe() does not pass on a source's error: caught here.
          body.once("error", stop);
          callback(null, body);
        }, stop);
      },
    );
  }
  zip.end();
  // pipeline, not pipe: the consumer's going away (or `out` destroyed by `stop`) stops yazl's side too.
  pipeline(zip.outputStream, out, (error) => stop(error ?? null));
  return out;
}
