import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ApolloServerPlugin } from "@apollo/server";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ConfigError } from "../config/config.js";
import type { Context } from "./context.js";
import { BAD_REQUEST, ClientError, ErrorCode, errorResponseBody, PERSISTED_QUERY_NOT_FOUND } from "../common/errors.js";

/**
 * Trusted documents (`PERSISTED_OPERATIONS=only`): the server runs only the operations
 * listed in a manifest of `sha256 hash → document`, as GraphQL Code Generator's client
 * preset writes it (`client/generated/persisted-documents.json`). A client sends the hash
 * (Apollo's `extensions.persistedQuery.sha256Hash`, or `documentId`) and no text; a text
 * whose hash is listed is accepted too.
 *
 * Two parts, one job each:
 * - `registerDocumentIds` (Fastify, before Apollo): a hash becomes its listed text, written
 *   where Apollo reads the request (the body of a POST, the URL of a GET); an unknown hash,
 *   or a text and a hash that name different documents, is refused.
 * - `trustedDocumentsPlugin` (Apollo): the list itself, checked on the source Apollo
 *   parsed and is about to execute, however it got there.
 */

export type Manifest = ReadonlyMap<string, string>;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Reads the manifest; a missing or malformed one stops start-up with one line. */
export function loadManifest(file: string): Manifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new ConfigError(`PERSISTED_OPERATIONS_MANIFEST: cannot read a JSON manifest at ${file} (run npm run codegen)`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`PERSISTED_OPERATIONS_MANIFEST: ${file} is not an object of hash → document`);
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  for (const [hash, document] of entries) {
    if (typeof document !== "string" || sha256(document) !== hash.replace(/^sha256:/, "")) {
      throw new ConfigError(`PERSISTED_OPERATIONS_MANIFEST: entry ${hash} in ${file} is not the sha256 of its document`);
    }
  }
  return new Map(entries.map(([hash, document]) => [hash.replace(/^sha256:/, ""), document as string]));
}

/** The parts of one GraphQL-over-HTTP request that name its document, as sent. */
interface OperationParameters {
  query?: unknown;
  /** Every `documentId` given (a GET may repeat a parameter). */
  documentIds: unknown[];
  extensions?: unknown;
}

type Refusal = { code: string; message: string; status: number };
/** What a request's document is: a listed text, the text as sent (no hash: the list decides later), or a refusal. */
type Resolution = { kind: "listed"; query: string } | { kind: "text" } | { kind: "refused"; refusal: Refusal };

const badRequest = (message: string): Resolution => ({ kind: "refused", refusal: { code: BAD_REQUEST, status: 400, message } });

/** The hash an operation names: by `documentId` or the persisted-query extension; the two must agree. */
function namedHash(parameters: OperationParameters): { hash?: string } | Resolution {
  if (parameters.documentIds.length > 1) return badRequest("documentId may be given once");
  const [documentId] = parameters.documentIds;
  if (documentId !== undefined && (typeof documentId !== "string" || !/^(sha256:)?[0-9a-f]{64}$/.test(documentId))) {
    return badRequest("documentId must be sha256:<64 hex digits>");
  }
  const extensions = typeof parameters.extensions === "string" ? safeJson(parameters.extensions) : parameters.extensions;
  const persisted = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
  const fromId = documentId?.replace(/^sha256:/, "");
  const fromExtension = typeof persisted === "string" ? persisted : undefined;
  if (fromId !== undefined && fromExtension !== undefined && fromId !== fromExtension) {
    return badRequest("documentId and extensions.persistedQuery name different documents");
  }
  return { hash: fromId ?? fromExtension };
}

/** Decides what one operation's document is, before Apollo reads it. */
export function resolveDocument(manifest: Manifest, parameters: OperationParameters): Resolution {
  const named = namedHash(parameters);
  if ("kind" in named) return named;
  const text = typeof parameters.query === "string" ? parameters.query : undefined;
  if (named.hash === undefined) return { kind: "text" };
  if (text !== undefined && sha256(text) !== named.hash) {
    return badRequest("The query text is not the document its hash names: send one or the other");
  }
  const query = manifest.get(named.hash);
  if (query === undefined) {
    return { kind: "refused", refusal: { code: PERSISTED_QUERY_NOT_FOUND, status: 400, message: "No trusted operation has this hash" } };
  }
  return { kind: "listed", query };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `extensions` without the persisted-query hash, which has done its work once the text is in place. */
function withoutPersistedQuery(extensions: unknown): Record<string, unknown> | undefined {
  if (typeof extensions !== "object" || extensions === null) return undefined;
  const { persistedQuery: _resolved, ...rest } = extensions as Record<string, unknown>;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

/**
 * A GET's parameters as Apollo reads them (from the URL, with URLSearchParams, not from
 * Fastify's parsed query), resolved, and the listed text written back into the URL.
 */
function resolveGet(manifest: Manifest, request: FastifyRequest): Resolution {
  const url = new URL(request.raw.url ?? "/", "http://server");
  const params = url.searchParams;
  const resolution = resolveDocument(manifest, {
    query: params.get("query") ?? undefined,
    documentIds: params.getAll("documentId"),
    extensions: params.get("extensions") ?? undefined,
  });
  if (resolution.kind !== "listed") return resolution;
  params.set("query", resolution.query);
  params.delete("documentId");
  const extensions = withoutPersistedQuery(safeJson(params.get("extensions") ?? "null"));
  if (extensions) params.set("extensions", JSON.stringify(extensions));
  else params.delete("extensions");
  request.raw.url = `${url.pathname}${url.search}`;
  return resolution;
}

/** One operation of a POST body (or of a batch), resolved, and the listed text put in its place. */
function resolvePosted(manifest: Manifest, holder: Record<string, unknown>): Resolution {
  const resolution = resolveDocument(manifest, {
    query: holder.query,
    documentIds: holder.documentId === undefined ? [] : [holder.documentId],
    extensions: holder.extensions,
  });
  if (resolution.kind !== "listed") return resolution;
  holder.query = resolution.query;
  delete holder.documentId;
  const extensions = withoutPersistedQuery(holder.extensions);
  if (extensions) holder.extensions = extensions;
  else delete holder.extensions;
  return resolution;
}

/**
 * Before Apollo: each operation's hash becomes its listed document, or the request is
 * refused. Apollo has no `documentId`, and in this mode no persisted queries of its own,
 * so it sees the text only.
 */
export function registerDocumentIds(app: FastifyInstance, manifest: Manifest): void {
  app.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.url !== "/graphql") return;
    const resolutions =
      request.method === "GET"
        ? [resolveGet(manifest, request)]
        : (Array.isArray(request.body) ? request.body : [request.body])
            .filter((holder): holder is Record<string, unknown> => typeof holder === "object" && holder !== null)
            .map((holder) => resolvePosted(manifest, holder));
    for (const resolution of resolutions) {
      if (resolution.kind !== "refused") continue;
      const { code, status, message } = resolution.refusal;
      request.log.info({ code }, "request refused: not a trusted operation");
      return reply.code(status).send(errorResponseBody(message, code, request.id));
    }
  });
}

const UNTRUSTED_MESSAGE = "This server runs only trusted operations, and this one is not in its manifest";

/**
 * The list, enforced on what Apollo executes: an operation whose source (the text Apollo
 * parsed, whichever way it arrived) is not in the manifest is refused with FORBIDDEN (403)
 * before it executes; and such a text is told only that, never what parsing or validation
 * thought of it (which would map the schema for someone without a listed document).
 */
export function trustedDocumentsPlugin(manifest: Manifest): ApolloServerPlugin<Context> {
  const listed = (source: string) => manifest.has(sha256(source));
  const refusal = (requestId: string) => ({ message: UNTRUSTED_MESSAGE, extensions: { code: ErrorCode.FORBIDDEN, requestId } });
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ source, contextValue }) {
          if (listed(source)) return;
          contextValue.log.info({ code: ErrorCode.FORBIDDEN }, "request refused: not a trusted operation");
          throw new ClientError(UNTRUSTED_MESSAGE, ErrorCode.FORBIDDEN, { http: { status: 403 } });
        },
        async willSendResponse({ source, response, contextValue }) {
          if (source === undefined || listed(source)) return;
          response.body = { kind: "single", singleResult: { errors: [refusal(contextValue.requestId)] } };
          response.http.status = 403;
        },
      };
    },
  };
}
