import type { FastifyReply, FastifyRequest } from "fastify";
import { authenticate, type Viewer } from "../auth/viewer.js";
import { ClientError } from "../common/errors.js";
import type { Database } from "../db/database.js";
import type { Services } from "../graphql/context.js";
import { createUserLoader } from "../users/loader.js";
import { findViewer } from "../users/store.js";
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
 * A valid signed link's user (still live, at the same token version), or the bearer of a
 * token; null once the refusal (401) is sent. `verifyLink` checks a link's signature for what
 * the route names (null: not a link for it, or expired, or the route takes no link for it).
 */
export async function whoAsks(
  request: FastifyRequest,
  reply: FastifyReply,
  services: Services,
  database: Database,
  verifyLink: (query: Record<string, unknown>, now: number) => DownloadGrant | null,
): Promise<Viewer | null> {
  const query = request.query as Record<string, unknown>;
  if (query.signature !== undefined) {
    const grant = verifyLink(query, Math.floor(Date.now() / 1000));
    const user = grant && UUID.test(grant.userId) && UUID.test(grant.sessionId) ? await findViewer(database, grant.userId, grant.sessionId) : null;
    if (!grant || !user?.sessionLive || !user.active || user.tokenVersion !== grant.tokenVersion) {
      refuse(reply, 401, "This download link is invalid or has expired: ask for a new one");
      return null;
    }
    return { id: user.id, role: user.role, sessionId: grant.sessionId, tokenVersion: grant.tokenVersion };
  }
  try {
    const viewer = await authenticate(request.headers.authorization, services.tokens, services.viewers, database, createUserLoader(database));
    if (!viewer)
      refuse(reply, 401, "Sign in first: downloads need Authorization: Bearer <access token>, or a signed link", {
        "www-authenticate": "Bearer",
      });
    return viewer;
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    refuse(reply, 401, error.message, { "www-authenticate": 'Bearer error="invalid_token"' });
    return null;
  }
}

/** A version in a route's URL: a number from 1, `latest` (null), or undefined for anything else. */
export function versionParam(param: string): number | null | undefined {
  return param === "latest" ? null : /^[1-9]\d{0,8}$/.test(param) ? Number(param) : undefined;
}
