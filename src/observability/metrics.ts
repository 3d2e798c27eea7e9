import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuditType } from "../audit/types.js";
import type { Config } from "../config/config.js";
import { aroundStatements } from "../db/around-statements.js";
import type { Database } from "../db/database.js";

/**
 * Prometheus metrics (prom-client), one registry per server so several servers in one
 * process (tests) do not share counters. Labels are bounded: an operation is named by its
 * type and first root field (`query datasets`), never by a name the client chose.
 */
export interface Metrics {
  readonly registry: Registry;
  /** One GraphQL request done: `outcome` is success, error (some errors) or refused (never ran). */
  requestDone(operation: string, outcome: "success" | "error" | "refused", seconds: number): void;
  errorSent(code: string): void;
  /** `count` audit events of `type` committed (src/audit/events.ts counts them). */
  auditEvents(type: AuditType, count: number): void;
  statementDone(seconds: number): void;
  /** Bytes of uploads written into staging. */
  readonly bytesUploaded: Counter;
  /** Bytes of file downloads sent. */
  readonly bytesDownloaded: Counter;
  /** tus requests being handled now (each one an upload receiving or being finished). */
  readonly uploadsInFlight: Gauge;
  /** A connection closed by the server's own limits (src/http/server.ts). */
  connectionClosed(reason: ConnectionCloseReason): void;
  readonly previews: PreviewMetrics;
}

/** The profiling jobs (src/previews). */
export interface PreviewMetrics {
  /** Profiles being made by this instance now. */
  readonly running: Gauge;
  /** One attempt done: `ready` and `failed` are the profile's status, `error` an attempt that failed for another reason (retried). */
  attemptDone(outcome: "ready" | "failed" | "error", seconds: number): void;
  /** The peak resident memory of one profile's reader process. */
  readerPeakBytes(bytes: number): void;
  /** Where the queued gauge reads its number (every instance's jobs waiting or running), set once the queue is up. */
  countQueued(count: () => Promise<number>): void;
}

/** Why the server closed a connection itself. */
export type ConnectionCloseReason = "max_connections" | "max_connections_per_address" | "request_timeout";

/** Connections of the database pool now; PGlite has one engine and no pool. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

export function createMetrics(poolStats: () => PoolStats | undefined): Metrics {
  const registry = new Registry();
  // Process metrics: CPU, memory, handles, GC, and event-loop lag (nodejs_eventloop_lag_*).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });

  const requests = new Counter({
    name: "graphql_requests_total",
    help: "GraphQL requests by operation and outcome",
    labelNames: ["operation", "outcome"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "graphql_request_duration_seconds",
    help: "GraphQL request latency by operation and outcome",
    labelNames: ["operation", "outcome"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const errors = new Counter({
    name: "graphql_errors_total",
    help: "Errors sent to clients by extensions.code",
    labelNames: ["code"],
    registers: [registry],
  });
  const audit = new Counter({
    name: "audit_events_total",
    help: "Audit events written, by type",
    labelNames: ["type"],
    registers: [registry],
  });
  const statements = new Histogram({
    name: "db_statement_duration_seconds",
    help: "Database statement latency",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const closed = new Counter({
    name: "http_connections_closed_total",
    help: "Connections the server closed itself: over MAX_CONNECTIONS, over MAX_CONNECTIONS_PER_ADDRESS, or a request slower than REQUEST_TIMEOUT",
    labelNames: ["reason"],
    registers: [registry],
  });
  new Gauge({
    name: "db_pool_connections",
    help: "Database pool connections by state (in_use, idle, waiting: requests queued for one)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const stats = poolStats();
      if (!stats) return;
      this.set({ state: "in_use" }, stats.total - stats.idle);
      this.set({ state: "idle" }, stats.idle);
      this.set({ state: "waiting" }, stats.waiting);
    },
  });

  const bytesUploaded = new Counter({ name: "file_bytes_uploaded_total", help: "Bytes received by tus uploads", registers: [registry] });
  const bytesDownloaded = new Counter({ name: "file_bytes_downloaded_total", help: "Bytes of files sent to downloaders", registers: [registry] });
  const uploadsInFlight = new Gauge({ name: "file_uploads_in_flight", help: "tus upload requests being handled now", registers: [registry] });

  let countQueued: (() => Promise<number>) | undefined;
  new Gauge({
    name: "preview_jobs_queued",
    help: "Previews waiting to be made or being made, on every instance (read from the database when scraped)",
    registers: [registry],
    async collect() {
      if (countQueued) this.set(await countQueued().catch(() => Number.NaN));
    },
  });
  const previewsRunning = new Gauge({ name: "preview_jobs_running", help: "Previews this instance is making now", registers: [registry] });
  const previewAttempts = new Counter({
    name: "preview_jobs_total",
    help: "Profiling attempts done by this instance: ready, failed (the file cannot be read as a table), error (an attempt that failed otherwise, retried)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const previewDuration = new Histogram({
    name: "preview_job_duration_seconds",
    help: "Duration of one profiling attempt, by outcome",
    labelNames: ["outcome"],
    buckets: [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  const readerPeak = new Histogram({
    name: "preview_reader_peak_memory_bytes",
    help: "Peak resident memory (VmHWM) of one profile's reader process",
    buckets: [64, 128, 256, 512, 1024, 2048, 4096].map((mib) => mib * 2 ** 20),
    registers: [registry],
  });

  return {
    registry,
    previews: {
      running: previewsRunning,
      attemptDone(outcome, seconds) {
        previewAttempts.inc({ outcome });
        previewDuration.observe({ outcome }, seconds);
      },
      readerPeakBytes: (bytes) => readerPeak.observe(bytes),
      countQueued(count) {
        countQueued = count;
      },
    },
    bytesUploaded,
    bytesDownloaded,
    uploadsInFlight,
    requestDone(operation, outcome, seconds) {
      requests.inc({ operation, outcome });
      latency.observe({ operation, outcome }, seconds);
    },
    errorSent: (code) => errors.inc({ code }),
    auditEvents: (type, count) => audit.inc({ type }, count),
    statementDone: (seconds) => statements.observe(seconds),
    connectionClosed: (reason) => closed.inc({ reason }),
  };
}

/** `database` with every statement's duration observed (transactions' statements too). */
export function timeStatements(database: Database, metrics: Metrics): Database {
  return aroundStatements(database, async (run) => {
    const started = process.hrtime.bigint();
    try {
      return await run();
    } finally {
      metrics.statementDone(Number(process.hrtime.bigint() - started) / 1e9);
    }
  });
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether `authorization` is `Bearer <token>`, compared in constant time. */
function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(authorization ?? "")?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/** One answer to GET /metrics: the text, or 401 without the token when one is set. */
async function answerMetrics(registry: Registry, token: string | undefined, authorization: string | undefined) {
  if (token !== undefined && !bearerMatches(authorization, token)) {
    return { status: 401, type: "text/plain; charset=utf-8", body: "metrics need Authorization: Bearer <METRICS_TOKEN>\n" };
  }
  return { status: 200, type: registry.contentType, body: await registry.metrics() };
}

/**
 * `GET /metrics`. It shows the Node version, memory and the sign-in counters, so in
 * production it is served only with `Authorization: Bearer <METRICS_TOKEN>`, or only on
 * METRICS_PORT (a port the public does not reach), else not at all; with METRICS_TOKEN
 * set, the token is asked for in development and on METRICS_PORT too.
 */
export function registerMetricsEndpoint(app: FastifyInstance, config: Pick<Config, "production" | "host" | "metrics">, metrics: Metrics): void {
  const { token, port } = config.metrics;
  if (port === undefined) {
    if (config.production && token === undefined) return; // 404, like any other unknown path
    app.get("/metrics", async (request, reply) => {
      const answer = await answerMetrics(metrics.registry, token, request.headers.authorization);
      if (answer.status === 401) reply.header("www-authenticate", "Bearer");
      return reply.code(answer.status).header("content-type", answer.type).send(answer.body);
    });
    return;
  }
  // A server of its own, started and stopped with the API's.
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    answerMetrics(metrics.registry, token, request.headers.authorization).then(
      (answer) => response.writeHead(answer.status, { "content-type": answer.type }).end(answer.body),
      (error: unknown) => {
        app.log.error({ err: error }, "could not collect the metrics");
        response.writeHead(500).end();
      },
    );
  });
  app.addHook("onReady", async () => {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, config.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    app.log.info({ address: server.address() as AddressInfo }, "metrics served on their own port");
  });
  app.addHook("onClose", async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}
