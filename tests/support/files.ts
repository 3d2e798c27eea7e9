import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { TestServer } from "./server.js";

/** Helpers that speak tus 1.0.0 and the download route over plain HTTP, as any client does. */

export const sha256 = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

/** An Upload-Metadata header from plain values. */
export function uploadMetadata(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString("base64")}`)
    .join(",");
}

export interface CreateOptions {
  token?: string;
  length?: number | "deferred";
  metadata?: Record<string, string>;
  /** Bytes sent with the creation (creation-with-upload). */
  body?: Buffer;
}

/** POST /uploads: the raw response. */
export function tusCreate(server: TestServer, options: CreateOptions): Promise<Response> {
  const headers: Record<string, string> = { "tus-resumable": "1.0.0" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.length === "deferred") headers["upload-defer-length"] = "1";
  else if (options.length !== undefined) headers["upload-length"] = String(options.length);
  if (options.metadata) headers["upload-metadata"] = uploadMetadata(options.metadata);
  if (options.body) headers["content-type"] = "application/offset+octet-stream";
  return fetch(`${server.origin}/uploads`, { method: "POST", headers, body: options.body });
}

/** The upload id from a creation's Location. */
export function uploadIdOf(response: Response): string {
  const location = response.headers.get("location");
  expect(location, `no Location (status ${response.status})`).toBeTruthy();
  return location!.split("/").at(-1)!;
}

export function tusPatch(
  server: TestServer,
  token: string | undefined,
  id: string,
  offset: number,
  body: Buffer,
  extra: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.origin}/uploads/${id}`, {
    method: "PATCH",
    headers: {
      "tus-resumable": "1.0.0",
      "content-type": "application/offset+octet-stream",
      "upload-offset": String(offset),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...extra,
    },
    body,
  });
}

export function tusHead(server: TestServer, token: string | undefined, id: string): Promise<Response> {
  return fetch(`${server.origin}/uploads/${id}`, {
    method: "HEAD",
    headers: { "tus-resumable": "1.0.0", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
}

/** Uploads `bytes` into the dataset in one creation-with-upload request; returns the upload id. */
export async function upload(
  server: TestServer,
  token: string,
  datasetId: string,
  bytes: Buffer,
  metadata: Record<string, string> = {},
): Promise<string> {
  const response = await tusCreate(server, { token, length: bytes.length, metadata: { datasetId, ...metadata }, body: bytes });
  expect(response.status, await response.clone().text()).toBe(201);
  expect(response.headers.get("upload-offset")).toBe(String(bytes.length));
  return uploadIdOf(response);
}

export const VERSION_FIELDS = "number message fileCount totalSize author { id } files { path size sha256 contentType downloadUrl }";

/** commitDatasetVersion through GraphQL. */
export function commit(server: TestServer, token: string, input: Record<string, unknown>) {
  return server.graphql(`mutation Commit($input: CommitInput!) { commitDatasetVersion(input: $input) { ${VERSION_FIELDS} } }`, { input }, { token });
}

/** Uploads each file and commits them as the dataset's next version; returns the version. */
export async function commitFiles(
  server: TestServer,
  token: string,
  datasetId: string,
  files: Record<string, Buffer | null>,
  parentVersion?: number,
) {
  const changes = [];
  for (const [path, bytes] of Object.entries(files)) {
    changes.push({ path, uploadId: bytes === null ? null : await upload(server, token, datasetId, bytes) });
  }
  const response = await commit(server, token, { datasetId, changes, ...(parentVersion === undefined ? {} : { parentVersion }) });
  expect(response.errors).toBeUndefined();
  return response.data.commitDatasetVersion;
}

/** GET (or another method) of a file's bytes with a token. */
export function download(
  server: TestServer,
  token: string | undefined,
  datasetId: string,
  version: number | "latest",
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
) {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return fetch(`${server.origin}/datasets/${datasetId}/versions/${version}/files/${encoded}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

/** Polls (every 50 ms, for at most 20 s) until `check` holds; fails naming `what` otherwise. */
export async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/**
 * Makes the dataset's next version in SQL, by the manifest's rules (migrations/011), as a
 * commit of `count` uploads would: files `${prefix}1` … `${prefix}${count}` added, all holding
 * the committed content `sha256` (4 bytes each, text/plain); with `replaceAll`, every file
 * of the parent removed first. For versions of thousands of files without thousands of
 * uploads; returns the version's number.
 */
export async function seedVersion(
  server: TestServer,
  datasetId: string,
  sha256: string,
  count: number,
  { prefix = "f", replaceAll = false }: { prefix?: string; replaceAll?: boolean } = {},
): Promise<number> {
  return server.database.transaction(async (tx) => {
    const [{ number }] = (await tx.query<{ number: number }>(
      "update datasets set latest_version = latest_version + 1 where id = $1 returning latest_version as number",
      [datasetId],
    )) as [{ number: number }];
    if (replaceAll)
      await tx.query("update version_files set last_version = $2::int - 1 where dataset_id = $1 and last_version is null", [datasetId, number]);
    await tx.query(
      "insert into version_files (dataset_id, first_version, path, sha256, size, content_type) select $1, $2, $3 || n, $4, 4, 'text/plain' from generate_series(1, $5::int) n",
      [datasetId, number, prefix, sha256, count],
    );
    await tx.query(
      `insert into dataset_versions (dataset_id, number, file_count, total_size)
       select $1, $2, count(*), coalesce(sum(size), 0) from version_files where dataset_id = $1 and last_version is null`,
      [datasetId, number],
    );
    return number;
  });
}
