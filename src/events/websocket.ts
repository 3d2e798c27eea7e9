import { clientAddressOf } from "../http/client-address.js";
import type { ApolloServerPlugin } from "@apollo/server";
import fastifyWebsocket, { type WebsocketHandler } from "@fastify/websocket";
import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  createSourceEventStream,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from "graphql";
import { type Context as ProtocolContext, handleProtocols, makeServer } from "graphql-ws";
import type { WebSocket } from "ws";
import { formatError } from "../graphql/apollo.js";
import { authenticate } from "../auth/viewer.js";
import type { Context, Services } from "../graphql/context.js";
import { createContext, eventContext } from "../graphql/create-context.js";
import { classify, explainRequestErrors } from "../graphql/error-origins.js";
import { DatabaseUnavailableError, type Database } from "../db/database.js";
import { BAD_REQUEST, ClientError, ErrorCode, errorResponseBody } from "../common/errors.js";
import type { Manifest } from "../graphql/persisted-operations.js";
import { createUserLoader } from "../users/loader.js";
import { Close, closeReason, LiveConnection, LiveConnections } from "./connections.js";
import { checkOperation } from "./operations.js";

/**
 * Live events over WebSocket: graphql-ws's `graphql-transport-ws` protocol, served by
 * @fastify/websocket on `/graphql` (the same route as GraphQL over HTTP, for GET upgrades).
 *
 * - connection_init must carry `{ "authorization": "Bearer <access token>" }`, checked as an
 *   HTTP request's token is; without one, or with one that is invalid, expired or revoked, the
 *   connection is closed with 4403 and the reason. The connection then lasts as long as that
 *   session stays valid (not as long as the token): a revocation closes it with 4403.
 * - A subscribe message is checked as an HTTP request is (operations.ts) and refused with the
 *   same errors; only subscriptions are run here.
 * - Each event is executed with a context of its own (loaders, statement budget), and its
 *   errors are masked as over HTTP.
 * - Limits: subscriptions per connection and per user, message size, connection_init within
 *   WS_INIT_TIMEOUT, pings every WS_PING_INTERVAL (no pong by the next one: dropped), idle
 *   connections closed after WS_IDLE_TIMEOUT, WS_MAX_QUEUED_EVENTS per subscription.
 * - Stopping (SIGTERM): the hub stops listening and delivers what it has received, then
 *   every socket is closed with 1001.
 */

export interface SubscriptionServerParts {
  services: Services;
  database: Database;
  schema: GraphQLSchema;
  manifest: Manifest | undefined;
}

/** What graphql-ws hands back with every callback: the socket, its upgrade request, and our state. */
interface Extra {
  socket: WebSocket;
  request: FastifyRequest;
  connection: LiveConnection;
}
type WsContext = ProtocolContext<Record<string, unknown>, Extra>;

/** How long sockets get to answer the closing handshake when the server stops. */
const CLOSE_GRACE_MS = 1_000;

/**
 * Registers @fastify/websocket and returns the handler of WebSocket upgrades of `/graphql`
 * (the caller registers the route). Call before registering any route.
 */
export async function registerSubscriptions(app: FastifyInstance, parts: SubscriptionServerParts): Promise<WebsocketHandler> {
  const { services, database, schema, manifest } = parts;
  const { config, events } = services;
  const limits = config.subscriptions;
  const connections = new LiveConnections(database, services.viewerChanges, services.viewers, app.log);
  let stopping = false;

  // Events committed while the feed was down are lost for this instance's subscribers: they
  // reconnect (1012), and a client reads again what it shows.
  const stopInterrupts = events.onInterrupted(() => {
    for (const connection of connections.all) connection.close(Close.serviceRestart, "The event feed was interrupted: reconnect and read again");
  });

  await app.register(fastifyWebsocket, {
    options: { maxPayload: limits.maxMessageBytes, handleProtocols },
    // A client's misbehaviour (a message over the size limit, a broken frame) is theirs:
    // ws has begun closing with its code (1009, 1002); it is worth a line, not an alarm.
    errorHandler(error, socket, request) {
      request.log.info({ err: error }, "websocket error");
      if (socket.readyState === socket.OPEN) socket.terminate();
    },
    async preClose() {
      stopping = true;
      await events.drain();
      const sockets = [...app.websocketServer.clients];
      const closed = Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()))));
      for (const connection of connections.all) connection.close(Close.goingAway, "The server is restarting: reconnect");
      for (const socket of sockets) if (socket.readyState === socket.OPEN) socket.close(Close.goingAway, "The server is restarting: reconnect");
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())]);
      for (const socket of sockets) socket.terminate();
      connections.close();
      stopInterrupts();
      await new Promise<void>((resolve) => app.websocketServer.close(() => resolve()));
    },
  });

  /** A formatted error as over HTTP (masked unless it is the client's), with the id logs know it by. */
  const format = (error: GraphQLError, requestId: string, log: FastifyRequest["log"]): GraphQLFormattedError => {
    if (classify(error).kind === "internal")
      log.error({ err: error.originalError ?? error, path: error.path, requestId }, "internal error in a subscription");
    const formatted = formatError(error.toJSON(), error);
    const { http: _status, ...extensions } = (formatted.extensions ?? {}) as Record<string, unknown>;
    return { ...formatted, extensions: { ...extensions, requestId } };
  };

  const server = makeServer<Record<string, unknown>, Extra>({
    schema,
    connectionInitWaitTimeout: limits.initTimeoutSeconds * 1000,

    async onConnect(ctx: WsContext) {
      const { connection, request } = ctx.extra;
      const refuse = (code: number, reason: string) => {
        request.log.info({ connection: connection.id, code, reason }, "websocket refused");
        connection.close(code, reason);
        return false;
      };
      if (stopping) return refuse(Close.goingAway, "The server is restarting: reconnect");
      if (!events.listening) return refuse(Close.tryAgainLater, "Live events are unavailable for a moment: reconnect shortly");
      const params = ctx.connectionParams ?? {};
      const authorization = params.authorization ?? params.Authorization;
      if (typeof authorization !== "string") {
        return refuse(Close.forbidden, 'Sign in first: connection_init needs { "authorization": "Bearer <access token>" }');
      }
      try {
        connection.viewer = await authenticate(authorization, clientAddressOf(request), services, database, createUserLoader(database));
      } catch (error) {
        if (error instanceof ClientError) return refuse(Close.forbidden, error.message);
        if (error instanceof DatabaseUnavailableError)
          return refuse(Close.tryAgainLater, "The service is temporarily unavailable: reconnect shortly");
        request.log.error({ err: error }, "could not authenticate a websocket");
        return refuse(Close.internalError, "Internal server error");
      }
      if (!connection.viewer) return refuse(Close.forbidden, 'Sign in first: connection_init needs { "authorization": "Bearer <access token>" }');
      if (connection.closed) return false;
      connections.add(connection);
      connection.startIdleTimer();
      request.log.info({ connection: connection.id, viewerId: connection.viewer.id }, "websocket connected");
      return true;
    },

    async onSubscribe(ctx: WsContext, id, payload) {
      const { connection, request } = ctx.extra;
      const viewer = connection.viewer!;
      const requestId = `${request.id}:${id}`;
      const refuse = (message: string, code: ErrorCode, extensions: Record<string, unknown> = {}) => [new ClientError(message, code, extensions)];
      if (stopping) return refuse("The server is restarting: subscribe again once reconnected", ErrorCode.SERVICE_UNAVAILABLE);
      if (connection.subscriptions.size >= limits.maxPerConnection) {
        return refuse(`At most ${limits.maxPerConnection} subscriptions may be open on one connection`, ErrorCode.REQUEST_TOO_EXPENSIVE, {
          limit: "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION",
          maxSubscriptions: limits.maxPerConnection,
        });
      }
      if (connections.subscriptionsOf(viewer.id) >= limits.maxPerUser) {
        return refuse(`At most ${limits.maxPerUser} subscriptions of one user may be open at once`, ErrorCode.REQUEST_TOO_EXPENSIVE, {
          limit: "WS_MAX_SUBSCRIPTIONS_PER_USER",
          maxSubscriptions: limits.maxPerUser,
        });
      }
      const checked = checkOperation(schema, config, manifest, payload);
      if (Array.isArray(checked)) {
        request.log.info({ code: checked[0]?.extensions?.code, subscription: id }, "subscription refused");
        return checked;
      }
      const { document, operationName, variables, cost } = checked as Exclude<typeof checked, readonly GraphQLError[]>;
      connections.subscriptionStarted(connection, id);
      const contextValue = await createContext({
        services,
        database,
        request,
        requestId,
        report: { errorCodes: [], executed: true },
        viewer,
        subscriber: connection,
        cost,
      });
      return { schema, document, operationName, variableValues: variables, contextValue };
    },

    // graphql-js's own subscribe, but each event executes with a context of its own.
    async subscribe(args: ExecutionArgs) {
      const base = args.contextValue as Context;
      const source = await createSourceEventStream(args);
      if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
      let count = 0;
      return mapEvents(
        source[Symbol.asyncIterator](),
        (payload) => execute({ ...args, rootValue: payload, contextValue: eventContext(base, database, ++count) }) as Promise<ExecutionResult>,
      );
    },

    onNext(ctx: WsContext, _id, _payload, args, result) {
      if (!result.errors) return;
      const requestId = (args.contextValue as Context).requestId;
      explainRequestErrors({ schema, document: args.document, request: { variables: args.variableValues ?? undefined }, errors: result.errors });
      return { ...result, errors: result.errors.map((error) => format(error, requestId, ctx.extra.request.log)) };
    },

    onError(ctx: WsContext, id, _payload, errors) {
      return errors.map((error) => format(error, `${ctx.extra.request.id}:${id}`, ctx.extra.request.log));
    },

    onComplete(ctx: WsContext, id) {
      connections.subscriptionEnded(ctx.extra.connection, id);
    },

    onClose(ctx: WsContext, code, reason) {
      const { connection, request } = ctx.extra;
      connection.stopIdleTimer();
      connections.remove(connection);
      if (connection.viewer) request.log.info({ connection: connection.id, code, reason }, "websocket closed");
    },
  });

  /** One socket: graphql-ws's server on it, pings, and our connection state. */
  return function wsHandler(socket: WebSocket, request: FastifyRequest) {
    const connection = new LiveConnection(socket, request.log, limits.idleTimeoutSeconds * 1000);
    if (stopping) {
      connection.close(Close.goingAway, "The server is restarting: reconnect");
      return;
    }
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => connection.close(code ?? Close.normal, reason ?? ""),
        onMessage: (handle) =>
          socket.on("message", async (data) => {
            try {
              await handle(String(data));
            } catch (error) {
              request.log.error({ err: error, connection: connection.id }, "internal error while handling a websocket message");
              connection.close(Close.internalError, "Internal server error");
            }
          }),
      },
      { socket, request, connection },
    );
    // A ping each interval; a connection that has not answered the last one is gone (a peer
    // that vanished without closing, or a half-open NAT mapping).
    let unanswered = false;
    socket.on("pong", () => {
      unanswered = false;
    });
    const pinger = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      if (unanswered) {
        request.log.info({ connection: connection.id }, "websocket dropped: no answer to a ping");
        socket.terminate();
        return;
      }
      unanswered = true;
      socket.ping();
    }, limits.pingIntervalSeconds * 1000);
    pinger.unref();
    socket.once("close", (code, reason) => {
      clearInterval(pinger);
      void closed(code, closeReason(reason.toString()));
    });
  };
}

/**
 * `source` with each value mapped: returning (the client completed, the socket closed) ends
 * `source` at once, even while it waits for its next value (an async generator would wait
 * for that value first).
 */
function mapEvents<T, R>(source: AsyncIterator<T>, map: (value: T) => Promise<R>): AsyncIterableIterator<R> {
  return {
    async next() {
      const result = await source.next();
      return result.done ? { value: undefined, done: true } : { value: await map(result.value), done: false };
    },
    async return() {
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown) {
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Over HTTP a subscription has nothing to carry its events: refused before it runs, with
 * where to go instead.
 */
export function subscriptionsOverHttpRefused(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation !== "subscription") return;
          throw new GraphQLError("Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql, not over HTTP", {
            extensions: { code: BAD_REQUEST, http: { status: 400 } },
          });
        },
      };
    },
  };
}

/**
 * Browsers let any page open a WebSocket to any host (no CORS), sending its Origin. A token
 * in connection_init is what lets a connection in, and a page elsewhere does not hold one;
 * still, an upgrade from a browser page of an origin that CORS_ORIGINS does not allow (nor
 * this server's own) is refused with 403, as that page's HTTP requests would be.
 */
export function refuseCrossOriginUpgrades(app: FastifyInstance, allowed: readonly string[]): void {
  app.addHook("onRequest", async (request, reply) => {
    const origin = request.headers.origin;
    if (!request.ws || origin === undefined || allowed.includes(origin)) return;
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== undefined && host === request.headers.host) return;
    request.log.info({ origin }, "websocket refused: origin not allowed");
    return reply.code(403).send(errorResponseBody("This origin may not open live-event connections", ErrorCode.FORBIDDEN, request.id));
  });
}
