/**
 * The server's client for the parts that move files (files, previews, events), over plain
 * `node:http` as any tus client speaks it: creation, PATCH bodies streamed from a file on
 * disk (the load generator never holds a file in memory), a small upload in its creation
 * request, the download streamed into a file; and GraphQL calls around them.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { request, type IncomingMessage } from "node:http";
import { pipeline } from "node:stream/promises";

const TUS = { "tus-resumable": "1.0.0" };
/** The client's read size: larger than Node's 64 KiB default, so the load generator spends less CPU per byte. */
const READ_BUFFER = 2 ** 20;

/** Where an upload is and whose it is. */
export interface UploadTarget {
  origin: string;
  token: string;
  /** The upload's URL path, from the creation's Location. */
  path: string;
}

export interface UploadTiming {
  bytes: number;
  requests: number;
  /** From the creation request to the answer of the PATCH that finished it. */
  seconds: number;
  /**
   * From the last byte read for sending to that answer: the server's finishing (its last
   * writes, the SHA-256, the fsync and the rename into the blob store, the upload's rows).
   */
  finishSeconds: number;
}

/** POST /uploads with the length and metadata; returns the upload's path. */
export async function createUpload(origin: string, token: string, length: number, metadata: Record<string, string>): Promise<string> {
  const response = await fetch(`${origin}/uploads`, {
    method: "POST",
    headers: {
      ...TUS,
      authorization: `Bearer ${token}`,
      "upload-length": String(length),
      "upload-metadata": Object.entries(metadata)
        .map(([key, value]) => `${key} ${Buffer.from(value).toString("base64")}`)
        .join(","),
    },
  });
  const text = await response.text();
  const location = response.headers.get("location");
  if (response.status !== 201 || !location) throw new Error(`tus creation answered HTTP ${response.status}: ${text.slice(0, 300)}`);
  return new URL(location, `${origin}/uploads/`).pathname;
}

/**
 * Uploads the whole of `file` (`size` bytes) into a new upload of `datasetId`, `chunkBytes`
 * per PATCH (Infinity: one request, as tus-js-client does by default).
 */
export async function uploadFile(
  origin: string,
  token: string,
  datasetId: string,
  file: string,
  size: number,
  chunkBytes: number,
): Promise<UploadTiming & { uploadId: string }> {
  const started = performance.now();
  const path = await createUpload(origin, token, size, { datasetId, filename: file.split("/").at(-1)! });
  let offset = 0;
  let requests = 0;
  let lastSent = started;
  while (offset < size) {
    const end = Math.min(size, offset + chunkBytes);
    const answer = await patchFromFile({ origin, token, path }, file, offset, end);
    requests += 1;
    lastSent = answer.sentAt;
    if (answer.offset !== end) throw new Error(`PATCH ${offset}-${end} of ${path}: the server reports offset ${answer.offset}`);
    offset = end;
  }
  const finished = performance.now();
  return {
    uploadId: path.split("/").at(-1)!,
    bytes: size,
    requests,
    seconds: (finished - started) / 1000,
    finishSeconds: (finished - lastSent) / 1000,
  };
}

/** One PATCH carrying bytes `start` to `end` (exclusive) of `file`; the offset the server then reports. */
export function patchFromFile(target: UploadTarget, file: string, start: number, end: number): Promise<{ offset: number; sentAt: number }> {
  return new Promise((resolve, reject) => {
    let sentAt = Number.NaN;
    const outgoing = request(`${target.origin}${target.path}`, {
      method: "PATCH",
      headers: {
        ...TUS,
        authorization: `Bearer ${target.token}`,
        "content-type": "application/offset+octet-stream",
        "upload-offset": String(start),
        "content-length": String(end - start),
      },
    });
    outgoing.once("response", (response) => {
      void textOf(response).then((text) => {
        if (response.statusCode !== 204)
          reject(new Error(`PATCH ${target.path} at ${start} answered HTTP ${response.statusCode}: ${text.slice(0, 300)}`));
        else resolve({ offset: Number(response.headers["upload-offset"]), sentAt });
      }, reject);
    });
    outgoing.once("error", reject);
    const body = createReadStream(file, { start, end: end - 1, highWaterMark: READ_BUFFER });
    body.once("end", () => (sentAt = performance.now()));
    pipeline(body, outgoing).catch(reject);
  });
}

/** tus creation-with-upload of a few bytes; the upload's id. */
export async function uploadSmall(origin: string, token: string, datasetId: string, text: string): Promise<string> {
  const body = Buffer.from(text);
  const response = await fetch(`${origin}/uploads`, {
    method: "POST",
    headers: {
      ...TUS,
      authorization: `Bearer ${token}`,
      "upload-length": String(body.length),
      "upload-metadata": `datasetId ${Buffer.from(datasetId).toString("base64")}`,
      "content-type": "application/offset+octet-stream",
    },
    body,
  });
  const location = response.headers.get("location");
  await response.arrayBuffer();
  if (response.status !== 201 || !location) throw new Error(`tus creation answered HTTP ${response.status}`);
  return location.split("/").at(-1)!;
}

export interface DownloadTiming {
  bytes: number;
  status: number;
  seconds: number;
  /** To the response's headers. */
  firstByteSeconds: number;
}

/** GET `path` with the token, its body streamed into `file` (hash it afterwards, outside the timing). */
export function downloadToFile(origin: string, token: string, path: string, file: string): Promise<DownloadTiming> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const outgoing = request(`${origin}${path}`, { method: "GET", headers: { authorization: `Bearer ${token}` } });
    outgoing.once("error", reject);
    outgoing.once("response", (response) => {
      const firstByteSeconds = (performance.now() - started) / 1000;
      if (response.statusCode !== 200) {
        void textOf(response).then((text) => reject(new Error(`GET ${path} answered HTTP ${response.statusCode}: ${text.slice(0, 300)}`)), reject);
        return;
      }
      pipeline(response, createWriteStream(file)).then(async () => {
        const seconds = (performance.now() - started) / 1000;
        resolve({ bytes: (await stat(file)).size, status: response.statusCode!, seconds, firstByteSeconds });
      }, reject);
    });
    outgoing.end();
  });
}

/** A GraphQL call, signed in with `token` or anonymous (null); its data, or an error with the answer's start. */
export async function graphql<T>(origin: string, token: string | null, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(`${origin}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  const body = JSON.parse(text) as { data?: T; errors?: unknown };
  if (response.status !== 200 || body.errors !== undefined || !body.data)
    throw new Error(`GraphQL answered HTTP ${response.status}: ${text.slice(0, 500)}`);
  return body.data;
}

async function textOf(response: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of response) text += (chunk as Buffer).toString();
  return text;
}
