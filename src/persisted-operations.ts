import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ConfigError } from "./config.js";

/**
 * Trusted documents (`PERSISTED_OPERATIONS=only`): the server runs only the operations
 * listed in a manifest of `sha256 hash → document`, as GraphQL Code Generator's client
 * preset writes it (`client/generated/persisted-documents.json`). A client sends the hash
 * (Apollo's `extensions.persistedQuery.sha256Hash`, or `documentId`) and no text; a text
 * whose hash is listed is accepted too. Anything else is refused before Apollo sees it.
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

/** The parts of one GraphQL-over-HTTP request that name its document. */
interface OperationParameters {
  query?: unknown;
  documentId?: unknown;
  extensions?: unknown;
}

type Verdict = { ok: true; query: string } | { ok: false; code: string; message: string; status: number };

/** Decides one operation: the listed document it stands for, or why it is refused. */
export function resolveTrusted(manifest: Manifest, parameters: OperationParameters): Verdict {
  const extensions = typeof parameters.extensions === "string" ? safeJson(parameters.extensions) : parameters.extensions;
  const persisted = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery;
  const hash =
    typeof parameters.documentId === "string"
      ? parameters.documentId.replace(/^sha256:/, "")
      : typeof persisted?.sha256Hash === "string"
        ? persisted.sha256Hash
        : typeof parameters.query === "string"
          ? sha256(parameters.query)
          : undefined;
  const query = hash === undefined ? undefined : manifest.get(hash);
  if (query !== undefined) return { ok: true, query };
  return typeof parameters.query === "string"
    ? { ok: false, code: "FORBIDDEN", status: 403, message: "This server runs only trusted operations, and this one is not in its manifest" }
    : { ok: false, code: "PERSISTED_QUERY_NOT_FOUND", status: 400, message: "No trusted operation has this hash" };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Before Apollo: replaces each operation's hash by its listed document, or refuses the
 * request. The persisted-query extension is dropped once resolved, so Apollo runs the text.
 */
export function registerTrustedDocuments(app: FastifyInstance, manifest: Manifest): void {
  app.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.url !== "/graphql") return;
    const holders: Array<Record<string, unknown>> =
      request.method === "GET"
        ? [request.query as Record<string, unknown>]
        : Array.isArray(request.body)
          ? (request.body as Array<Record<string, unknown>>)
          : request.body && typeof request.body === "object"
            ? [request.body as Record<string, unknown>]
            : [];
    for (const holder of holders) {
      const verdict = resolveTrusted(manifest, holder);
      if (!verdict.ok) {
        request.log.info({ code: verdict.code }, "request refused: not a trusted operation");
        return reply
          .code(verdict.status)
          .send({ errors: [{ message: verdict.message, extensions: { code: verdict.code, requestId: request.id } }] });
      }
      holder.query = verdict.query;
      delete holder.documentId;
      delete holder.extensions;
    }
  });
}
