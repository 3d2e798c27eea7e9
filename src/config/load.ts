import { type Resolved, readSettings } from "./parsers.js";
import { PRODUCTION, SETTINGS } from "./settings.js";

/**
 * The configuration read from the environment, validated once at start-up. This is the only
 * module that reads `process.env`; everything else takes a `Config`.
 */

/** A configuration problem: every one found, each naming its variable, said in one line. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    message: string,
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}

export type Config = Resolved<typeof SETTINGS>;
export type FilesConfig = Config["files"];
export type PreviewsConfig = Config["previews"];
export type TablesConfig = Config["tables"];
export type LimitsConfig = Config["limits"];
export type ConnectionsConfig = Config["connections"];
export type ThrottleConfig = Config["throttle"];
export type SubscriptionsConfig = Config["subscriptions"];
export type SigningKeyConfig = NonNullable<Config["signingKey"]>;

/**
 * Builds the frozen configuration from an environment (default `process.env`). Throws
 * `ConfigError` naming every problem, e.g. `PORT: expected a whole number from 0 to 65535;
 * JWT_SECRET: expected at least 32 bytes`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const { values, problems } = readSettings(SETTINGS, env, PRODUCTION);
  if (!values) throw new ConfigError(problems.join("; "), problems);
  return values;
}
