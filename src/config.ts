import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
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
  /** PostgreSQL: seconds to wait for a connection before a request fails with SERVICE_UNAVAILABLE. */
  readonly databaseConnectTimeoutSeconds: number;
  /** PostgreSQL: seconds one statement may go unanswered before its connection is dropped (not migrations). */
  readonly databaseQueryTimeoutSeconds: number;
  /**
   * PostgreSQL: `statement_timeout` of the pool's connections, in seconds (0: the server's
   * own setting). Under the query timeout, so that PostgreSQL cancels a slow statement and
   * the connection stays. Migrations have none.
   */
  readonly databaseStatementTimeoutSeconds: number;
  /**
   * PostgreSQL: where the one LISTEN connection goes (defaults to `databaseUrl`). Behind
   * pgbouncer in transaction pooling, LISTEN needs a direct connection to PostgreSQL.
   */
  readonly databaseListenUrl: string | undefined;
  /**
   * PostgreSQL: run the hot statements as named prepared statements (src/db/prepared.ts):
   * `auto` unless a probe at start finds a transaction pooler in between (src/db/pooler.ts),
   * `on`, or `off`.
   */
  readonly databasePreparedStatements: "auto" | "on" | "off";
  /** Signed-in viewers kept in memory between requests (0: read every request's viewer from the database). */
  readonly viewerCacheSize: number;
  readonly dataDir: string;
  /** HS256 secret from `JWT_SECRET`; `undefined` in development means "generate one into dataDir". */
  readonly jwtSecret: string | undefined;
  readonly corsOrigins: readonly string[];
  readonly logLevel: string;
  /**
   * Whose X-Forwarded-For to believe: false (nobody), true (any hop: only behind a proxy
   * that overwrites the header), a number of proxy hops, or the proxies' addresses/CIDRs.
   */
  readonly trustProxy: boolean | number | string[];
  readonly bcryptCost: number;
  readonly accessTokenTtlSeconds: number;
  /** Ed25519 signing (PEM); when set, tokens are EdDSA with a `kid` and HS256 is refused. */
  readonly signingKey: SigningKeyConfig | undefined;
  readonly refreshTokenTtlSeconds: number;
  /** A just-rotated refresh token used again within this many seconds gets the same successor. */
  readonly refreshReuseIntervalSeconds: number;
  /** Worker threads that run bcrypt off the event loop. */
  readonly hashWorkers: number;
  readonly throttle: ThrottleConfig;
  /** Report each response's SQL statement count in the `x-sql-statements` header (tests, benchmarks). */
  readonly exposeStatementCount: boolean;
  readonly limits: LimitsConfig;
  readonly connections: ConnectionsConfig;
  /**
   * Who may read `/metrics`: with `token`, only `Authorization: Bearer <token>`; with
   * `port`, only there (not on `port` of the API). In production one of the two is needed,
   * or the metrics are not served at all.
   */
  readonly metrics: { readonly token: string | undefined; readonly port: number | undefined };
  /**
   * `apq`: automatic persisted queries (any operation; a hash saves resending it).
   * `only`: trusted documents, only the operations in `persistedOperationsManifest`.
   * `off`: neither.
   */
  readonly persistedOperations: "apq" | "only" | "off";
  readonly persistedOperationsManifest: string;
  /** On SIGTERM, how long in-flight requests may take before the process exits anyway. */
  readonly shutdownTimeoutSeconds: number;
  /** Audit events older than this many days are deleted by the sweeper; 0 keeps them forever. */
  readonly auditRetentionDays: number;
  readonly files: FilesConfig;
}

/** Where file content goes and the limits on it. */
export interface FilesConfig {
  /** `file:///abs/path` or `s3://bucket/prefix`; default `file://<DATA_DIR>/files`. */
  storageUrl: string;
  s3: {
    endpoint?: string;
    region?: string;
    forcePathStyle?: boolean;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
  /** Where tus stages bytes in flight (a volume every instance shares, when uploads must resume anywhere). */
  uploadDir: string;
  maxFileSize: number;
  /** Bytes per user; each distinct content counted once. */
  storageQuota: number;
  uploadExpirySeconds: number;
  downloadUrlTtlSeconds: number;
  sweepIntervalSeconds: number;
}

/** What one request may ask for; everything over is refused before it executes. */
export interface LimitsConfig {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  /** Lexical tokens in one document (graphql-js stops parsing past it). */
  maxTokens: number;
  /** Objects one operation may fetch, page sizes multiplied in (see src/limits.ts). */
  maxCost: number;
  /**
   * Selections the cost analysis may visit for one operation (each fragment counted once
   * per page size it is spread under); a document that needs more is refused.
   */
  maxAnalysisNodes: number;
  /** Request body size in bytes. */
  bodyLimitBytes: number;
  /** SQL statements one HTTP request may run (a batch is one request). */
  maxStatements: number;
  /** Several operations in one HTTP request (a JSON array); off by default. */
  allowBatchedRequests: boolean;
  /** Operations in one batch, when batching is on. */
  maxBatchSize: number;
}

/** How long a request may take to arrive, and how many connections are held (see src/server.ts). */
export interface ConnectionsConfig {
  /**
   * Seconds a request's headers may take to arrive, and then its body; a slower one is
   * answered 408 and its connection closed. A route may allow its body more
   * (`config: { requestTimeout }` in its route options, 0 for no limit).
   */
  requestTimeoutSeconds: number;
  /** Seconds a connection may send and receive nothing (mid-request or mid-response) before it is closed. */
  idleTimeoutSeconds: number;
  /** Seconds an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutSeconds: number;
  /** Open connections in all; past it, new ones are closed at once. */
  maxConnections: number;
  /** Open connections from one client address (the peer: behind a proxy, the proxy). */
  maxConnectionsPerAddress: number;
}

/** An Ed25519 key pair for signing, and older public keys that still verify during a rotation. */
export interface SigningKeyConfig {
  privateKeyPem: string;
  previousPublicKeyPems: readonly string[];
}

/** Limits on guessing and flooding, counted in the database so all instances share them. */
export interface ThrottleConfig {
  /**
   * Failed logins for one account from one client address within `loginWindowSeconds`
   * before that address is refused for that account (the main limit: the account stays
   * open to everyone else).
   */
  loginMaxFailures: number;
  /** Failed logins from one client address, for any accounts, within the window before it is refused. */
  addressMaxFailures: number;
  loginWindowSeconds: number;
  /**
   * Failed logins for one account from all addresses within `accountWindowSeconds`
   * before even its right password is refused: the hard cap on guessing one account
   * from many addresses (NIST SP 800-63B: at most 100 consecutive failures).
   */
  accountMaxFailures: number;
  accountWindowSeconds: number;
  /** Registrations from one client address per hour. */
  registerPerAddressPerHour: number;
  /** Session refreshes from one client address per minute. */
  refreshPerAddressPerMinute: number;
  /** Mutations by one signed-in user per minute (src/write-limit.ts). */
  writesPerUserPerMinute: number;
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

const GIB = 1024 ** 3;
const UNITS: Record<string, number> = { "": 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB, TIB: 1024 ** 4 };

/** A size in bytes: a whole number with an optional unit (`5GiB`, `500MB`, `1048576`). */
const bytes = z.string().transform((value, context) => {
  const match = /^(\d+)\s*([KMGT]i?B|B)?$/i.exec(value.trim());
  const size = match ? Number(match[1]) * UNITS[(match[2] ?? "").toUpperCase()]! : Number.NaN;
  if (!Number.isSafeInteger(size) || size < 1) {
    context.addIssue({ code: "custom", message: "expected a size in bytes such as 1048576, 500MB or 5GiB" });
    return z.NEVER;
  }
  return size;
});

const environment = z.object({
  NODE_ENV: z
    .enum(["development", "production", "test"], {
      error: "expected development, production or test",
    })
    .default("development"),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: integer(0, 65535).default(4000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, { error: "expected a postgres:// or postgresql:// connection string" })
    .optional(),
  DATABASE_LISTEN_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, { error: "expected a postgres:// or postgresql:// connection string" })
    .optional(),
  DATABASE_PREPARED_STATEMENTS: z.enum(["auto", "on", "off"], { error: "expected auto, on or off" }).default("auto"),
  VIEWER_CACHE_SIZE: integer(0, 1_000_000).default(10_000),
  DATABASE_CONNECT_TIMEOUT: integer(1, 300).default(5),
  DATABASE_QUERY_TIMEOUT: integer(1, 3600).default(10),
  DATABASE_STATEMENT_TIMEOUT: integer(0, 3600).optional(),
  DATA_DIR: z.string().min(1).default(".data"),
  JWT_SECRET: z
    .string()
    .refine((value) => Buffer.byteLength(value, "utf8") >= 32, { error: "expected at least 32 bytes" })
    .optional(),
  CORS_ORIGINS: z
    .string()
    .refine((value) => value.split(",").every((origin) => /^https?:\/\/[^/\s,]+$/.test(origin.trim())), {
      error: "expected comma-separated origins such as https://app.example.com (scheme and host, no path)",
    })
    .optional(),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "expected fatal, error, warn, info, debug, trace or silent",
    })
    .default("info"),
  TRUST_PROXY: z
    .string()
    .transform((value, context) => {
      const word = value.toLowerCase();
      if (["1", "true", "yes", "on"].includes(word)) return true;
      if (["0", "false", "no", "off"].includes(word)) return false;
      if (/^\d+$/.test(value)) return Number(value);
      const addresses = value.split(",").map((entry) => entry.trim());
      if (addresses.every((entry) => /^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(entry))) return addresses;
      context.addIssue({ code: "custom", message: "expected true/false, a number of proxy hops, or comma-separated proxy addresses/CIDRs" });
      return z.NEVER;
    })
    .default(false),
  BCRYPT_COST: integer(4, 15).optional(),
  ACCESS_TOKEN_TTL: integer(60, 86400).default(900),
  EXPOSE_STATEMENT_COUNT: boolean.optional(),
  JWT_PRIVATE_KEY: z.string().optional(),
  JWT_PRIVATE_KEY_FILE: z.string().optional(),
  JWT_PREVIOUS_PUBLIC_KEY: z.string().optional(),
  JWT_PREVIOUS_PUBLIC_KEY_FILE: z.string().optional(),
  REFRESH_TOKEN_TTL: integer(3600, 31_536_000).default(30 * 86400),
  REFRESH_REUSE_INTERVAL: integer(0, 300).default(10),
  HASH_WORKERS: integer(1, 64).default(Math.max(1, availableParallelism() - 1)),
  LOGIN_MAX_FAILURES: integer(1, 1000).default(5),
  LOGIN_ADDRESS_MAX_FAILURES: integer(1, 100_000).default(50),
  LOGIN_WINDOW: integer(1, 86400).default(900),
  LOGIN_ACCOUNT_MAX_FAILURES: integer(1, 100_000).default(100),
  LOGIN_ACCOUNT_WINDOW: integer(1, 30 * 86400).default(86400),
  REGISTER_MAX_PER_ADDRESS: integer(1, 100_000).default(20),
  REFRESH_MAX_PER_ADDRESS: integer(1, 100_000).default(120),
  WRITE_MAX_PER_USER: integer(1, 1_000_000).default(300),
  MAX_DEPTH: integer(2, 100).default(10),
  MAX_ALIASES: integer(0, 1000).default(30),
  MAX_DIRECTIVES: integer(0, 1000).default(10),
  MAX_TOKENS: integer(100, 1_000_000).default(5000),
  MAX_COST: integer(1, 10_000_000).default(5000),
  MAX_STATEMENTS: integer(1, 100_000).default(100),
  MAX_ANALYSIS_NODES: integer(100, 10_000_000).default(20_000),
  // A commit of 10,000 file changes is about 1 MiB of JSON.
  BODY_LIMIT: integer(1024, 100 * 1024 * 1024).default(2 * 1024 * 1024),
  ALLOW_BATCHED_REQUESTS: boolean.default(false),
  MAX_BATCH_SIZE: integer(1, 100).default(10),
  PERSISTED_OPERATIONS: z.enum(["apq", "only", "off"], { error: "expected apq, only or off" }).default("apq"),
  PERSISTED_OPERATIONS_MANIFEST: z.string().min(1).default("client/generated/persisted-documents.json"),
  SHUTDOWN_TIMEOUT: integer(1, 600).default(15),
  STORAGE_URL: z
    .string()
    .regex(/^(file:\/\/\/.+|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?)$/, { error: "expected file:///absolute/path or s3://bucket/prefix" })
    .optional(),
  S3_ENDPOINT: z
    .string()
    .regex(/^https?:\/\/\S+$/, { error: "expected an http(s):// URL" })
    .optional(),
  S3_REGION: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: boolean.optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  UPLOAD_DIR: z.string().min(1).optional(),
  MAX_FILE_SIZE: bytes.default(5 * GIB),
  STORAGE_QUOTA: bytes.default(10 * GIB),
  UPLOAD_EXPIRY: integer(60, 30 * 86400).default(86400),
  DOWNLOAD_URL_TTL: integer(10, 86400).default(300),
  SWEEP_INTERVAL: integer(10, 86400).default(600),
  REQUEST_TIMEOUT: integer(1, 3600).default(30),
  IDLE_TIMEOUT: integer(1, 3600).default(120),
  KEEP_ALIVE_TIMEOUT: integer(1, 3600).default(72),
  MAX_CONNECTIONS: integer(1, 1_000_000).default(1000),
  MAX_CONNECTIONS_PER_ADDRESS: integer(1, 1_000_000).optional(),
  METRICS_TOKEN: z.string().min(32, { error: "expected at least 32 characters" }).optional(),
  METRICS_PORT: integer(1, 65535).optional(),
  AUDIT_RETENTION_DAYS: integer(0, 36_500).default(365),
});

/** Every variable the server reads (the tests check each one's validation). */
export const ENVIRONMENT_VARIABLES = Object.keys(environment.shape);

/** A PEM given inline (`NAME`) or as a file (`NAME_FILE`); both at once is a mistake. */
function pemFrom(values: Record<string, string | undefined>, name: string, kind: string): string | undefined {
  const inline = values[name];
  const file = values[`${name}_FILE`];
  if (inline && file) throw new ConfigError(`${name}: set ${name} or ${name}_FILE, not both`);
  let pem = inline;
  if (file) {
    try {
      pem = readFileSync(file, "utf8");
    } catch {
      throw new ConfigError(`${name}_FILE: cannot read ${file}`);
    }
  }
  if (pem !== undefined && !pem.includes(`-----BEGIN ${kind}-----`)) {
    throw new ConfigError(`${name}${file ? "_FILE" : ""}: expected a PEM "${kind}" (Ed25519)`);
  }
  return pem;
}

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
  const privateKeyPem = pemFrom(present, "JWT_PRIVATE_KEY", "PRIVATE KEY");
  const previousPublicKeyPem = pemFrom(present, "JWT_PREVIOUS_PUBLIC_KEY", "PUBLIC KEY");
  if (previousPublicKeyPem && !privateKeyPem) {
    throw new ConfigError("JWT_PREVIOUS_PUBLIC_KEY: needs JWT_PRIVATE_KEY (the new key that signs)");
  }

  if (production) {
    if (!values.DATABASE_URL) {
      throw new ConfigError("DATABASE_URL: required in production (the embedded database is for development)");
    }
    if (!values.JWT_SECRET && !privateKeyPem) {
      throw new ConfigError("JWT_SECRET: required in production, at least 32 bytes (or JWT_PRIVATE_KEY for Ed25519)");
    }
    if (values.BCRYPT_COST !== undefined && values.BCRYPT_COST < 10) {
      throw new ConfigError("BCRYPT_COST: expected at least 10 in production");
    }
  }

  // 5 s, or less than the query timeout when that is shorter.
  const statementTimeout = values.DATABASE_STATEMENT_TIMEOUT ?? Math.min(5, values.DATABASE_QUERY_TIMEOUT - 1);
  if (statementTimeout >= values.DATABASE_QUERY_TIMEOUT) {
    throw new ConfigError(
      `DATABASE_STATEMENT_TIMEOUT: expected less than DATABASE_QUERY_TIMEOUT (${values.DATABASE_QUERY_TIMEOUT} s), so that PostgreSQL stops a slow statement before its connection is given up`,
    );
  }

  const corsOrigins = values.CORS_ORIGINS
    ? values.CORS_ORIGINS.split(",")
        .map((origin) => origin.trim())
        .filter(Boolean)
    : production
      ? []
      : DEV_CORS_ORIGINS;

  return Object.freeze({
    production,
    host: values.HOST,
    port: values.PORT,
    databaseUrl: values.DATABASE_URL,
    databaseConnectTimeoutSeconds: values.DATABASE_CONNECT_TIMEOUT,
    databaseQueryTimeoutSeconds: values.DATABASE_QUERY_TIMEOUT,
    databaseStatementTimeoutSeconds: statementTimeout,
    databaseListenUrl: values.DATABASE_LISTEN_URL,
    databasePreparedStatements: values.DATABASE_PREPARED_STATEMENTS,
    viewerCacheSize: values.VIEWER_CACHE_SIZE,
    dataDir: values.DATA_DIR,
    jwtSecret: values.JWT_SECRET,
    corsOrigins: Object.freeze(corsOrigins),
    logLevel: values.LOG_LEVEL,
    trustProxy: values.TRUST_PROXY,
    bcryptCost: values.BCRYPT_COST ?? DEFAULT_BCRYPT_COST,
    accessTokenTtlSeconds: values.ACCESS_TOKEN_TTL,
    exposeStatementCount: values.EXPOSE_STATEMENT_COUNT ?? !production,
    signingKey: privateKeyPem
      ? Object.freeze({ privateKeyPem, previousPublicKeyPems: Object.freeze(previousPublicKeyPem ? [previousPublicKeyPem] : []) })
      : undefined,
    refreshTokenTtlSeconds: values.REFRESH_TOKEN_TTL,
    refreshReuseIntervalSeconds: values.REFRESH_REUSE_INTERVAL,
    hashWorkers: values.HASH_WORKERS,
    throttle: Object.freeze({
      loginMaxFailures: values.LOGIN_MAX_FAILURES,
      addressMaxFailures: values.LOGIN_ADDRESS_MAX_FAILURES,
      loginWindowSeconds: values.LOGIN_WINDOW,
      accountMaxFailures: values.LOGIN_ACCOUNT_MAX_FAILURES,
      accountWindowSeconds: values.LOGIN_ACCOUNT_WINDOW,
      registerPerAddressPerHour: values.REGISTER_MAX_PER_ADDRESS,
      refreshPerAddressPerMinute: values.REFRESH_MAX_PER_ADDRESS,
      writesPerUserPerMinute: values.WRITE_MAX_PER_USER,
    }),
    persistedOperations: values.PERSISTED_OPERATIONS,
    persistedOperationsManifest: values.PERSISTED_OPERATIONS_MANIFEST,
    shutdownTimeoutSeconds: values.SHUTDOWN_TIMEOUT,
    auditRetentionDays: values.AUDIT_RETENTION_DAYS,
    files: Object.freeze({
      storageUrl: values.STORAGE_URL ?? pathToFileURL(resolve(values.DATA_DIR, "files")).href,
      s3: Object.freeze({
        endpoint: values.S3_ENDPOINT,
        region: values.S3_REGION,
        forcePathStyle: values.S3_FORCE_PATH_STYLE,
        credentials:
          values.AWS_ACCESS_KEY_ID && values.AWS_SECRET_ACCESS_KEY
            ? { accessKeyId: values.AWS_ACCESS_KEY_ID, secretAccessKey: values.AWS_SECRET_ACCESS_KEY, sessionToken: values.AWS_SESSION_TOKEN }
            : undefined,
      }),
      uploadDir: resolve(values.UPLOAD_DIR ?? join(values.DATA_DIR, "uploads")),
      maxFileSize: values.MAX_FILE_SIZE,
      storageQuota: values.STORAGE_QUOTA,
      uploadExpirySeconds: values.UPLOAD_EXPIRY,
      downloadUrlTtlSeconds: values.DOWNLOAD_URL_TTL,
      sweepIntervalSeconds: values.SWEEP_INTERVAL,
    }),
    metrics: Object.freeze({ token: values.METRICS_TOKEN, port: values.METRICS_PORT }),
    connections: Object.freeze({
      requestTimeoutSeconds: values.REQUEST_TIMEOUT,
      idleTimeoutSeconds: values.IDLE_TIMEOUT,
      keepAliveTimeoutSeconds: values.KEEP_ALIVE_TIMEOUT,
      maxConnections: values.MAX_CONNECTIONS,
      // Behind a proxy every connection comes from the proxy's address: no cap of its own.
      maxConnectionsPerAddress: values.MAX_CONNECTIONS_PER_ADDRESS ?? (values.TRUST_PROXY === false ? 100 : values.MAX_CONNECTIONS),
    }),
    limits: Object.freeze({
      maxDepth: values.MAX_DEPTH,
      maxAliases: values.MAX_ALIASES,
      maxDirectives: values.MAX_DIRECTIVES,
      maxTokens: values.MAX_TOKENS,
      maxCost: values.MAX_COST,
      maxAnalysisNodes: values.MAX_ANALYSIS_NODES,
      bodyLimitBytes: values.BODY_LIMIT,
      maxStatements: values.MAX_STATEMENTS,
      allowBatchedRequests: values.ALLOW_BATCHED_REQUESTS,
      maxBatchSize: values.MAX_BATCH_SIZE,
    }),
  });
}
