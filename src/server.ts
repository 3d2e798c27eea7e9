import { randomUUID } from "node:crypto";
import cors from "@fastify/cors";
import fastifyApollo from "@as-integrations/fastify";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { GraphQLSchema } from "graphql";
import type { Logger } from "pino";
import { createApollo } from "./apollo.js";
import { authenticate } from "./auth/viewer.js";
import type { Context, Services } from "./context.js";
import { countStatements } from "./db/counting.js";
import { DatabaseUnavailableError, type Database } from "./db/database.js";
import { ClientError, ErrorCode, serviceUnavailable } from "./errors.js";
import { registerHttpConformance } from "./http-conformance.js";
import { loadManifest, registerTrustedDocuments } from "./persisted-operations.js";
import { registerRequestLog, reportingPlugin, startReport } from "./request-log.js";
import { createUserLoader } from "./users/loader.js";

/** What the HTTP server is built from. */
export interface ServerParts {
  services: Services;
  database: Database;
  schema: GraphQLSchema;
  logger: Logger;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

const hopsTrusted = (hops: number) => (_address: string, hop: number) => hop < hops;

/** The GraphQL-over-HTTP error body, used for requests refused before GraphQL runs. */
const errorBody = (message: string, code: string, requestId: string) => ({
  errors: [{ message, extensions: { code, requestId } }],
});

/**
 * The Fastify server: `/graphql` (Apollo Server), `/healthz`, `/readyz`. Not listening
 * yet; the caller decides where.
 */
export async function buildServer({ services, database, schema, logger }: ServerParts): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // A number of hops: believe that many proxies from our side of X-Forwarded-For.
    trustProxy: typeof config.trustProxy === "number" ? hopsTrusted(config.trustProxy) : config.trustProxy,
    // A GraphQL request is small; a bigger body is refused (413) before it is parsed.
    bodyLimit: config.limits.bodyLimitBytes,
    // A well-formed X-Request-Id from the caller (a proxy) is kept, so logs line up across hops.
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    // One line per request, written by registerRequestLog with what GraphQL knows too.
    logController: new LogController({ disableRequestLogging: true }),
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  registerRequestLog(app, services.metrics);

  // Errors Fastify raises before GraphQL runs (a body that is not JSON, or too large) get
  // the same shape and codes as GraphQL errors; anything else is masked and logged.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send(errorBody(error.message, "BAD_REQUEST", request.id));
    }
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send(errorBody("Internal server error", ErrorCode.INTERNAL_SERVER_ERROR, request.id));
  });

  await app.register(cors, { origin: [...config.corsOrigins], credentials: false, maxAge: 600 });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/metrics", async (_request, reply) => {
    const { registry } = services.metrics;
    return reply.header("content-type", registry.contentType).send(await registry.metrics());
  });
  // Public keys for other services to verify access tokens; only with Ed25519 signing.
  app.get("/.well-known/jwks.json", async (_request, reply) => {
    if (!services.tokens.jwks) return reply.code(404).send({ error: "tokens are signed with a shared secret (HS256): no public keys" });
    return reply.header("cache-control", "public, max-age=300").send(services.tokens.jwks);
  });
  app.get("/readyz", async (request, reply) => {
    try {
      await database.query("select 1");
      return { status: "ready" };
    } catch (error) {
      request.log.warn({ err: error }, "readiness check: database does not answer");
      return reply.code(503).send({ status: "database unavailable" });
    }
  });

  if (config.limits.allowBatchedRequests) {
    // Apollo runs every operation of a batch; a batch of fifty logins is fifty logins.
    app.addHook("preHandler", async (request, reply) => {
      if (Array.isArray(request.body) && request.body.length > config.limits.maxBatchSize) {
        return reply
          .code(400)
          .send(errorBody(`A batch may hold at most ${config.limits.maxBatchSize} operations`, "BAD_REQUEST", request.id));
      }
    });
  }

  // Development only: GraphiQL on a browser's GET /graphql; every other request goes on to Apollo.
  // Imported only then: its packages (graphiql, react) are development dependencies.
  if (!config.production) {
    const { registerPlayground } = await import("./playground.js");
    registerPlayground(app);
  }
  // GraphQL over HTTP where Fastify answers before Apollo: 405 with Allow, 415, the media type asked for.
  registerHttpConformance(app);

  if (config.persistedOperations === "only") {
    registerTrustedDocuments(app, loadManifest(config.persistedOperationsManifest));
  }

  const apollo = createApollo(app, schema, config, [reportingPlugin(services.metrics)]);
  await apollo.start();
  await app.register(fastifyApollo(apollo), {
    path: "/graphql",
    context: async (request): Promise<Context> => {
      const db = countStatements(database);
      const users = createUserLoader(db);
      const report = startReport(request);
      try {
        const viewer = await authenticate(request.headers.authorization, services.tokens, services.viewers, db, users);
        return {
          services,
          db,
          loaders: { users },
          viewer,
          provenUserIds: new Set(),
          requestId: request.id,
          report,
          clientAddress: request.ip,
          log: request.log,
        };
      } catch (error) {
        if (error instanceof ClientError) throw error;
        if (error instanceof DatabaseUnavailableError) {
          request.log.error({ err: error }, "could not authenticate the request: the database is unavailable");
          throw serviceUnavailable({ requestId: request.id });
        }
        request.log.error({ err: error }, "could not authenticate the request");
        throw new ClientError("Internal server error", ErrorCode.INTERNAL_SERVER_ERROR, {
          requestId: request.id,
          http: { status: 500 },
        });
      }
    },
  });
  return app;
}
