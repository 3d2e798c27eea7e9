/**
 * Everything the benchmark starts is registered here and torn down once, in reverse order:
 * at the end, on an error, and on Ctrl-C / SIGTERM (load generators first, then child
 * processes, then the throw-away schema and temporary directories).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Cleanup = { label: string; run: () => Promise<void> | void };

const cleanups: Cleanup[] = [];
let tearingDown: Promise<void> | null = null;

/** Registers `run`; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(label: string, run: () => Promise<void> | void): () => Promise<void> {
  const entry: Cleanup = { label, run };
  cleanups.push(entry);
  return async () => {
    const index = cleanups.indexOf(entry);
    if (index < 0) return;
    cleanups.splice(index, 1);
    await entry.run();
  };
}

/** Runs every registered clean-up, newest first; failures are reported, not thrown. */
export function tearDown(): Promise<void> {
  tearingDown ??= (async () => {
    while (cleanups.length > 0) {
      const entry = cleanups.pop()!;
      try {
        await entry.run();
      } catch (error) {
        process.stderr.write(`bench: clean-up "${entry.label}" failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  })();
  return tearingDown;
}

/** Ctrl-C and SIGTERM tear everything down and exit 130. */
export function installSignalHandlers(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping and cleaning up\n`);
      void tearDown().finally(() => process.exit(130));
    });
  }
}

export function log(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A directory under the system's temporary directory, removed with everything in it at the end. */
export async function temporaryDirectory(prefix: string): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(`remove ${path}`, async () => {
    await rm(path, { recursive: true, force: true });
    log(`removed ${path}`);
  });
  return path;
}
