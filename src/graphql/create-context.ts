import type { FastifyRequest } from "fastify";
import { tokenIdOf } from "../auth/viewer-model.js";
import { clientAddressOf } from "../http/client-address.js";
import { countStatements } from "../db/counting.js";
import type { Database } from "../db/database.js";
import type { Context, Services } from "./context.js";
import { requestLoaders } from "./loaders.js";

/** What a request's context is made from, over HTTP and over WebSocket alike. */
export interface ContextParts {
  services: Services;
  database: Database;
  /** The HTTP request, or the WebSocket's upgrade request. */
  request: FastifyRequest;
  requestId: string;
  report: Context["report"];
  /**
   * Who is asking: already known (a WebSocket's signed-in viewer), or found with this
   * context's database and loaders (an HTTP request's token).
   */
  viewer: Context["viewer"] | ((db: Context["db"], loaders: Context["loaders"]) => Promise<Context["viewer"]>);
  /** A subscription's cost, known before it runs. */
  cost?: Context["cost"];
  /** A subscription's connection (WebSocket only). */
  subscriber?: Context["subscriber"];
}

/**
 * The one place a request's context is assembled: a database counting this request's
 * statements (up to MAX_STATEMENTS), loaders of its own, the viewer, and what the logs and
 * links need from the request. Errors finding the viewer are the caller's to answer.
 */
export async function createContext(parts: ContextParts): Promise<Context> {
  const { request } = parts;
  const db = countStatements(parts.database, parts.services.config.limits.maxStatements);
  const loaders = requestLoaders(db);
  const viewer = typeof parts.viewer === "function" ? await parts.viewer(db, loaders) : parts.viewer;
  // What is done through a personal access token is recorded with its id.
  const tokenId = viewer && tokenIdOf(viewer);
  const services = tokenId ? { ...parts.services, audit: parts.services.audit.through(tokenId) } : parts.services;
  return {
    services,
    db,
    loaders,
    viewer,
    provenUserIds: new Set(),
    requestId: parts.requestId,
    origin: `${request.protocol}://${request.host}`,
    report: parts.report,
    clientAddress: clientAddressOf(request),
    log: request.log,
    ...(parts.subscriber && { subscriber: parts.subscriber }),
    ...(parts.cost && { cost: parts.cost }),
  };
}

/**
 * A context of its own for one event of a subscription (the `event`th): fresh loaders, a
 * fresh statement budget and cost, the subscription's request id with the event's number.
 */
export function eventContext(base: Context, database: Database, event: number): Context {
  const db = countStatements(database, base.services.config.limits.maxStatements);
  return { ...base, db, loaders: requestLoaders(db), cost: base.cost?.fresh(), requestId: `${base.requestId}.${event}` };
}
