import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The embedded database belongs to one process at a time: two PGlite engines on one
 * folder would corrupt it. The holder writes its pid into `DATA_DIR/server.pid`; a pid
 * whose process is gone is stale and taken over.
 */
export class DataDirBusyError extends Error {
  override name = "DataDirBusyError";
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the folder for this process, or throws `DataDirBusyError` naming the holder. Returns
 * the release. `openPglite` takes it: every opener of the embedded database goes through it.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, "server.pid");
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: "wx" });
      return async () => {
        await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number.parseInt(await readFile(file, "utf8").catch(() => ""), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new DataDirBusyError(
          `The embedded database in ${dataDir} is in use by process ${holder} (a running server?). ` +
            "Stop it first, then try again; or set DATABASE_URL to use PostgreSQL, which allows several processes at once.",
        );
      }
      await rm(file, { force: true });
    }
  }
  throw new DataDirBusyError(`Could not lock ${dataDir}: another process keeps taking it`);
}
