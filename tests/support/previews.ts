import { gzipSync } from "node:zlib";
import { expect } from "vitest";
import type { TestServer, UntypedData } from "./server.js";

/** Reading previews through HTTP, as a client waits for them. */

export const PREVIEW = "status format compressed rowCount columns { name type nullCount } rows(first: $rows) error";

/** The latest version's files with their previews, by path. */
export async function previewsOf(server: TestServer, token: string, datasetId: string, rows = 20) {
  const response = await server.graphql(
    `query($id: ID!, $rows: Int) { dataset(id: $id) { latestVersion { files { path sha256 preview { ${PREVIEW} } } } } }`,
    { id: datasetId, rows },
    { token },
  );
  expect(response.errors).toBeUndefined();
  return Object.fromEntries(
    response.data.dataset.latestVersion.files.map((file: UntypedData) => [file.path, { ...file.preview, sha256: file.sha256 }]),
  );
}

/** Polls until no preview of the dataset is PENDING; at most `seconds` (a loaded machine), then the test fails. */
export async function settledPreviews(server: TestServer, token: string, datasetId: string, rows = 20, seconds = 60) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const previews = await previewsOf(server, token, datasetId, rows);
    const pending = Object.entries(previews).filter(([, preview]: [string, UntypedData]) => preview.status === "PENDING");
    if (pending.length === 0) return previews;
    if (Date.now() > deadline) throw new Error(`still PENDING after ${seconds} s: ${pending.map(([path]) => path).join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * A gzip stream that inflates to `members` × 16.8 MB of CSV ("1,2" lines) from about 16 KB
 * each: 32 members (540 MB) keep a reader busy for seconds. Members of a gzip stream
 * concatenate; `header` makes the bytes differ.
 */
export function slowCsvGz(header = "a,b", members = 32): Buffer {
  const member = gzipSync(Buffer.from("1,2\n".repeat(4 * 1024 * 1024)));
  return Buffer.concat([gzipSync(Buffer.from(`${header}\n`)), ...Array.from({ length: members }, () => member)]);
}
