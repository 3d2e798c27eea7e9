import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { aroundStatements } from "./db/around-statements.js";
import type { Database } from "./db/database.js";

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
  auditEvent(type: string): void;
  statementDone(seconds: number): void;
  /** A connection closed by the server's own limits (src/server.ts). */
  connectionClosed(reason: ConnectionCloseReason): void;
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

  return {
    registry,
    requestDone(operation, outcome, seconds) {
      requests.inc({ operation, outcome });
      latency.observe({ operation, outcome }, seconds);
    },
    errorSent: (code) => errors.inc({ code }),
    auditEvent: (type) => audit.inc({ type }),
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
