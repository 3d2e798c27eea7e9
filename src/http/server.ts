import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import type { Socket } from "node:net";
import cors from "@fastify/cors";
import { fastifyApolloHandler } from "@as-integrations/fastify";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { GraphQLSchema } from "graphql";
import type { Logger } from "pino";
import { createApollo } from "../graphql/apollo.js";
import { authenticate } from "../auth/viewer.js";
import type { ConnectionsConfig } from "../config/config.js";
import type { Context, Services } from "../graphql/context.js";
import { createContext } from "../graphql/create-context.js";
import { DatabaseUnavailableError, type Database } from "../db/database.js";
import { BAD_REQUEST, ClientError, ErrorCode, errorResponseBody, serviceUnavailable } from "../common/errors.js";
import { clientAddressOf } from "./client-address.js";
import { registerHttpConformance } from "./conformance.js";
import { type Metrics, registerMetricsEndpoint } from "../observability/metrics.js";
import { loadManifest, registerDocumentIds, trustedDocumentsPlugin } from "../graphql/persisted-operations.js";
import { registerRequestLog, reportingPlugin, startReport } from "./request-log.js";
import { refuseCrossOriginUpgrades, registerSubscriptions, subscriptionsOverHttpRefused } from "../events/websocket.js";
import { registerArchives } from "../files/archive-route.js";
import { registerDownloads } from "../files/download-route.js";
import { registerUploads } from "../uploads/routes.js";
import type { HashingFileStore } from "../uploads/hashing-file-store.js";
import { PolicyError } from "../policy/apply.js";
import { routePolicy } from "../policy/route-rules.js";

/** What the HTTP server is built from. */
export interface ServerParts {
  services: Services;
  database: Database;
  schema: GraphQLSchema;
  logger: Logger;
  /** Where tus stages uploads in flight. */
  staging: HashingFileStore;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

const hopsTrusted = (hops: number) => (_address: string, hop: number) => hop < hops;

/** A route is ruled by its own entry, or by a `/prefix/*` entry covering static paths below it. */
const hasRouteRule = (url: string) =>
  Object.hasOwn(routePolicy, url) ||
  (!url.includes(":") && Object.keys(routePolicy).some((rule) => rule.endsWith("/*") && url.startsWith(rule.slice(0, -1))));

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * Seconds this route's request bodies may take to arrive, instead of REQUEST_TIMEOUT;
     * 0 for no limit (a route that streams a long upload and watches it itself).
     */
    requestTimeout?: number;
  }
}

/**
 * A request whose body has not arrived within its route's time (REQUEST_TIMEOUT unless
 * the route says otherwise) is answered 408 and its connection closed: without it, a
 * client that sends headers and one byte of its body holds the connection forever.
 * Node's own `requestTimeout` would do this for the whole server; this lets an upload
 * route allow more.
 */
function limitBodyTime(app: FastifyInstance, defaultSeconds: number, metrics: Metrics): void {
  app.addHook("onRequest", async (request, reply) => {
    const seconds = request.routeOptions.config?.requestTimeout ?? defaultSeconds;
    if (seconds <= 0 || request.raw.complete) return;
    const timer = setTimeout(() => {
      if (request.raw.complete || reply.sent) return;
      metrics.connectionClosed("request_timeout");
      request.log.info({ timeoutSeconds: seconds }, "request refused: its body did not arrive in time");
      void reply
        .code(408)
        .header("connection", "close")
        .send(errorResponseBody(`The request did not arrive within ${seconds} seconds`, BAD_REQUEST, request.id));
    }, seconds * 1000);
    timer.unref();
    reply.raw.once("close", () => clearTimeout(timer));
  });
}

/**
 * At most `perAddress` open connections from one peer address: past it, a new one is
 * closed as soon as it opens (MAX_CONNECTIONS caps them all, in Node itself).
 */
function capConnectionsPerAddress(server: Server, perAddress: number, metrics: Metrics): void {
  const open = new Map<string, number>();
  server.on("drop", () => metrics.connectionClosed("max_connections"));
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const count = (open.get(address) ?? 0) + 1;
    if (count > perAddress) {
      metrics.connectionClosed("max_connections_per_address");
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

/** The Fastify server options that bound how long and how many connections are held. */
function connectionOptions(connections: ConnectionsConfig) {
  return {
    http: {
      // Headers must arrive within REQUEST_TIMEOUT (a connection that sends nothing too);
      // Node checks every second (its default, 30 s, would let a 1 s limit run to 31).
      headersTimeout: connections.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: 1000,
      // Node's whole-request limit stays off (its 300 s default would also refuse a longer
      // headersTimeout): the body's limit is per route, limitBodyTime.
      requestTimeout: 0,
    },
    requestTimeout: 0,
    connectionTimeout: connections.idleTimeoutSeconds * 1000,
    keepAliveTimeout: connections.keepAliveTimeoutSeconds * 1000,
  };
}

/**
 * The Fastify server: `/graphql` (Apollo Server), `/healthz`, `/readyz`. Not listening
 * yet; the caller decides where.
 */
export async function buildServer({ services, database, schema, logger, staging }: ServerParts): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // A number of hops: believe that many proxies from our side of X-Forwarded-For.
    trustProxy: typeof config.trustProxy === "number" ? hopsTrusted(config.trustProxy) : config.trustProxy,
    // A GraphQL request is small; a bigger body is refused (413) before it is parsed.
    bodyLimit: config.limits.bodyLimitBytes,
    // Behind a proxy (TRUST_PROXY), its well-formed X-Request-Id is kept so logs line up
    // across hops; without one, the header is the client's own, and a client does not get
    // to choose the id under which its requests are logged.
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return config.trustProxy !== false && typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    // One line per request, written by registerRequestLog with what GraphQL knows too.
    logController: new LogController({ disableRequestLogging: true }),
    ...connectionOptions(config.connections),
  });
  app.server.maxConnections = config.connections.maxConnections;
  capConnectionsPerAddress(app.server, config.connections.maxConnectionsPerAddress, services.metrics);
  limitBodyTime(app, config.connections.requestTimeoutSeconds, services.metrics);

  // Deny by default for HTTP routes too: a route the policy does not name stops the start.
  app.addHook("onRoute", (route) => {
    if (route.method === "OPTIONS" && route.url === "*") return; // CORS preflights: no one's data
    if (!hasRouteRule(route.url)) {
      throw new PolicyError(`Authorization policy (src/policy/route-rules.ts) has no rule for the route ${route.url}: add it to routePolicy`);
    }
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    // Every GraphQL answer is for one viewer and one moment: no cache, shared or the
    // browser's, may keep it (a GET with a token is otherwise storable by the browser).
    if (request.routeOptions.url === "/graphql") reply.header("cache-control", "no-store");
  });
  registerRequestLog(app, services.metrics);

  // Errors Fastify raises before GraphQL runs (a body that is not JSON, or too large) get
  // the same shape and codes as GraphQL errors; anything else is masked and logged.
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send(errorResponseBody(error.message, BAD_REQUEST, request.id));
    }
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send(errorResponseBody("Internal server error", ErrorCode.INTERNAL_SERVER_ERROR, request.id));
  });

  await app.register(cors, {
    origin: [...config.corsOrigins],
    credentials: false,
    maxAge: 600,
    // tus needs PATCH, HEAD and DELETE and its own headers (preflights reflect the headers asked for).
    methods: ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
    // An OPTIONS without preflight headers is tus's protocol discovery: it goes on to tus.
    strictPreflight: false,
    exposedHeaders: ["X-Request-Id", "ETag", "Content-Range", "Content-Disposition", "Content-Length", "Accept-Ranges", "Retry-After"],
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  registerMetricsEndpoint(app, config, services.metrics);
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

  // Before the routes: @fastify/websocket takes the upgrades of every route registered after it.
  const manifest = config.persistedOperations === "only" ? loadManifest(config.persistedOperationsManifest) : undefined;
  // Said at start-up, so whoever sends hashes knows what this server accepts (docs/clients.md).
  logger.info(
    manifest
      ? { persistedOperations: "only", manifest: config.persistedOperationsManifest, manifestDocuments: manifest.size }
      : { persistedOperations: config.persistedOperations },
    manifest
      ? `persisted documents: only the ${manifest.size} trusted documents of ${config.persistedOperationsManifest} run`
      : config.persistedOperations === "apq"
        ? "persisted documents: automatic persisted queries (any operation runs; a hash alone once this instance has seen its text)"
        : "persisted documents: off (operations are sent as text)",
  );
  const liveEvents = await registerSubscriptions(app, { services, database, schema, manifest });
  refuseCrossOriginUpgrades(app, config.corsOrigins);

  await registerUploads(app, services, database, staging);
  registerDownloads(app, services, database);
  registerArchives(app, services, database);

  if (config.limits.allowBatchedRequests) {
    // Apollo runs every operation of a batch; a batch of fifty logins is fifty logins.
    app.addHook("preHandler", async (request, reply) => {
      if (Array.isArray(request.body) && request.body.length > config.limits.maxBatchSize) {
        return reply.code(400).send(errorResponseBody(`A batch may hold at most ${config.limits.maxBatchSize} operations`, BAD_REQUEST, request.id));
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

  if (manifest) registerDocumentIds(app, manifest);

  const apollo = createApollo(app, schema, config, [
    ...(manifest ? [trustedDocumentsPlugin(manifest)] : []),
    reportingPlugin(services.metrics),
    subscriptionsOverHttpRefused(),
  ]);
  await apollo.start();
  const graphqlOverHttp = fastifyApolloHandler(apollo, {
    context: async (request): Promise<Context> => {
      const report = startReport(request);
      try {
        return await createContext({
          services,
          database,
          request,
          requestId: request.id,
          report,
          viewer: async (db, loaders) => {
            const viewer = await authenticate(request.headers.authorization, clientAddressOf(request), services, db, loaders.users);
            // A request with no credential counts against its address's anonymous limit (RATE_LIMITED, 429),
            // in this instance's memory (auth/anonymous-limit.ts): no statement, no write per request.
            if (!viewer) services.anonymousLimit.consume(clientAddressOf(request));
            return viewer;
          },
        });
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
  app.route({ method: ["POST", "OPTIONS"], url: "/graphql", handler: graphqlOverHttp });
  // A GET is GraphQL over HTTP, or the upgrade to live events (graphql-ws) on the same path.
  app.route({ method: "GET", url: "/graphql", handler: graphqlOverHttp, wsHandler: liveEvents });
  return app;
}
