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

/** What a version's archive link names: no path, the whole version. */
export type ArchiveTarget = Omit<DownloadTarget, "path">;

/**
 * A link is for one kind of thing: a file ("download") or a version's archive ("archive").
 * The kind is signed, so a file's link never opens the archive, nor the other way round.
 */
type Purpose = "download" | "archive";

const signature = (key: string, purpose: Purpose, grant: DownloadGrant, target: DownloadTarget) =>
  createHmac("sha256", key)
    .update([purpose, grant.userId, grant.sessionId, grant.tokenVersion, grant.expires, target.datasetId, target.version, target.path].join("\n"))
    .digest("base64url");

function sign(key: string, purpose: Purpose, grant: DownloadGrant, target: DownloadTarget): string {
  const query = new URLSearchParams({
    user: grant.userId,
    session: grant.sessionId,
    ver: String(grant.tokenVersion),
    expires: String(grant.expires),
    signature: signature(key, purpose, grant, target),
  });
  return query.toString();
}

/** The link's query string (without `?`). */
export const signDownload = (key: string, grant: DownloadGrant, target: DownloadTarget): string => sign(key, "download", grant, target);

/** An archive link's query string (without `?`). */
export const signArchive = (key: string, grant: DownloadGrant, target: ArchiveTarget): string => sign(key, "archive", grant, { ...target, path: "" });

/**
 * The grant of a link whose signature is right for `target` and which has not expired at
 * `now` (seconds); null for anything else.
 */
export const verifyDownload = (key: string, query: Record<string, unknown>, target: DownloadTarget, now: number): DownloadGrant | null =>
  verify(key, "download", query, target, now);

/** The grant of an archive link signed for `target` and not expired at `now` (seconds); null for anything else. */
export const verifyArchive = (key: string, query: Record<string, unknown>, target: ArchiveTarget, now: number): DownloadGrant | null =>
  verify(key, "archive", query, { ...target, path: "" }, now);

function verify(key: string, purpose: Purpose, query: Record<string, unknown>, target: DownloadTarget, now: number): DownloadGrant | null {
  const { user, session, ver, expires, signature: given } = query;
  if (typeof user !== "string" || typeof session !== "string" || typeof ver !== "string" || typeof expires !== "string" || typeof given !== "string")
    return null;
  if (!/^\d{1,10}$/.test(ver) || !/^\d{1,12}$/.test(expires)) return null;
  const grant = { userId: user, sessionId: session, tokenVersion: Number(ver), expires: Number(expires) };
  if (grant.expires < now) return null;
  const expected = Buffer.from(signature(key, purpose, grant, target));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? grant : null;
}

/** The URL path of a file's bytes; each segment percent-encoded. */
export function downloadPath(target: DownloadTarget | { datasetId: string; version: number | "latest"; path: string }): string {
  const path = target.path.split("/").map(encodeURIComponent).join("/");
  return `/datasets/${target.datasetId}/versions/${target.version}/files/${path}`;
}

/** The URL path of a version's whole archive. */
export function archivePath(target: { datasetId: string; version: number | "latest" }): string {
  return `/datasets/${target.datasetId}/versions/${target.version}/archive.zip`;
}
