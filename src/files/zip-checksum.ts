import { createRequire } from "node:module";
import { crc32 } from "node:zlib";

/**
 * yazl computes each entry's CRC-32 with buffer-crc32, a loop over every byte in JavaScript:
 * about 55 MB/s on this machine, on the event loop. That made it the archive's speed limit and
 * cost the event loop a millisecond per 64 KiB chunk. Node's own `zlib.crc32` (native, Node
 * 20.15 and 22.2 on; the engines we support) gives the same value about 14 times faster. yazl
 * looks `unsigned` up on the module at each call, so pointing it at zlib speeds up every
 * archive; anything else the function is given (not a Buffer and a number) goes to the
 * original. tests/archive.test.ts checks each entry's CRC against zlib's.
 */
export function nativeZipChecksums(): void {
  const requireFromYazl = createRequire(createRequire(import.meta.url).resolve("yazl"));
  const module = requireFromYazl("buffer-crc32") as { unsigned: ((data: unknown, previous?: unknown) => number) & { native?: true } };
  if (module.unsigned.native) return;
  const original = module.unsigned;
  const native = (data: unknown, previous?: unknown) =>
    Buffer.isBuffer(data) && (previous === undefined || typeof previous === "number") ? crc32(data, (previous ?? 0) >>> 0) : original(data, previous);
  module.unsigned = Object.assign(native, { native: true as const });
}
