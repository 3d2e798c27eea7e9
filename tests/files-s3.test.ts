import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser } from "./support/factories.js";
import { commitFiles, download, eventually, sha256 } from "./support/files.js";
import { startS3Server, type S3TestServer } from "./support/s3-server.js";
import { startServer, type TestServer } from "./support/server.js";

/** The whole file path through HTTP with content in an S3 bucket (s3rver, started here): upload, commit, download, delete. */

let s3: S3TestServer;
let server: TestServer;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3Server();
  server = await startServer({
    STORAGE_URL: `s3://${s3.bucket}/datasets`,
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: "us-east-1",
    S3_FORCE_PATH_STYLE: "true",
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  });
  client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: s3.credentials });
});
afterAll(async () => {
  client?.destroy();
  await server?.close();
  await s3?.close();
});

async function keysInBucket(): Promise<string[]> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
  return (listed.Contents ?? []).map((object) => object.Key!);
}

describe("files on S3 storage", () => {
  it("stores committed content in the bucket once, serves it with ranges, explores its table, and leaves nothing after the dataset is deleted", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const csv = Buffer.from("city,population\nOslo,709037\nBergen,291940\n");
    const version = await commitFiles(server, owner.token, dataset.id, { "cities.csv": csv, "again.csv": csv });
    expect(version.files.map((file: { sha256: string }) => file.sha256)).toEqual([sha256(csv), sha256(csv)]);
    const blobKey = `datasets/blobs/${sha256(csv).slice(0, 2)}/${sha256(csv)}`;
    // The content once (the preview's job may already have added the table's columnar copy beside it).
    expect((await keysInBucket()).filter((key) => key === blobKey)).toEqual([blobKey]);

    const whole = await download(server, owner.token, dataset.id, 1, "cities.csv");
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(csv);
    const ranged = await download(server, owner.token, dataset.id, "latest", "again.csv", { range: "bytes=5-14" });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(csv.subarray(5, 15));

    // The preview's worker reads a temporary local copy of the object (bounded wait: 30 s).
    let preview: { status: string; rowCount: number | null } | undefined;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && (!preview || preview.status === "PENDING"); ) {
      const answer = await server.graphql(
        `query($id: ID!) { dataset(id: $id) { latestVersion { files { path preview { status rowCount } } } } }`,
        { id: dataset.id },
        { token: owner.token },
      );
      preview = answer.data.dataset.latestVersion.files.find((file: { path: string }) => file.path === "cities.csv").preview;
      if (preview?.status === "PENDING") await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(preview).toEqual({ status: "READY", rowCount: 2 });
    // The table's columnar copy is the one other object; row queries read a local copy of it.
    expect((await keysInBucket()).filter((key) => key !== blobKey)).toHaveLength(1);
    const rows = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { files { path table { rows(orderBy: [{ column: "population" }], where: { column: "population", op: GT, value: 1000 }) { nodes totalCount } } } } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(rows.errors).toBeUndefined();
    expect(rows.data.dataset.latestVersion.files.find((file: { path: string }) => file.path === "cities.csv").table.rows).toEqual({
      nodes: [
        ["Bergen", 291940],
        ["Oslo", 709037],
      ],
      totalCount: 2,
    });

    const deleted = await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, { token: owner.token });
    expect(deleted.errors).toBeUndefined();
    // Content goes right after the answer, not before it.
    await eventually(async () => (await keysInBucket()).length === 0, "the bucket is empty");
  });
});
