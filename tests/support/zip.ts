import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import yauzl from "yauzl";

/** An entry of a ZIP as an unzipper reads it: its name, how it was stored, and its bytes' SHA-256. */
export interface UnzippedEntry {
  name: string;
  /** 0: stored, 8: deflated. */
  method: number;
  size: number;
  sha256: string;
  /** Whether the CRC-32 the archive lists is the bytes' (zlib's). */
  crcMatches: boolean;
}

/** Every entry of the ZIP in `bytes`, read through its central directory and inflated (yauzl checks each size). */
export function unzip(bytes: Buffer): Promise<UnzippedEntry[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true }, (error, zip) => {
      if (error || !zip) return reject(error);
      const entries: UnzippedEntry[] = [];
      zip.on("error", reject);
      zip.on("end", () => resolve(entries));
      zip.on("entry", (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (openError, stream) => {
          if (openError || !stream) return reject(openError);
          const hash = createHash("sha256");
          let size = 0;
          let crc = 0;
          stream.on("data", (chunk: Buffer) => {
            hash.update(chunk);
            crc = crc32(chunk, crc);
            size += chunk.length;
          });
          stream.on("error", reject);
          stream.on("end", () => {
            entries.push({
              name: entry.fileName,
              method: entry.compressionMethod,
              size,
              sha256: hash.digest("hex"),
              crcMatches: crc === entry.crc32,
            });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}
