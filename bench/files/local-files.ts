/**
 * The files part's bytes on this machine's disk: generated test files (never held whole in
 * memory, never committed: they live in a temporary directory removed at the end, see
 * harness/lifecycle.ts), their hashes, and the floor, the same bytes piped from one local
 * file to another in Node.
 */
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

const MIB = 2 ** 20;

/**
 * Writes `size` bytes that look random (AES-CTR keystream under a fresh key: unique content,
 * so the server's one-copy-per-content never skips a write, and far cheaper than
 * randomBytes), 1 MiB at a time; returns their SHA-256.
 */
export async function generateFile(path: string, size: number): Promise<string> {
  const cipher = createCipheriv("aes-128-ctr", randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(MIB);
  const hash = createHash("sha256");
  async function* chunks() {
    for (let left = size; left > 0; left -= MIB) {
      const chunk = cipher.update(left >= MIB ? zeros : zeros.subarray(0, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  await pipeline(Readable.from(chunks()), createWriteStream(path));
  await syncFile(path);
  return hash.digest("hex");
}

/** The SHA-256 of a file, streamed. */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

export interface FloorResult {
  bytes: number;
  /** `pipeline(createReadStream, createWriteStream)`, default buffers. */
  seconds: number;
  mbPerSecond: number;
  /** CPU time of the pipe (this process: its main thread and libuv's threads), seconds. */
  cpuSeconds: number;
  /** And the fsync after it: what it takes to have the copy on disk, as the server's store does before a blob is visible. */
  withFsyncSeconds: number;
  withFsyncMbPerSecond: number;
}

/**
 * The floor: `source` piped into a new file in `directory` by Node's own streams, then fsynced
 * (timed apart) and removed, so its dirty pages are not written back during what follows.
 */
export async function measureFloor(source: string, size: number, directory: string): Promise<FloorResult> {
  const target = join(directory, `floor-${randomBytes(4).toString("hex")}`);
  try {
    const started = performance.now();
    const cpu = process.cpuUsage();
    await pipeline(createReadStream(source), createWriteStream(target));
    const piped = performance.now();
    const { user, system } = process.cpuUsage(cpu);
    await syncFile(target);
    const synced = performance.now();
    const seconds = (piped - started) / 1000;
    const withFsyncSeconds = (synced - started) / 1000;
    return {
      bytes: size,
      seconds,
      mbPerSecond: mbPerSecond(size, seconds),
      cpuSeconds: (user + system) / 1e6,
      withFsyncSeconds,
      withFsyncMbPerSecond: mbPerSecond(size, withFsyncSeconds),
    };
  } finally {
    await rm(target, { force: true });
  }
}

/** Megabytes (10^6 bytes) per second. */
export const mbPerSecond = (bytes: number, seconds: number) => bytes / 1e6 / seconds;

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
