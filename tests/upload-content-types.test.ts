import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser } from "./support/factories.js";
import { commit, download, tusCreate, upload } from "./support/files.js";
import { LogCapture, startServer, type TestServer } from "./support/server.js";

/** A file's content type is what its downloads send as Content-Type: one that cannot be sent must never be stored or sent. */

let server: TestServer;
const logs = new LogCapture();
beforeAll(async () => {
  server = await startServer({}, logs);
});
afterAll(() => server.close());

const errorLines = () => logs.lines.filter((line) => line.level >= 50);

describe("content types of uploads", () => {
  it("refuses at creation (400, nothing kept) a contentType that is not a media type a header can carry", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    for (const contentType of [
      'text/plain; charset="€"',
      "text/plain; charset=é",
      "text",
      "text/csv, text/plain",
      "text/plain; charset",
      'text/plain; x="a\tb"',
    ]) {
      const response = await tusCreate(server, { token: owner.token, length: 3, metadata: { datasetId: dataset.id, contentType } });
      expect(response.status, contentType).toBe(400);
      expect(await response.text(), contentType).toMatch(/contentType/);
    }
    expect(await server.database.query("select id from uploads where user_id = $1", [owner.id])).toEqual([]);
  });

  it("stores a content type normalised: type and parameter names in lower case, values as given", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const id = await upload(server, owner.token, dataset.id, Buffer.from("a,b\n1,2\n"), { contentType: 'Text/CSV ;Charset="UTF-8"' });
    const committed = await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: "t.csv", uploadId: id }] });
    expect(committed.errors).toBeUndefined();
    expect(committed.data.commitDatasetVersion.files[0].contentType).toBe("text/csv; charset=UTF-8");
    const response = await download(server, owner.token, dataset.id, 1, "t.csv");
    expect(response.headers.get("content-type")).toBe("text/csv; charset=UTF-8");
  });

  it("sends a stored content type that cannot be a header as application/octet-stream, with a token and a signed link, logging no error", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const bytes = Buffer.from("stored before content types were checked\n");
    const id = await upload(server, owner.token, dataset.id, bytes, { contentType: "text/plain" });
    // What an upload accepted before this check may have stored.
    await server.database.query(`update uploads set content_type = 'text/plain; charset="€"' where id = $1`, [id]);
    const committed = await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: "old.txt", uploadId: id }] });
    expect(committed.errors).toBeUndefined();
    const before = errorLines().length;

    const withToken = await download(server, owner.token, dataset.id, 1, "old.txt");
    expect(withToken.status).toBe(200);
    expect(withToken.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await withToken.arrayBuffer())).toEqual(bytes);
    const signed = await fetch(committed.data.commitDatasetVersion.files[0].downloadUrl);
    expect(signed.status).toBe(200);
    expect(signed.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await signed.arrayBuffer())).toEqual(bytes);
    const head = await download(server, owner.token, dataset.id, "latest", "old.txt", {}, "HEAD");
    expect(head.status).toBe(200);
    expect(errorLines().slice(before)).toEqual([]);
  });
});
