import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_PAGE, withConfigTable } from "../scripts/config-table.js";
import { ConfigError, DEFAULT_BCRYPT_COST, ENVIRONMENT_VARIABLES, loadConfig } from "../src/config/config.js";

/** Every variable is validated at start-up into one frozen object. */
describe("configuration", () => {
  it("has development defaults that run with nothing set", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      production: false,
      host: "127.0.0.1",
      port: 4000,
      databaseUrl: undefined,
      dataDir: ".data",
      jwtSecret: undefined,
      logLevel: "info",
      trustProxy: false,
      bcryptCost: DEFAULT_BCRYPT_COST,
      accessTokenTtlSeconds: 900,
      exposeStatementCount: true,
    });
    expect(config.corsOrigins).toContain("http://localhost:5173");
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("allows no CORS origin in production unless configured, and hides statement counts", () => {
    const production = { NODE_ENV: "production", DATABASE_URL: "postgres://db/app", JWT_SECRET: "x".repeat(32) };
    expect(loadConfig(production).corsOrigins).toEqual([]);
    expect(loadConfig(production).exposeStatementCount).toBe(false);
    expect(loadConfig({ ...production, CORS_ORIGINS: "https://a.example, https://b.example" }).corsOrigins).toEqual([
      "https://a.example",
      "https://b.example",
    ]);
  });

  it("takes TRUST_PROXY as a switch, a number of hops, or the proxies' addresses", () => {
    expect(loadConfig({ TRUST_PROXY: "on" }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: "10.0.0.0/8, 127.0.0.1" }).trustProxy).toEqual(["10.0.0.0/8", "127.0.0.1"]);
  });

  it("gives the small files' lane a worker of its own where this instance makes previews at all", () => {
    expect(loadConfig({}).previews).toMatchObject({ workers: 1, smallWorkers: 1, smallFileBytes: 4 * 2 ** 20, maxExpandedBytes: 512 * 2 ** 20 });
    expect(loadConfig({ PREVIEW_WORKERS: "0" }).previews).toMatchObject({ workers: 0, smallWorkers: 0 });
    expect(loadConfig({ PREVIEW_WORKERS: "0", PREVIEW_SMALL_WORKERS: "2" }).previews).toMatchObject({ workers: 0, smallWorkers: 2 });
  });

  it("names every problem at once, in one line", () => {
    let thrown: unknown;
    try {
      loadConfig({ NODE_ENV: "production", PORT: "eighty", LOG_LEVEL: "loud" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const { problems, message } = thrown as ConfigError;
    expect(problems).toEqual([
      "PORT: expected a whole number from 0 to 65535",
      "DATABASE_URL: required in production (the embedded database is for development)",
      "JWT_SECRET: required in production (at least 32 bytes, or JWT_PRIVATE_KEY for Ed25519)",
      "LOG_LEVEL: expected fatal, error, warn, info, debug, trace or silent",
    ]);
    expect(message).toBe(problems.join("; "));
  });

  it("reports a value that depends on a bad one through the bad one only", () => {
    // DATABASE_STATEMENT_TIMEOUT is checked against DATABASE_QUERY_TIMEOUT, which is unreadable.
    expect(() => loadConfig({ DATABASE_QUERY_TIMEOUT: "soon", DATABASE_STATEMENT_TIMEOUT: "3" })).toThrow(
      new ConfigError("DATABASE_QUERY_TIMEOUT: expected a whole number from 1 to 3600"),
    );
  });

  it("takes JWT_PRIVATE_KEY in place of JWT_SECRET in production", () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const config = loadConfig({
      NODE_ENV: "production",
      DATABASE_URL: "postgres://db/app",
      JWT_PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    });
    expect(config.jwtSecret).toBeUndefined();
    expect(config.signingKey?.privateKeyPem).toContain("-----BEGIN PRIVATE KEY-----");
    expect(config.signingKey?.previousPublicKeyPems).toEqual([]);
  });

  it("documents every variable in docs/configuration.md's table as declared (npm run config:table writes it)", () => {
    const page = readFileSync(CONFIG_PAGE, "utf8");
    // Line by line, so that a failure shows the rows that differ; the table names every declaration.
    expect(page.split("\n"), "docs/configuration.md's configuration table is stale: run npm run config:table").toEqual(
      withConfigTable(page).split("\n"),
    );
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", PORT: "" }).databaseUrl).toBeUndefined();
  });

  it.each([
    [{ PORT: "70000" }, "PORT: expected a whole number from 0 to 65535"],
    [{ BCRYPT_COST: "3" }, "BCRYPT_COST: expected a whole number from 4 to 15"],
    [{ ACCESS_TOKEN_TTL: "10" }, "ACCESS_TOKEN_TTL: expected a whole number from 60 to 86400"],
    [{ TRUST_PROXY: "maybe" }, "TRUST_PROXY: expected true/false, a number of proxy hops, or comma-separated proxy addresses/CIDRs"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL: expected fatal, error, warn, info, debug, trace or silent"],
    [{ NODE_ENV: "staging" }, "NODE_ENV: expected development, production or test"],
    [{ JWT_SECRET: "short" }, "JWT_SECRET: expected at least 32 bytes"],
    [
      { DATABASE_QUERY_TIMEOUT: "3", DATABASE_STATEMENT_TIMEOUT: "3" },
      "DATABASE_STATEMENT_TIMEOUT: expected less than DATABASE_QUERY_TIMEOUT (3 s), so that PostgreSQL stops a slow statement before its connection is given up",
    ],
    [
      { NODE_ENV: "production", DATABASE_URL: "postgres://db/app", JWT_SECRET: "x".repeat(32), BCRYPT_COST: "8" },
      "BCRYPT_COST: expected at least 10 in production",
    ],
  ])("refuses %o with one line naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });

  /** A bad value for every variable, and the start of the one line it must produce. */
  const BAD_VALUES: Record<string, [string, string]> = {
    NODE_ENV: ["staging", "NODE_ENV: expected development, production or test"],
    HOST: ["", ""], // empty means unset: the default applies
    PORT: ["http", "PORT: expected a whole number"],
    DATABASE_URL: ["mysql://db/app", "DATABASE_URL: expected a postgres:// or postgresql:// connection string"],
    DATABASE_CONNECT_TIMEOUT: ["0", "DATABASE_CONNECT_TIMEOUT: expected a whole number"],
    DATABASE_QUERY_TIMEOUT: ["-1", "DATABASE_QUERY_TIMEOUT: expected a whole number"],
    DATABASE_STATEMENT_TIMEOUT: ["10", "DATABASE_STATEMENT_TIMEOUT: expected less than DATABASE_QUERY_TIMEOUT (10 s)"],
    DATABASE_LISTEN_URL: ["mysql://db/app", "DATABASE_LISTEN_URL: expected a postgres:// or postgresql:// connection string"],
    DATABASE_PREPARED_STATEMENTS: ["yes", "DATABASE_PREPARED_STATEMENTS: expected auto, on or off"],
    VIEWER_CACHE_SIZE: ["lots", "VIEWER_CACHE_SIZE: expected a whole number from 0 to 1000000"],
    GRAPHQL_EXECUTOR: ["fast", "GRAPHQL_EXECUTOR: expected jit or graphql-js"],
    DATA_DIR: ["", ""],
    JWT_SECRET: ["x".repeat(31), "JWT_SECRET: expected at least 32 bytes"],
    CORS_ORIGINS: ["https://a.example/path", "CORS_ORIGINS: expected comma-separated origins"],
    LOG_LEVEL: ["verbose", "LOG_LEVEL: expected fatal"],
    TRUST_PROXY: ["maybe", "TRUST_PROXY: expected true/false, a number of proxy hops"],
    BCRYPT_COST: ["31", "BCRYPT_COST: expected a whole number from 4 to 15"],
    ACCESS_TOKEN_TTL: ["15m", "ACCESS_TOKEN_TTL: expected a whole number"],
    EXPOSE_STATEMENT_COUNT: ["sometimes", "EXPOSE_STATEMENT_COUNT: expected one of true/false"],
    JWT_PRIVATE_KEY: ["not a pem", 'JWT_PRIVATE_KEY: expected a PEM "PRIVATE KEY"'],
    JWT_PRIVATE_KEY_FILE: ["/nonexistent/key.pem", "JWT_PRIVATE_KEY_FILE: cannot read /nonexistent/key.pem"],
    JWT_PREVIOUS_PUBLIC_KEY: ["not a pem", 'JWT_PREVIOUS_PUBLIC_KEY: expected a PEM "PUBLIC KEY"'],
    JWT_PREVIOUS_PUBLIC_KEY_FILE: ["/nonexistent/old.pem", "JWT_PREVIOUS_PUBLIC_KEY_FILE: cannot read"],
    REFRESH_TOKEN_TTL: ["60", "REFRESH_TOKEN_TTL: expected a whole number from 3600"],
    REFRESH_REUSE_INTERVAL: ["ten", "REFRESH_REUSE_INTERVAL: expected a whole number"],
    HASH_WORKERS: ["0", "HASH_WORKERS: expected a whole number from 1 to 64"],
    LOGIN_MAX_FAILURES: ["0", "LOGIN_MAX_FAILURES: expected a whole number"],
    LOGIN_ADDRESS_MAX_FAILURES: ["many", "LOGIN_ADDRESS_MAX_FAILURES: expected a whole number"],
    LOGIN_WINDOW: ["0", "LOGIN_WINDOW: expected a whole number"],
    LOGIN_ACCOUNT_MAX_FAILURES: ["0", "LOGIN_ACCOUNT_MAX_FAILURES: expected a whole number"],
    LOGIN_ACCOUNT_WINDOW: ["-1", "LOGIN_ACCOUNT_WINDOW: expected a whole number"],
    REGISTER_MAX_PER_ADDRESS: ["1.5", "REGISTER_MAX_PER_ADDRESS: expected a whole number"],
    REFRESH_MAX_PER_ADDRESS: ["0", "REFRESH_MAX_PER_ADDRESS: expected a whole number"],
    WRITE_MAX_PER_USER: ["unlimited", "WRITE_MAX_PER_USER: expected a whole number from 1 to 1000000"],
    ANONYMOUS_MAX_PER_ADDRESS: ["0", "ANONYMOUS_MAX_PER_ADDRESS: expected a whole number from 1 to 1000000"],
    MAX_DEPTH: ["1", "MAX_DEPTH: expected a whole number from 2 to 100"],
    MAX_ALIASES: ["-5", "MAX_ALIASES: expected a whole number"],
    MAX_DIRECTIVES: ["lots", "MAX_DIRECTIVES: expected a whole number"],
    MAX_TOKENS: ["10", "MAX_TOKENS: expected a whole number from 100"],
    MAX_COST: ["0", "MAX_COST: expected a whole number"],
    MAX_ANALYSIS_NODES: ["99", "MAX_ANALYSIS_NODES: expected a whole number from 100"],
    MAX_STATEMENTS: ["0", "MAX_STATEMENTS: expected a whole number from 1 to 100000"],
    BODY_LIMIT: ["100", "BODY_LIMIT: expected a whole number from 1024"],
    ALLOW_BATCHED_REQUESTS: ["perhaps", "ALLOW_BATCHED_REQUESTS: expected one of true/false"],
    MAX_BATCH_SIZE: ["0", "MAX_BATCH_SIZE: expected a whole number from 1 to 100"],
    PERSISTED_OPERATIONS: ["always", "PERSISTED_OPERATIONS: expected apq, only or off"],
    PERSISTED_OPERATIONS_MANIFEST: ["", ""],
    SHUTDOWN_TIMEOUT: ["0", "SHUTDOWN_TIMEOUT: expected a whole number from 1 to 600"],
    REQUEST_TIMEOUT: ["0", "REQUEST_TIMEOUT: expected a whole number from 1 to 3600"],
    IDLE_TIMEOUT: ["2m", "IDLE_TIMEOUT: expected a whole number from 1 to 3600"],
    KEEP_ALIVE_TIMEOUT: ["-1", "KEEP_ALIVE_TIMEOUT: expected a whole number from 1 to 3600"],
    MAX_CONNECTIONS: ["0", "MAX_CONNECTIONS: expected a whole number from 1"],
    MAX_CONNECTIONS_PER_ADDRESS: ["many", "MAX_CONNECTIONS_PER_ADDRESS: expected a whole number from 1"],
    METRICS_TOKEN: ["short", "METRICS_TOKEN: expected at least 32 characters"],
    METRICS_PORT: ["0", "METRICS_PORT: expected a whole number from 1 to 65535"],
    AUDIT_RETENTION_DAYS: ["a year", "AUDIT_RETENTION_DAYS: expected a whole number from 0 to 36500"],
    STORAGE_URL: ["ftp://host/files", "STORAGE_URL: expected file:///absolute/path or s3://bucket/prefix"],
    S3_ENDPOINT: ["minio:9000", "S3_ENDPOINT: expected an http(s):// URL"],
    S3_REGION: ["", ""],
    S3_FORCE_PATH_STYLE: ["maybe", "S3_FORCE_PATH_STYLE: expected one of true/false"],
    AWS_ACCESS_KEY_ID: ["", ""],
    AWS_SECRET_ACCESS_KEY: ["", ""],
    AWS_SESSION_TOKEN: ["", ""],
    UPLOAD_DIR: ["", ""],
    MAX_FILE_SIZE: ["5 gigs", "MAX_FILE_SIZE: expected a size in bytes such as 1048576, 500MB or 5GiB"],
    STORAGE_QUOTA: ["0", "STORAGE_QUOTA: expected a size in bytes"],
    MAX_UNFINISHED_UPLOADS: ["0", "MAX_UNFINISHED_UPLOADS: expected a whole number from 1 to 1000"],
    METADATA_QUOTA: ["1 GB of rows", "METADATA_QUOTA: expected a size in bytes"],
    UPLOAD_EXPIRY: ["59", "UPLOAD_EXPIRY: expected a whole number from 60"],
    DOWNLOAD_URL_TTL: ["9", "DOWNLOAD_URL_TTL: expected a whole number from 10 to 86400"],
    SWEEP_INTERVAL: ["0", "SWEEP_INTERVAL: expected a whole number from 10 to 86400"],
    WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: ["0", "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: expected a whole number from 1 to 1000"],
    WS_MAX_SUBSCRIPTIONS_PER_USER: ["all", "WS_MAX_SUBSCRIPTIONS_PER_USER: expected a whole number from 1"],
    WS_MAX_MESSAGE_SIZE: ["big", "WS_MAX_MESSAGE_SIZE: expected a size in bytes"],
    WS_INIT_TIMEOUT: ["0", "WS_INIT_TIMEOUT: expected a whole number from 1 to 300"],
    WS_PING_INTERVAL: ["30s", "WS_PING_INTERVAL: expected a whole number from 1 to 3600"],
    WS_IDLE_TIMEOUT: ["0", "WS_IDLE_TIMEOUT: expected a whole number from 1 to 86400"],
    WS_MAX_QUEUED_EVENTS: ["0", "WS_MAX_QUEUED_EVENTS: expected a whole number from 1 to 100000"],
    PREVIEW_MEMORY_LIMIT: ["half", "PREVIEW_MEMORY_LIMIT: expected a size in bytes"],
    PREVIEW_THREADS: ["0", "PREVIEW_THREADS: expected a whole number from 1 to 64"],
    PREVIEW_TIMEOUT: ["0", "PREVIEW_TIMEOUT: expected a whole number from 1 to 86400"],
    PREVIEW_MAX_BYTES: ["big", "PREVIEW_MAX_BYTES: expected a size in bytes"],
    PREVIEW_WORKERS: ["-1", "PREVIEW_WORKERS: expected a whole number from 0 to 64"],
    PREVIEW_MAX_EXPANDED_BYTES: ["0", "PREVIEW_MAX_EXPANDED_BYTES: expected a size in bytes"],
    PREVIEW_SMALL_WORKERS: ["one", "PREVIEW_SMALL_WORKERS: expected a whole number from 0 to 64"],
    PREVIEW_SMALL_FILE_BYTES: ["small", "PREVIEW_SMALL_FILE_BYTES: expected a size in bytes"],
    TABLE_READERS: ["0", "TABLE_READERS: expected a whole number from 1 to 64"],
    TABLE_READER_MEMORY_LIMIT: ["lots", "TABLE_READER_MEMORY_LIMIT: expected a size in bytes"],
    TABLE_READER_THREADS: ["0", "TABLE_READER_THREADS: expected a whole number from 1 to 64"],
    TABLE_QUERY_TIMEOUT: ["5", "TABLE_QUERY_TIMEOUT: expected a whole number from 10 to 600000"],
    TABLE_QUERIES_PER_USER: ["0", "TABLE_QUERIES_PER_USER: expected a whole number from 1 to 64"],
    TABLE_CACHE_DIR: ["", ""],
  };

  it("has a bad-value case for every variable it reads", () => {
    expect(Object.keys(BAD_VALUES).sort()).toEqual([...ENVIRONMENT_VARIABLES].sort());
  });

  it.each(Object.entries(BAD_VALUES).filter(([, [, message]]) => message !== ""))(
    "refuses a bad %s with one line naming it and the expected form",
    (name, [value, message]) => {
      let thrown: unknown;
      try {
        loadConfig({ [name]: value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message.startsWith(message)).toBe(true);
      expect((thrown as Error).message).not.toContain("\n");
    },
  );
});
