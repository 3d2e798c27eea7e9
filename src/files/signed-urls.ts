import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Download links that need no Authorization header (for `<a href>`): the URL carries who
 * it was made for and until when, signed with HMAC-SHA256 over the dataset, version and
 * path it names. The signature only says who asks; the download route then checks, as for
 * a token, that the session is still live at the token version, and the dataset still
 * readable by that user, so a link dies with its session or the access.
 */

/** Who a link was made for, and when it stops working. */
export interface DownloadGrant {
  userId: string;
  sessionId: string;
  tokenVersion: number;
  /** Unix time in seconds. */
  expires: number;
}

/** What a link names: the same values the route takes from the URL's path. */
export interface DownloadTarget {
  datasetId: string;
  version: number;
  path: string;
}

const signature = (key: string, grant: DownloadGrant, target: DownloadTarget) =>
  createHmac("sha256", key)
    .update(["download", grant.userId, grant.sessionId, grant.tokenVersion, grant.expires, target.datasetId, target.version, target.path].join("\n"))
    .digest("base64url");

/** The link's query string (without `?`). */
export function signDownload(key: string, grant: DownloadGrant, target: DownloadTarget): string {
  const query = new URLSearchParams({
    user: grant.userId,
    session: grant.sessionId,
    ver: String(grant.tokenVersion),
    expires: String(grant.expires),
    signature: signature(key, grant, target),
  });
  return query.toString();
}

/**
 * The grant of a link whose signature is right for `target` and which has not expired at
 * `now` (seconds); null for anything else.
 */
export function verifyDownload(key: string, query: Record<string, unknown>, target: DownloadTarget, now: number): DownloadGrant | null {
  const { user, session, ver, expires, signature: given } = query;
  if (typeof user !== "string" || typeof session !== "string" || typeof ver !== "string" || typeof expires !== "string" || typeof given !== "string")
    return null;
  if (!/^\d{1,10}$/.test(ver) || !/^\d{1,12}$/.test(expires)) return null;
  const grant = { userId: user, sessionId: session, tokenVersion: Number(ver), expires: Number(expires) };
  if (grant.expires < now) return null;
  const expected = Buffer.from(signature(key, grant, target));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? grant : null;
}

/** The URL path of a file's bytes; each segment percent-encoded. */
export function downloadPath(target: DownloadTarget | { datasetId: string; version: number | "latest"; path: string }): string {
  const path = target.path.split("/").map(encodeURIComponent).join("/");
  return `/datasets/${target.datasetId}/versions/${target.version}/files/${path}`;
}
