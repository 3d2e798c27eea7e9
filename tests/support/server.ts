import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { FastifyInstance } from "fastify";
import { print } from "graphql";
import { createApp } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config/config.js";
import type { Database } from "../../src/db/database.js";
import { createLogger } from "../../src/observability/logger.js";
import { createTestDatabase } from "./database.js";

/**
 * What a raw query string's data is read as. A test about the contract sends a typed
 * document of client/generated (its data is then typed); a raw string is for what no
 * client would send (malformed documents, limits, hostile input, fields a client's
 * documents do not select), and its answer is read loosely.
 */
// biome-ignore lint/suspicious/noExplicitAny: the one loose type, for answers to raw query strings (above)
export type UntypedData = any;

/** A GraphQL error as the client sees it; `extensions` holds the contract's fields (`code`, `field`, `requestId`, a limit's figures). */
export interface ResponseError {
  message: string;
  path?: Array<string | number>;
  extensions: Record<string, unknown> & { code?: string; field?: string; requestId?: string };
}

/** A GraphQL response as the client sees it, with the HTTP status and headers. */
export interface GraphQLResponse<Data = UntypedData> {
  status: number;
  headers: Headers;
  data?: Data | null;
  errors?: ResponseError[];
  /** The response's own `extensions` (e.g. `cost`). */
  extensions?: Record<string, unknown>;
  /** How many SQL statements the request ran (the server's `x-sql-statements` header). */
  statements: number;
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
}

/** The real server, listening on an ephemeral loopback port, on its own fresh database. */
export interface TestServer {
  url: string;
  /** `http://127.0.0.1:port`, for the routes beside /graphql. */
  origin: string;
  config: Config;
  database: Database;
  /** A database URL for child processes (PostgreSQL only). */
  databaseUrl: string | undefined;
  secret: string;
  /** Sends a typed document of client/generated: its variables and its data are the document's types. */
  graphql<Data, Variables>(
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables,
    options?: RequestOptions,
  ): Promise<GraphQLResponse<Data>>;
  graphql<Data = UntypedData>(query: string, variables?: Record<string, unknown>, options?: RequestOptions): Promise<GraphQLResponse<Data>>;
  close(): Promise<void>;
}

/** Environment every test server starts from; `env` adds to it. */
export function testEnvironment(env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: "test",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    // The minimum cost keeps the suite fast; the real default is measured (docs/configuration.md).
    BCRYPT_COST: "4",
    JWT_SECRET: randomBytes(32).toString("hex"),
    // Every test comes from 127.0.0.1: throttling is tested with its own low limits.
    LOGIN_MAX_FAILURES: "1000",
    LOGIN_ADDRESS_MAX_FAILURES: "100000",
    LOGIN_ACCOUNT_MAX_FAILURES: "100000",
    REGISTER_MAX_PER_ADDRESS: "100000",
    REFRESH_MAX_PER_ADDRESS: "100000",
    MAX_CONNECTIONS_PER_ADDRESS: "100000",
    // Tests write quickly as one user; the write limit is tested with its own low limit.
    WRITE_MAX_PER_USER: "1000000",
    ANONYMOUS_MAX_PER_ADDRESS: "1000000",
    // The whole suite runs with either executor (GRAPHQL_EXECUTOR=jit npm test); a test may still choose.
    ...(process.env.GRAPHQL_EXECUTOR ? { GRAPHQL_EXECUTOR: process.env.GRAPHQL_EXECUTOR } : {}),
    ...env,
  };
}

/** One JSON log line, read as loosely as a raw query's answer. */
export type LogLine = Record<string, UntypedData>;

/** Where a test server's log lines go, when a test wants to read them. */
export class LogCapture {
  readonly lines: LogLine[] = [];
  write(line: string): void {
    this.lines.push(JSON.parse(line));
  }

  /** Warnings and errors so far, as text for an assertion's message: what the server saw go wrong. */
  warnings(): string {
    return JSON.stringify(this.lines.filter((line) => line.level >= 40).map((line) => ({ msg: line.msg, err: line.err, detail: line.detail })));
  }
}

/**
 * Starts the server on a fresh database; or, with `sharing`, a second instance on the same
 * database as another (what several instances behind a load balancer are), or on a database
 * the test opened itself (which the test then closes).
 */
export async function startServer(
  env: Record<string, string> = {},
  logs?: LogCapture,
  sharing?: Pick<TestServer, "database" | "databaseUrl">,
): Promise<TestServer> {
  // Files (blob store, tus staging) go to a directory of this server's own, removed on close.
  const dataDir = env.DATA_DIR ? undefined : await mkdtemp(join(tmpdir(), "dataset-api-test-"));
  const config = loadConfig(testEnvironment({ ...(dataDir ? { DATA_DIR: dataDir } : {}), ...(logs ? { LOG_LEVEL: "info", ...env } : env) }));
  const {
    database,
    url: databaseUrl,
    drop,
  } = sharing
    ? { database: sharing.database, url: sharing.databaseUrl, drop: async () => {} }
    : await createTestDatabase({ statementTimeoutMs: config.databaseStatementTimeoutSeconds * 1000 });
  const app: FastifyInstance = await createApp(config, database, createLogger(config.logLevel, logs));
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `${address}/graphql`;
  return {
    url,
    origin: address,
    config,
    database,
    databaseUrl,
    secret: config.jwtSecret!,
    async graphql(query: string | TypedDocumentNode<unknown, unknown>, variables?: unknown, options: RequestOptions = {}) {
      const response = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
        body: JSON.stringify({ query: typeof query === "string" ? query : print(query), variables }),
      });
      const body = (await response.json()) as { data?: UntypedData; errors?: ResponseError[]; extensions?: Record<string, unknown> };
      return {
        status: response.status,
        headers: response.headers,
        data: body.data,
        errors: body.errors,
        extensions: body.extensions,
        statements: Number(response.headers.get("x-sql-statements") ?? Number.NaN),
      };
    },
    async close() {
      // As main.ts stops: connections that turn idle are closed as they do; one a client
      // left mid-request (a test's unread body, an abandoned upload) is cut after a grace,
      // where main.ts would exit at SHUTDOWN_TIMEOUT, so a test file never hangs in afterAll.
      const idle = setInterval(() => app.server.closeIdleConnections(), 100);
      const cut = setTimeout(() => app.server.closeAllConnections(), 3000);
      try {
        await app.close();
      } finally {
        clearInterval(idle);
        clearTimeout(cut);
      }
      await drop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The code of the response's one error. A response with no error, with several, or whose
 * error has no code fails the test right here, saying what was expected and what came
 * (rather than "expected undefined to be 'NOT_FOUND'").
 */
export function errorCode(response: GraphQLResponse): string {
  const errors = response.errors ?? [];
  const listed = () => errors.map((error) => `${String(error.extensions?.code)}: ${error.message}`).join("; ");
  if (errors.length === 0) {
    throw new Error(`expected one GraphQL error, but the response has none (HTTP ${response.status}, data ${JSON.stringify(response.data)})`);
  }
  if (errors.length > 1) {
    throw new Error(`expected one GraphQL error, but the response has ${errors.length} (HTTP ${response.status}): ${listed()}`);
  }
  const code = errors[0]!.extensions?.code;
  if (typeof code !== "string") throw new Error(`expected the error to have an extensions.code, but it has none: ${listed()}`);
  return code;
}
