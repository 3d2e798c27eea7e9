import type { FastifyReply, FastifyRequest } from "fastify";
import { viewerOfCredential } from "../auth/credentials.js";
import { authenticate, type Viewer } from "../auth/viewer.js";
import { ClientError, credentialRefusal } from "../common/errors.js";
import { clientAddressOf } from "../http/client-address.js";
import type { Database } from "../db/database.js";
import type { Services } from "../graphql/context.js";
import { createUserLoader } from "../users/loader.js";
import type { DownloadGrant } from "./signed-urls.js";

/**
 * Who asks for bytes over the file routes (a file's download, a version's archive): the same
 * answer for both, so both doors have one rule. The dataset's read scope is then checked by
 * the statement that finds what is asked for.
 */

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A plain-text refusal; 404 says the same for "not yours" and "absent". */
export const refuse = (reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}) =>
  reply
    .code(status)
    .headers({ "cache-control": "no-store", ...headers })
    .type("text/plain; charset=utf-8")
    .send(`${message}\n`);

/**
 * Who asks: a valid signed link's user (still live, at the same token version; a link made
 * through a personal access token stops with the token), the bearer of a credential, or
 * (null) nobody: no credential at all, counted against the address's anonymous limit (what an
 * anonymous reader may fetch is the dataset's visibility's to say: the read scope).
 * Undefined: refused here, the reply sent (401, or 429 past a limit). `verifyLink` checks a
 * link's signature for what the route names (null: not a link for it, or expired, or the
 * route takes no link for it).
 */
export async function whoAsks(
  request: FastifyRequest,
  reply: FastifyReply,
  services: Services,
  database: Database,
  verifyLink: (query: Record<string, unknown>, now: number) => DownloadGrant | null,
): Promise<Viewer | null | undefined> {
  const query = request.query as Record<string, unknown>;
  if (query.signature !== undefined) {
    const grant = verifyLink(query, Math.floor(Date.now() / 1000));
    const viewer =
      grant && UUID.test(grant.userId) && UUID.test(grant.sessionId)
        ? await viewerOfCredential(database, grant.userId, grant.sessionId, grant.tokenVersion)
        : null;
    if (!grant || !viewer) {
      refuse(reply, 401, "This download link is invalid or has expired: ask for a new one");
      return undefined;
    }
    return viewer;
  }
  try {
    const viewer = await authenticate(request.headers.authorization, clientAddressOf(request), services, database, createUserLoader(database));
    if (!viewer) services.anonymousLimit.consume(clientAddressOf(request));
    return viewer;
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    const { status, headers } = credentialRefusal(error);
    refuse(reply, status, error.message, headers);
    return undefined;
  }
}

/** A version in a route's URL: a number from 1, `latest` (null), or undefined for anything else. */
export function versionParam(param: string): number | null | undefined {
  return param === "latest" ? null : /^[1-9]\d{0,8}$/.test(param) ? Number(param) : undefined;
}
