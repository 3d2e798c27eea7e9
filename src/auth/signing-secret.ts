import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config.js";

/**
 * The HS256 secret: `JWT_SECRET` when set (always in production); otherwise a development
 * secret generated once into `DATA_DIR`, so tokens survive a restart.
 */
export async function resolveSigningSecret(config: Config, logger: Logger): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret;
  const file = join(config.dataDir, "jwt-secret");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(config.dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  // "wx": if another process wrote it first, fail rather than overwrite its secret.
  await writeFile(file, secret + "\n", { mode: 0o600, flag: "wx" });
  logger.warn({ file }, "JWT_SECRET is not set: generated a development signing secret");
  return secret;
}
