import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { ConfigError, type Config } from "../config/config.js";

/**
 * The HS256 secret: `JWT_SECRET` when set (always in production); otherwise a development
 * secret generated once into `DATA_DIR`, so tokens survive a restart.
 */
export async function resolveSigningSecret(config: Config, logger: Logger): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret;
  // Production never makes up a secret: loadConfig refuses to start without one.
  if (config.production) throw new ConfigError("JWT_SECRET: required in production");
  const file = join(config.dataDir, "jwt-secret");
  try {
    const kept = (await readFile(file, "utf8")).trim();
    if (Buffer.byteLength(kept) >= 32) return kept;
    throw new ConfigError(`JWT_SECRET: the development secret in ${file} is shorter than 32 bytes; delete the file to make a new one`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(config.dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  // "wx": if another process wrote it first, fail rather than overwrite its secret.
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  logger.warn({ file }, "JWT_SECRET is not set: generated a development signing secret");
  return secret;
}
