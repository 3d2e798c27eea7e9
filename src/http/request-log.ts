import type { ApolloServerPlugin } from "@apollo/server";
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from "fastify";
import { Kind, type OperationDefinitionNode } from "graphql";
import type { Context } from "../graphql/context.js";
import type { Metrics } from "../observability/metrics.js";
import type { RequestReport } from "./request-report.js";

/**
 * One log line per request, and the request metrics. Apollo fills in what GraphQL knows
 * (operation, viewer, error codes); Fastify's onResponse hook writes the line when the
 * response is sent, whatever answered it.
 */
const reports = new WeakMap<FastifyRequest, RequestReport>();

/** A fresh report, tied to `request` (called while building the GraphQL context). */
export function startReport(request: FastifyRequest): RequestReport {
  const report: RequestReport = { errorCodes: [], executed: false };
  reports.set(request, report);
  return report;
}

/** Labels by operation node: Apollo keeps parsed documents, so a known document's label is made once. */
const labels = new WeakMap<OperationDefinitionNode, string>();

function operationLabel(operation: OperationDefinitionNode): string {
  let label = labels.get(operation);
  if (label === undefined) {
    const first = operation.selectionSet.selections.find((selection) => selection.kind === Kind.FIELD);
    label = `${operation.operation} ${first?.kind === Kind.FIELD ? first.name.value : "(fragments)"}`;
    labels.set(operation, label);
  }
  return label;
}

/** Fills the request's report from Apollo's view of it. */
export function reportingPlugin(metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, operationName, contextValue }) {
          if (operation) contextValue.report.operation = operationLabel(operation);
          if (operationName) contextValue.report.operationName = operationName.slice(0, 100);
        },
        async executionDidStart({ contextValue }) {
          contextValue.report.executed = true;
        },
        async willSendResponse({ response, contextValue }) {
          const report = contextValue.report;
          report.viewerId = contextValue.viewer?.id;
          if (response.body.kind !== "single") return;
          for (const error of response.body.singleResult.errors ?? []) {
            const code = String(error.extensions?.code ?? "UNKNOWN");
            report.errorCodes.push(code);
            metrics.errorSent(code);
          }
        },
      };
    },
  };
}

/** Whether `log` writes `level` (pino's loggers say; a logger that cannot say is taken to write it). */
function levelEnabled(log: FastifyBaseLogger, level: "error" | "info" | "debug"): boolean {
  const { isLevelEnabled } = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  return typeof isLevelEnabled !== "function" || isLevelEnabled.call(log, level);
}

/** Writes the line and the metrics for every request, once its response is sent. */
export function registerRequestLog(app: FastifyInstance, metrics: Metrics): void {
  app.addHook("onResponse", async (request, reply) => {
    const report = reports.get(request);
    const seconds = reply.elapsedTime / 1000;
    const path = request.url.split("?")[0] ?? request.url;
    const isGraphql = request.routeOptions.url === "/graphql";
    // Refused: never ran (a 4xx, or a request error answered 200 under application/json).
    const status = reply.statusCode;
    const errors = Boolean(report?.errorCodes.length);
    const outcome = status >= 500 ? "error" : status >= 400 || (errors && !report?.executed) ? "refused" : errors ? "error" : "success";
    if (isGraphql) metrics.requestDone(report?.operation ?? "unknown", outcome, seconds);
    // GraphQL and the file routes are the API; health checks and metrics scrapes are noise.
    const isFileRoute = path.startsWith("/uploads") || path.startsWith("/datasets/");
    const level = reply.statusCode >= 500 ? "error" : isGraphql || isFileRoute || reply.statusCode >= 400 ? "info" : "debug";
    // At LOG_LEVEL=warn (production's busy instances) the line would be built only to be dropped.
    if (!levelEnabled(request.log, level)) return;
    const line = {
      method: request.method,
      path,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      ...(isGraphql
        ? {
            operation: report?.operation,
            operationName: report?.operationName,
            viewerId: report?.viewerId,
            outcome,
            errorCodes: report?.errorCodes.length ? report.errorCodes : undefined,
          }
        : {}),
    };
    request.log[level](line, "request");
  });
}
