import { availableParallelism } from "node:os";
import { z } from "zod";
import { combine, docsOf, variable } from "./parsers.js";
import { DATA_DIR, FILES, PREVIEWS, TABLES } from "./file-settings.js";
import { boolean, bytes, integer, oneOf, origins, path, pem, postgresUrl, text, trustProxy } from "./values.js";

/**
 * Everything the server reads from its environment, declared: each variable once, where its
 * value sits in the configuration, with its parser, its default and its row of
 * docs/configuration.md (`npm run config:table` writes that table from these;
 * tests/config.test.ts fails when the two differ). A new variable is one entry (and a
 * bad-value case in tests/config.test.ts). load.ts reads them.
 */

/** Chosen from measurement on the 2-core reference machine; see docs/configuration.md. */
export const DEFAULT_BCRYPT_COST = 12;

const DEV_CORS_ORIGINS = Object.freeze([
  "http://localhost:3000",
  "http://localhost:4000",
  "http://localhost:5173",
  "http://127.0.0.1:3000",
  "http://127.0.0.1:4000",
  "http://127.0.0.1:5173",
]);

// Declarations other declarations depend on (their defaults or checks read them).

export const PRODUCTION = variable(
  "NODE_ENV",
  oneOf(["development", "production", "test"])
    .transform((value) => value === "production")
    .describe("`development`, `production`, `test`"),
  {
    meaning: "`production` turns on the production rules below",
    default: "development",
  },
);

const DATABASE_QUERY_TIMEOUT = variable("DATABASE_QUERY_TIMEOUT", integer(1, 3600), {
  meaning:
    "seconds a statement may go unanswered before it fails with `SERVICE_UNAVAILABLE` and its connection is dropped (migrations have no limit)",
  default: "10",
});

const TRUST_PROXY = variable("TRUST_PROXY", trustProxy, {
  meaning:
    'whose `X-Forwarded-For` to believe for the client address (throttling, logs): `false`; a number of proxy hops (recommended: `1` behind one load balancer); the proxies\' addresses/CIDRs, comma-separated; or `true` (the left-most entry: only behind a proxy that overwrites the header; warned about at start-up). See docs/limits.md, "Client addresses"',
  default: "false",
});

const MAX_CONNECTIONS = variable("MAX_CONNECTIONS", integer(1, 1_000_000), {
  meaning: "open connections in all; past it a new one is closed at once",
  default: "1000",
});

const JWT_PRIVATE_KEY = pem("JWT_PRIVATE_KEY", "PRIVATE KEY", {
  meaning:
    "Ed25519 private key (PKCS#8 PEM): tokens are then EdDSA with a `kid`, published at `/.well-known/jwks.json`, and HS256 tokens are refused",
  defaultDoc: "unset: HS256 with `JWT_SECRET`",
});

/** The configuration: each entry one variable (or a value made of several), where it sits in `Config`. */
export const SETTINGS = {
  production: PRODUCTION,
  host: variable("HOST", text.describe("a host name or address"), { meaning: "the address to listen on", default: "127.0.0.1" }),
  port: variable("PORT", integer(0, 65535), { meaning: "the port to listen on", default: "4000" }),
  /** `undefined`: embedded PGlite in `dataDir`. */
  databaseUrl: variable("DATABASE_URL", postgresUrl, {
    meaning: "PostgreSQL connection string (`postgres://…`)",
    defaultDoc: "unset: embedded PGlite in `DATA_DIR`",
    requiredInProduction: { because: "the embedded database is for development" },
  }),
  databaseConnectTimeoutSeconds: variable("DATABASE_CONNECT_TIMEOUT", integer(1, 300), {
    meaning: "seconds to wait for a database connection (new, or free in the pool) before the request fails with `SERVICE_UNAVAILABLE`",
    default: "5",
  }),
  databaseQueryTimeoutSeconds: DATABASE_QUERY_TIMEOUT,
  /** Under the query timeout, so that PostgreSQL cancels a slow statement and the connection stays. */
  databaseStatementTimeoutSeconds: variable("DATABASE_STATEMENT_TIMEOUT", integer(0, 3600), {
    meaning:
      "PostgreSQL: seconds a statement may run before PostgreSQL cancels it and the request gets `REQUEST_TOO_EXPENSIVE` (sent as `statement_timeout` when each pool connection opens; must be less than `DATABASE_QUERY_TIMEOUT`; `0`: the server's own setting; migrations have none; behind pgbouncer see docs/deploy.md)",
    default: (get) => Math.min(5, get(DATABASE_QUERY_TIMEOUT) - 1),
    defaultDoc: "`5` (or `DATABASE_QUERY_TIMEOUT` − 1 if that is less)",
    check: (seconds, get) =>
      seconds >= get(DATABASE_QUERY_TIMEOUT)
        ? `expected less than DATABASE_QUERY_TIMEOUT (${get(DATABASE_QUERY_TIMEOUT)} s), so that PostgreSQL stops a slow statement before its connection is given up`
        : undefined,
  }),
  /** Behind pgbouncer in transaction pooling, LISTEN needs a direct connection to PostgreSQL. */
  databaseListenUrl: variable("DATABASE_LISTEN_URL", postgresUrl, {
    meaning:
      "where the `LISTEN` connections go (the viewer cache's, and live events'): PostgreSQL itself (set it when `DATABASE_URL` is pgbouncer in transaction mode; see docs/deploy.md)",
    defaultDoc: "`DATABASE_URL`",
  }),
  /**
   * PostgreSQL: run the hot statements as named prepared statements (src/db/prepared.ts):
   * `auto` unless a probe at start finds a transaction pooler in between (src/db/pooler.ts).
   */
  databasePreparedStatements: variable("DATABASE_PREPARED_STATEMENTS", oneOf(["auto", "on", "off"]), {
    meaning:
      "PostgreSQL: run the hot statements (viewer check, dataset pages, look-ups by id) as named prepared statements, parsed and planned once per connection; `auto` turns them off when a probe at start finds a transaction pooler (pgbouncer `pool_mode = transaction`, which cannot carry them before 1.21) between the server and PostgreSQL",
    default: "auto",
  }),
  viewerCacheSize: variable("VIEWER_CACHE_SIZE", integer(0, 1_000_000), {
    meaning:
      "sessions whose viewer check is kept in memory (every change to a user or session is announced by the database and forgotten at once); `0` reads the viewer on every request",
    default: "10000",
  }),
  dataDir: DATA_DIR,
  /** `undefined` in development means "generate one into dataDir". */
  jwtSecret: variable(
    "JWT_SECRET",
    z
      .string()
      .refine((value) => Buffer.byteLength(value, "utf8") >= 32, { error: "expected at least 32 bytes" })
      .describe("at least 32 bytes (UTF-8)"),
    {
      meaning: "HS256 signing secret, at least 32 bytes",
      defaultDoc: "development: generated once into `DATA_DIR/jwt-secret`",
      requiredInProduction: { because: "at least 32 bytes, or JWT_PRIVATE_KEY for Ed25519", unless: JWT_PRIVATE_KEY },
    },
  ),
  /** Ed25519 signing; when set, tokens are EdDSA with a `kid` and HS256 is refused. */
  signingKey: combine(
    {
      privateKeyPem: JWT_PRIVATE_KEY,
      previousPublicKeyPem: pem("JWT_PREVIOUS_PUBLIC_KEY", "PUBLIC KEY", {
        meaning: "during a key rotation, the old public key (SPKI PEM): its tokens still verify",
        defaultDoc: "unset",
        check: (previous, get) => (previous && !get(JWT_PRIVATE_KEY) ? "needs JWT_PRIVATE_KEY (the new key that signs)" : undefined),
      }),
    },
    ({ privateKeyPem, previousPublicKeyPem }) =>
      privateKeyPem
        ? Object.freeze({ privateKeyPem, previousPublicKeyPems: Object.freeze(previousPublicKeyPem ? [previousPublicKeyPem] : []) })
        : undefined,
  ),
  corsOrigins: variable("CORS_ORIGINS", origins, {
    meaning: "comma-separated allowed browser origins, each `http(s)://host[:port]` (no path)",
    default: (get) => (get(PRODUCTION) ? Object.freeze([]) : DEV_CORS_ORIGINS),
    defaultDoc: "development: `localhost`/`127.0.0.1` on ports 3000, 4000, 5173; production: none",
  }),
  logLevel: variable("LOG_LEVEL", oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), {
    meaning: "`fatal` `error` `warn` `info` `debug` `trace` `silent`",
    default: "info",
  }),
  trustProxy: TRUST_PROXY,
  connections: {
    /** A route may allow its body more (`config: { requestTimeout }` in its route options, 0 for no limit). */
    requestTimeoutSeconds: variable("REQUEST_TIMEOUT", integer(1, 3600), {
      meaning:
        "seconds a request's headers may take to arrive, and then its body; slower is answered 408 and the connection closed (a route may allow its body more: docs/limits.md)",
      default: "30",
    }),
    idleTimeoutSeconds: variable("IDLE_TIMEOUT", integer(1, 3600), {
      meaning: "seconds a connection may send and receive nothing, mid-request or mid-response, before it is closed",
      default: "120",
    }),
    keepAliveTimeoutSeconds: variable("KEEP_ALIVE_TIMEOUT", integer(1, 3600), {
      meaning: "seconds an idle keep-alive connection is kept between requests (longer than a load balancer's idle timeout)",
      default: "72",
    }),
    maxConnections: MAX_CONNECTIONS,
    /** The peer's address: behind a proxy, every connection comes from the proxy, so no cap of its own. */
    maxConnectionsPerAddress: variable("MAX_CONNECTIONS_PER_ADDRESS", integer(1, 1_000_000), {
      meaning: "open connections from one peer address (behind a proxy that is the proxy)",
      default: (get) => (get(TRUST_PROXY) === false ? 100 : get(MAX_CONNECTIONS)),
      defaultDoc: "`100`; with `TRUST_PROXY` set: `MAX_CONNECTIONS`",
    }),
  },
  /** Who may read `/metrics`: with `token` only that bearer; with `port` only there. In production one of the two, or none is served. */
  metrics: {
    token: variable("METRICS_TOKEN", z.string().min(32, { error: "expected at least 32 characters" }).describe("at least 32 characters"), {
      meaning: "at least 32 characters: `/metrics` then wants `Authorization: Bearer <METRICS_TOKEN>`",
      defaultDoc: "unset (in production, `/metrics` is then served only on `METRICS_PORT`)",
    }),
    port: variable("METRICS_PORT", integer(1, 65535), { meaning: "serve `/metrics` on this port of `HOST` alone, not on `PORT`" }),
  },
  shutdownTimeoutSeconds: variable("SHUTDOWN_TIMEOUT", integer(1, 600), {
    meaning: "on SIGTERM, seconds in-flight requests may take before the process exits anyway",
    default: "15",
  }),
  bcryptCost: variable("BCRYPT_COST", integer(4, 15), {
    meaning: "bcrypt work factor (at least 10 in production)",
    default: String(DEFAULT_BCRYPT_COST),
    defaultDoc: `\`${DEFAULT_BCRYPT_COST}\` (0.29 s a hash on the 2-core reference machine: see below)`,
    check: (cost, get) => (get(PRODUCTION) && cost < 10 ? "expected at least 10 in production" : undefined),
  }),
  accessTokenTtlSeconds: variable("ACCESS_TOKEN_TTL", integer(60, 86400), {
    meaning: "access token lifetime in seconds",
    default: "900",
  }),
  refreshTokenTtlSeconds: variable("REFRESH_TOKEN_TTL", integer(3600, 31_536_000), {
    meaning: "refresh token lifetime in seconds; each rotation starts a new one",
    default: "2592000",
    defaultDoc: "`2592000` (30 days)",
  }),
  /** A just-rotated refresh token used again within this many seconds gets the same successor. */
  refreshReuseIntervalSeconds: variable("REFRESH_REUSE_INTERVAL", integer(0, 300), {
    meaning: "seconds in which a just-rotated refresh token gets the same successor again (racing tabs) instead of ending the session",
    default: "10",
  }),
  /** Worker threads that run bcrypt off the event loop. */
  hashWorkers: variable("HASH_WORKERS", integer(1, 64), {
    meaning: "worker threads that run bcrypt off the event loop",
    default: () => Math.max(1, availableParallelism() - 1),
    defaultDoc: "CPU cores − 1 (at least 1)",
  }),
  /** Limits on guessing and flooding, counted in the database so all instances share them. */
  throttle: {
    /** The main limit: the account stays open to everyone else. */
    loginMaxFailures: variable("LOGIN_MAX_FAILURES", integer(1, 1000), {
      meaning:
        "failed sign-ins (or `changePassword` checks) for one account from one client address within `LOGIN_WINDOW` before that address is refused for that account",
      default: "5",
    }),
    addressMaxFailures: variable("LOGIN_ADDRESS_MAX_FAILURES", integer(1, 100_000), {
      meaning: "failed sign-ins from one client address, for any accounts, within `LOGIN_WINDOW`",
      default: "50",
    }),
    loginWindowSeconds: variable("LOGIN_WINDOW", integer(1, 86400), { meaning: "the sign-in failure window, in seconds", default: "900" }),
    /** The hard cap on guessing one account from many addresses (NIST SP 800-63B: at most 100 consecutive failures). */
    accountMaxFailures: variable("LOGIN_ACCOUNT_MAX_FAILURES", integer(1, 100_000), {
      meaning:
        "failed sign-ins for one account from all addresses within `LOGIN_ACCOUNT_WINDOW` before even its right password is refused everywhere (the hard cap)",
      default: "100",
    }),
    accountWindowSeconds: variable("LOGIN_ACCOUNT_WINDOW", integer(1, 30 * 86400), {
      meaning: "the hard cap's window, in seconds",
      default: "86400",
      defaultDoc: "`86400` (a day)",
    }),
    registerPerAddressPerHour: variable("REGISTER_MAX_PER_ADDRESS", integer(1, 100_000), {
      meaning: "registrations from one client address per hour",
      default: "20",
    }),
    refreshPerAddressPerMinute: variable("REFRESH_MAX_PER_ADDRESS", integer(1, 100_000), {
      meaning: "session refreshes from one client address per minute",
      default: "120",
    }),
    /** src/graphql/write-limit.ts */
    writesPerUserPerMinute: variable("WRITE_MAX_PER_USER", integer(1, 1_000_000), {
      meaning: "mutations by one signed-in user per minute, each aliased one counted",
      default: "300",
    }),
    /** src/auth/anonymous-limit.ts, from src/http/server.ts (GraphQL) and src/files/route-viewer.ts: requests with no credential at all. */
    anonymousPerAddressPerMinute: variable("ANONYMOUS_MAX_PER_ADDRESS", integer(1, 1_000_000), {
      meaning:
        "requests with no credential (anonymous GraphQL requests, the public catalog included, and anonymous downloads) from one client address per minute, counted per instance in memory; past it, `RATE_LIMITED` (HTTP 429) with `Retry-After`. A person browsing makes a few a minute; a script looping meets it within seconds",
      default: "300",
    }),
  },
  /** Audit events older than this many days are deleted by the sweeper; 0 keeps them forever. */
  auditRetentionDays: variable("AUDIT_RETENTION_DAYS", integer(0, 36_500), {
    meaning: "audit events older than this are deleted (every 5 minutes, with expired throttle counters); `0` keeps them forever",
    default: "365",
  }),
  /** Report each response's SQL statement count in the `x-sql-statements` header (tests, benchmarks). */
  exposeStatementCount: variable("EXPOSE_STATEMENT_COUNT", boolean, {
    meaning: "send each response's SQL statement count in `x-sql-statements`",
    default: (get) => !get(PRODUCTION),
    defaultDoc: "on outside production",
  }),
  /** src/graphql/fast-executor.ts: graphql-jit for known query documents, graphql-js for the rest. */
  graphqlExecutor: variable("GRAPHQL_EXECUTOR", oneOf(["jit", "graphql-js"]), {
    meaning:
      "`jit`: a query document sent more than once is compiled (graphql-jit) and run compiled from then on; mutations, first requests and the documents where the two differ run in graphql-js, and Apollo still parses, validates, limits and formats every one. `graphql-js`: every operation in graphql-js",
    default: "jit",
  }),
  /** What one request may ask for; everything over is refused before it executes. */
  limits: {
    maxDepth: variable("MAX_DEPTH", integer(2, 100), { meaning: "selection depth of one operation (fragments flattened)", default: "10" }),
    maxAliases: variable("MAX_ALIASES", integer(0, 1000), { meaning: "aliases in one operation", default: "30" }),
    maxDirectives: variable("MAX_DIRECTIVES", integer(0, 1000), { meaning: "directives in one operation", default: "10" }),
    /** graphql-js stops parsing past it. */
    maxTokens: variable("MAX_TOKENS", integer(100, 1_000_000), {
      meaning: "lexical tokens in one document (the parser stops past it)",
      default: "5000",
    }),
    /** See src/graphql/limits.ts. */
    maxCost: variable("MAX_COST", integer(1, 10_000_000), {
      meaning: "objects one operation may fetch, page sizes multiplied in (docs/limits.md)",
      default: "5000",
    }),
    maxAnalysisNodes: variable("MAX_ANALYSIS_NODES", integer(100, 10_000_000), {
      meaning: "selections the cost analysis may visit for one operation (each fragment once per page size it is spread under); more is refused",
      default: "20000",
    }),
    bodyLimitBytes: variable("BODY_LIMIT", integer(1024, 100 * 1024 * 1024), {
      meaning: "GraphQL request body, in bytes (a commit of 10,000 file changes is about 1 MiB)",
      default: "2097152",
      defaultDoc: "`2097152` (2 MiB)",
    }),
    /** A batch is one request. */
    maxStatements: variable("MAX_STATEMENTS", integer(1, 100_000), {
      meaning: "SQL statements one HTTP request may run (a batch is one request); the next is refused with `REQUEST_TOO_EXPENSIVE`",
      default: "100",
    }),
    allowBatchedRequests: variable("ALLOW_BATCHED_REQUESTS", boolean, {
      meaning: "accept a JSON array of operations in one request",
      default: "off",
    }),
    maxBatchSize: variable("MAX_BATCH_SIZE", integer(1, 100), { meaning: "operations in one batch, when batching is on", default: "10" }),
  },
  /** `apq`: automatic persisted queries. `only`: trusted documents, only the manifest's operations. `off`: neither. */
  persistedOperations: variable("PERSISTED_OPERATIONS", oneOf(["apq", "only", "off"]), {
    meaning: "`apq`: automatic persisted queries; `only`: trusted documents, nothing else runs; `off`",
    default: "apq",
  }),
  persistedOperationsManifest: variable("PERSISTED_OPERATIONS_MANIFEST", path.describe("a path, relative to the working directory"), {
    meaning: "the trusted documents for `only`",
    default: "client/generated/persisted-documents.json",
  }),
  /** Where file content goes and the limits on it (file-settings.ts). */
  files: FILES,
  /** Live events over WebSocket (src/events/websocket.ts): what one connection and one user may hold. */
  subscriptions: {
    maxPerConnection: variable("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", integer(1, 1000), {
      meaning: "live events: subscriptions open at once on one WebSocket connection",
      default: "20",
    }),
    /** Per instance: the count is kept in memory. */
    maxPerUser: variable("WS_MAX_SUBSCRIPTIONS_PER_USER", integer(1, 1_000_000), {
      meaning: "live events: subscriptions open at once by one user, on one instance",
      default: "100",
    }),
    maxMessageBytes: variable("WS_MAX_MESSAGE_SIZE", bytes, {
      meaning: "live events: the largest message a client may send (a larger one closes the connection, 1009)",
      default: "64KiB",
    }),
    initTimeoutSeconds: variable("WS_INIT_TIMEOUT", integer(1, 300), {
      meaning: "live events: seconds a new connection has to send `connection_init` (then 4408)",
      default: "10",
    }),
    pingIntervalSeconds: variable("WS_PING_INTERVAL", integer(1, 3600), {
      meaning: "live events: seconds between the server's pings; a connection that has not answered one by the next is dropped",
      default: "30",
    }),
    idleTimeoutSeconds: variable("WS_IDLE_TIMEOUT", integer(1, 86_400), {
      meaning: "live events: seconds a connection may hold no subscription before it is closed (1000)",
      default: "300",
    }),
    maxQueuedEvents: variable("WS_MAX_QUEUED_EVENTS", integer(1, 100_000), {
      meaning: "live events: events waiting to be sent on one subscription; a client that reads slower is disconnected (1013)",
      default: "100",
    }),
  },
  /** Profiling committed tables (file-settings.ts). */
  previews: PREVIEWS,
  /** Row queries of explored tables (file-settings.ts). */
  tables: TABLES,
};

/** docs/configuration.md's table, a row a declaration, in declaration order. */
export const CONFIGURATION_DOCS = docsOf(SETTINGS);

/** Every variable the server reads (the tests check each one's validation). */
export const ENVIRONMENT_VARIABLES = CONFIGURATION_DOCS.flatMap((doc) => doc.names);
