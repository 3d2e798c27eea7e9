import { Readable } from "node:stream";
import { crc32, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { zipVersion } from "../src/files/archive.js";
import type { BlobStore } from "../src/storage/blob-store.js";

/**
 * ZIP64 past 4 GiB: the archive writer itself (src/files/archive.ts), fed by a store that makes
 * a 4 GiB + 1 MiB file up as it is read (one MiB block, repeated), then a small file whose
 * place in the archive is past 4 GiB. Only the archive's last MiB is kept, and its end records
 * are read as an unzipper does. Not through HTTP: a version of more than 4 GiB would have to be
 * uploaded first, minutes of the test run; the route adds nothing to what this checks (the route
 * is tests/archive.test.ts). Run once, in the embedded database's run: no database takes part.
 */

const MIB = 1024 * 1024;
const HUGE = 4096 * MIB + MIB;
const SMALL = Buffer.from("the file after four gibibytes\n");
const SHA = { huge: "a".repeat(64), small: "b".repeat(64) };

/** A store holding the two made-up contents. */
function madeUpStore(): BlobStore {
  const block = Buffer.alloc(MIB, 0x5a);
  return {
    read: async (sha256: string) =>
      sha256 === SHA.small
        ? Readable.from([SMALL], { objectMode: false })
        : Readable.from(
            (function* () {
              for (let offset = 0; offset < HUGE; offset += MIB) yield block;
            })(),
            { objectMode: false },
          ),
  } as unknown as BlobStore;
}

describe.runIf(!process.env.TEST_DATABASE_URL)("archives past 4 GiB", () => {
  it("writes ZIP64 records for an entry's size and for offsets past 4 GiB", async () => {
    const entries = [
      { path: "huge.gz", sha256: SHA.huge, size: HUGE, contentType: "application/gzip" },
      { path: "after.txt", sha256: SHA.small, size: SMALL.length, contentType: "text/plain" },
    ];
    const archive = zipVersion(madeUpStore(), entries, new Date("2026-01-02T03:04:05Z"), () => {});
    let total = 0;
    let kept: Buffer[] = [];
    let keptBytes = 0;
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      total += chunk.length;
      kept.push(chunk);
      keptBytes += chunk.length;
      while (keptBytes - kept[0]!.length >= MIB) keptBytes -= kept.shift()!.length;
    }
    const tail = Buffer.concat(kept);
    kept = [];
    const at = (offset: number) => offset - (total - tail.length); // an archive offset, in the tail
    expect(total).toBeGreaterThan(HUGE);

    // End of central directory: its 32-bit offset says "see ZIP64".
    const eocd = tail.length - 22;
    expect(tail.readUInt32LE(eocd)).toBe(0x06054b50);
    expect(tail.readUInt32LE(eocd + 16)).toBe(0xffffffff);
    // The ZIP64 locator, then the ZIP64 end record with the real offset and the entry count.
    const locator = eocd - 20;
    expect(tail.readUInt32LE(locator)).toBe(0x07064b50);
    const record = at(Number(tail.readBigUInt64LE(locator + 8)));
    expect(tail.readUInt32LE(record)).toBe(0x06064b50);
    expect(Number(tail.readBigUInt64LE(record + 32))).toBe(2);
    const directory = Number(tail.readBigUInt64LE(record + 48));
    expect(directory).toBeGreaterThan(2 ** 32);

    // Each central directory record, its ZIP64 extra field (0x0001) read where the 32-bit fields say 0xffffffff.
    const listed: Record<string, { size: number; compressed: number; offset: number; crc: number; method: number }> = {};
    let cursor = at(directory);
    for (let index = 0; index < 2; index += 1) {
      expect(tail.readUInt32LE(cursor)).toBe(0x02014b50);
      const nameLength = tail.readUInt16LE(cursor + 28);
      const extraLength = tail.readUInt16LE(cursor + 30);
      const commentLength = tail.readUInt16LE(cursor + 32);
      const name = tail.toString("utf8", cursor + 46, cursor + 46 + nameLength);
      let size = tail.readUInt32LE(cursor + 24);
      let compressed = tail.readUInt32LE(cursor + 20);
      let offset = tail.readUInt32LE(cursor + 42);
      for (let extra = cursor + 46 + nameLength; extra < cursor + 46 + nameLength + extraLength; extra += 4 + tail.readUInt16LE(extra + 2)) {
        if (tail.readUInt16LE(extra) !== 0x0001) continue;
        let field = extra + 4;
        for (const take of ["size", "compressed", "offset"] as const) {
          const value = take === "size" ? size : take === "compressed" ? compressed : offset;
          if (value !== 0xffffffff) continue;
          const wide = Number(tail.readBigUInt64LE(field));
          field += 8;
          if (take === "size") size = wide;
          else if (take === "compressed") compressed = wide;
          else offset = wide;
        }
      }
      listed[name] = { size, compressed, offset, crc: tail.readUInt32LE(cursor + 16), method: tail.readUInt16LE(cursor + 10) };
      cursor += 46 + nameLength + extraLength + commentLength;
    }
    // Stored, as a .gz is: as many bytes in the archive as in the file.
    expect(listed["huge.gz"]).toMatchObject({ size: HUGE, compressed: HUGE, offset: 0, method: 0 });
    // The small file starts past 4 GiB; its bytes are there, and its CRC is theirs.
    const small = listed["after.txt"]!;
    expect(small.offset).toBeGreaterThan(2 ** 32);
    expect(small.crc).toBe(crc32(SMALL));
    const local = at(small.offset);
    expect(tail.readUInt32LE(local)).toBe(0x04034b50);
    const data = local + 30 + tail.readUInt16LE(local + 26) + tail.readUInt16LE(local + 28);
    // Deflated, as text is.
    expect(small.method).toBe(8);
    expect(inflateRawSync(tail.subarray(data, data + small.compressed))).toEqual(SMALL);
  }, 240_000);
});
