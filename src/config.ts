import { z } from "zod";

/**
 * Everything the server reads from its environment, validated once at start-up.
 * This is the only module that reads `process.env`; everything else takes a `Config`.
 */
export interface Config {
  readonly production: boolean;
  readonly host: string;
  readonly port: number;
  /** PostgreSQL connection string; `undefined` means embedded PGlite in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  /** HS256 secret from `JWT_SECRET`; `undefined` in development means "generate one into dataDir". */
  readonly jwtSecret: string | undefined;
  readonly corsOrigins: readonly string[];
  readonly logLevel: string;
  readonly trustProxy: boolean;
  readonly bcryptCost: number;
  readonly accessTokenTtlSeconds: number;
  /** Report each response's SQL statement count in the `x-sql-statements` header (tests, benchmarks). */
  readonly exposeStatementCount: boolean;
}

/** A configuration problem, said in one line that names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Chosen from measurement on the 2-core reference machine; see README "Configuration". */
export const DEFAULT_BCRYPT_COST = 12;

const DEV_CORS_ORIGINS = [
  "http://localhost:3000",
  "http://localhost:4000",
  "http://localhost:5173",
  "http://127.0.0.1:3000",
  "http://127.0.0.1:4000",
  "http://127.0.0.1:5173",
];

const boolean = z
  .enum(["1", "0", "true", "false", "yes", "no", "on", "off"], {
    error: "expected one of true/false, 1/0, yes/no, on/off",
  })
  .transform((value) => ["1", "true", "yes", "on"].includes(value));

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: `expected a whole number from ${min} to ${max}` })
    .transform(Number)
    .refine((value) => value >= min && value <= max, {
      error: `expected a whole number from ${min} to ${max}`,
    });

const environment = z.object({
  NODE_ENV: z.enum(["development", "production", "test"], {
    error: "expected development, production or test",
  }).default("development"),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: integer(0, 65535).default(4000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, { error: "expected a postgres:// or postgresql:// connection string" })
    .optional(),
  DATA_DIR: z.string().min(1).default(".data"),
  JWT_SECRET: z
    .string()
    .refine((value) => Buffer.byteLength(value, "utf8") >= 32, { error: "expected at least 32 bytes" })
    .optional(),
  CORS_ORIGINS: z.string().optional(),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "expected fatal, error, warn, info, debug, trace or silent",
    })
    .default("info"),
  TRUST_PROXY: boolean.default(false),
  BCRYPT_COST: integer(4, 15).optional(),
  ACCESS_TOKEN_TTL: integer(60, 86400).default(900),
  EXPOSE_STATEMENT_COUNT: boolean.optional(),
});

/**
 * Builds the frozen configuration from an environment (default `process.env`).
 * Throws `ConfigError` with one line such as `JWT_SECRET: expected at least 32 bytes`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = environment.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${issue.path.join(".")}: ${issue.message}`);
  }
  const values = parsed.data;
  const production = values.NODE_ENV === "production";

  if (production) {
    if (!values.DATABASE_URL) {
      throw new ConfigError("DATABASE_URL: required in production (the embedded database is for development)");
    }
    if (!values.JWT_SECRET) {
      throw new ConfigError("JWT_SECRET: required in production, at least 32 bytes");
    }
    if (values.BCRYPT_COST !== undefined && values.BCRYPT_COST < 10) {
      throw new ConfigError("BCRYPT_COST: expected at least 10 in production");
    }
  }

  const corsOrigins = values.CORS_ORIGINS
    ? values.CORS_ORIGINS.split(",").map((origin) => origin.trim()).filter(Boolean)
    : production
      ? []
      : DEV_CORS_ORIGINS;

  return Object.freeze({
    production,
    host: values.HOST,
    port: values.PORT,
    databaseUrl: values.DATABASE_URL,
    dataDir: values.DATA_DIR,
    jwtSecret: values.JWT_SECRET,
    corsOrigins: Object.freeze(corsOrigins),
    logLevel: values.LOG_LEVEL,
    trustProxy: values.TRUST_PROXY,
    bcryptCost: values.BCRYPT_COST ?? DEFAULT_BCRYPT_COST,
    accessTokenTtlSeconds: values.ACCESS_TOKEN_TTL,
    exposeStatementCount: values.EXPOSE_STATEMENT_COUNT ?? !production,
  });
}
