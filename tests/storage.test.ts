import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BlobStore } from "../src/storage/blob-store.js";
import { BlobNotFoundError, ChecksumMismatchError, InvalidContentAddressError, TooLargeError } from "../src/storage/errors.js";
import { FileBlobStore } from "../src/storage/file-store.js";
import { openBlobStore, parseStorageUrl } from "../src/storage/open.js";
import { createS3Client } from "../src/storage/s3-client.js";
import { S3BlobStore } from "../src/storage/s3-store.js";
import { startS3Server, type S3TestServer } from "./support/s3-server.js";

const MiB = 1024 * 1024;
const HELLO = "hello world";
const HELLO_SHA256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const HOUR = 3600_000;

/** What one store under test is, plus ways to look at its backing storage around the store. */
interface StoreHarness {
  store: BlobStore;
  /** Temporary writes and unfinished uploads present in the backing storage. */
  leftovers(): Promise<string[]>;
  /** Every file or object (and unfinished upload) present in the backing storage. */
  everything(): Promise<string[]>;
  /** Leaves temporary writes as a crashed process would; returns how many a sweep should remove. */
  leaveCrashedWrites(): Promise<number>;
  /** Moves the store's clock forward. */
  advanceClock(milliseconds: number): void;
  close(): Promise<void>;
}

/** Deterministic content whose every 64 KiB chunk differs, so parts put out of order show. */
function* chunks(size: number): Generator<Buffer> {
  const chunkSize = 64 * 1024;
  for (let offset = 0, index = 0; offset < size; offset += chunkSize, index += 1) {
    const chunk = Buffer.alloc(Math.min(chunkSize, size - offset), (index * 31) % 256);
    chunk.writeUInt32BE(index, 0);
    yield chunk;
  }
}
const generated = (size: number) => Readable.from(chunks(size));
function sha256OfGenerated(size: number): string {
  const hash = createHash("sha256");
  for (const chunk of chunks(size)) hash.update(chunk);
  return hash.digest("hex");
}
/** A body that sends `bytesBeforeFailure` bytes, then fails the way a dropped connection does. */
function failingBody(bytesBeforeFailure: number): Readable {
  return Readable.from(
    (async function* () {
      yield* chunks(bytesBeforeFailure);
      throw new Error("connection reset by peer");
    })(),
  );
}
const sha256Of = (text: string) => createHash("sha256").update(text).digest("hex");

async function bytesOf(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(parts);
}
async function sha256OfStream(stream: NodeJS.ReadableStream): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}
async function listed(store: BlobStore): Promise<string[]> {
  const addresses: string[] = [];
  for await (const sha256 of store.list()) addresses.push(sha256);
  return addresses.sort();
}

/** The one storage suite: every store must pass it unchanged. */
function blobStoreSuite(makeHarness: () => Promise<StoreHarness>, localDirectory: () => string): void {
  let harness: StoreHarness;
  let store: BlobStore;
  beforeEach(async () => {
    harness = await makeHarness();
    store = harness.store;
  });
  afterEach(async () => {
    await harness.close();
  });

  it("puts a stream under its SHA-256 and reads the same bytes back", async () => {
    expect(await store.put(Readable.from([Buffer.from(HELLO)]))).toEqual({ sha256: HELLO_SHA256, size: 11 });
    expect((await bytesOf(await store.read(HELLO_SHA256))).toString()).toBe(HELLO);
    expect(await store.stat(HELLO_SHA256)).toEqual({ size: 11 });
    expect(await listed(store)).toEqual([HELLO_SHA256]);
    expect(await harness.leftovers()).toEqual([]);
  });

  it("stores empty content", async () => {
    expect(await store.put(Readable.from([]))).toEqual({ sha256: EMPTY_SHA256, size: 0 });
    expect((await bytesOf(await store.read(EMPTY_SHA256))).length).toBe(0);
    expect(await store.stat(EMPTY_SHA256)).toEqual({ size: 0 });
  });

  it("streams 20 MiB through (several multipart parts on S3) and back, bytes in order", async () => {
    const size = 20 * MiB;
    const sha256 = sha256OfGenerated(size);
    expect(await store.put(generated(size), { maxBytes: size })).toEqual({ sha256, size });
    expect(await sha256OfStream(await store.read(sha256))).toEqual({ sha256, size });
    // A range across the boundary between the first two 8 MiB parts.
    const all = Buffer.concat([...chunks(size)]);
    const range = { start: 8 * MiB - 3, end: 8 * MiB + 2 };
    expect(await bytesOf(await store.read(sha256, range))).toEqual(all.subarray(range.start, range.end + 1));
    expect(await listed(store)).toEqual([sha256]);
    expect(await harness.leftovers()).toEqual([]);
  });

  it("reads one inclusive range: the first byte, the last byte, the middle", async () => {
    const content = Array.from({ length: 100 }, (_, index) => String(index).padStart(3, "0")).join("");
    const { sha256 } = await store.put(Readable.from([Buffer.from(content)]));
    const read = async (start: number, end: number) => (await bytesOf(await store.read(sha256, { start, end }))).toString();
    expect(await read(0, 0)).toBe("0");
    expect(await read(299, 299)).toBe("9");
    expect(await read(150, 155)).toBe("050051");
    expect(await read(0, 299)).toBe(content);
  });

  it("refuses content that does not hash to the announced SHA-256, keeping nothing", async () => {
    const announced = sha256Of("something else");
    const refusal = await store.put(Readable.from([Buffer.from(HELLO)]), { expectedSha256: announced }).catch((e) => e);
    expect(refusal).toBeInstanceOf(ChecksumMismatchError);
    expect(refusal).toMatchObject({ expectedSha256: announced, actualSha256: HELLO_SHA256 });
    expect(await listed(store)).toEqual([]);
    expect(await store.stat(HELLO_SHA256)).toBeNull();
    expect(await store.stat(announced)).toBeNull();
    expect(await harness.everything()).toEqual([]);
  });

  it("accepts content that hashes to the announced SHA-256", async () => {
    expect(await store.put(Readable.from([Buffer.from(HELLO)]), { expectedSha256: HELLO_SHA256 })).toEqual({
      sha256: HELLO_SHA256,
      size: 11,
    });
  });

  it("takes exactly maxBytes, and refuses one byte more, keeping nothing", async () => {
    expect(await store.put(Readable.from([Buffer.from(HELLO)]), { maxBytes: 11 })).toEqual({
      sha256: HELLO_SHA256,
      size: 11,
    });
    await store.delete(HELLO_SHA256);
    await expect(store.put(Readable.from([Buffer.from(HELLO)]), { maxBytes: 10 })).rejects.toBeInstanceOf(TooLargeError);
    expect(await listed(store)).toEqual([]);
    expect(await harness.everything()).toEqual([]);
  });

  it("cuts off a large body at maxBytes (after whole parts went to S3), keeping nothing", async () => {
    const refusal = await store.put(generated(20 * MiB), { maxBytes: 12 * MiB }).catch((e) => e);
    expect(refusal).toBeInstanceOf(TooLargeError);
    expect(refusal).toMatchObject({ maxBytes: 12 * MiB });
    expect(await listed(store)).toEqual([]);
    expect(await harness.everything()).toEqual([]);
  });

  it("keeps nothing under any address when the body fails half-way, and reports that failure", async () => {
    for (const bytesBeforeFailure of [1000, 12 * MiB]) {
      await expect(store.put(failingBody(bytesBeforeFailure))).rejects.toThrow("connection reset by peer");
      expect(await listed(store)).toEqual([]);
      expect(await store.stat(sha256OfGenerated(bytesBeforeFailure))).toBeNull();
      expect(await harness.everything()).toEqual([]);
    }
  });

  it("stores the same content once, however often and however concurrently it is put", async () => {
    await store.put(Readable.from([Buffer.from(HELLO)]));
    const again = await Promise.all([1, 2, 3].map(() => store.put(Readable.from([Buffer.from(HELLO)]))));
    expect(again).toEqual([1, 2, 3].map(() => ({ sha256: HELLO_SHA256, size: 11 })));
    expect(await listed(store)).toEqual([HELLO_SHA256]);
    expect(await harness.leftovers()).toEqual([]);
    expect(await harness.everything()).toHaveLength(1);
  });

  it("moves a local file into place with putFile, removing it, and writes the next one of the same content over it (one object)", async () => {
    const first = join(localDirectory(), `${randomUUID()}.part`);
    await writeFile(first, HELLO);
    await store.putFile(HELLO_SHA256, first, 11);
    expect(existsSync(first)).toBe(false);
    expect((await bytesOf(await store.read(HELLO_SHA256))).toString()).toBe(HELLO);

    const second = join(localDirectory(), `${randomUUID()}.part`);
    await writeFile(second, HELLO);
    await store.putFile(HELLO_SHA256, second, 11);
    expect(existsSync(second)).toBe(false);
    expect(await listed(store)).toEqual([HELLO_SHA256]);
    expect(await harness.everything()).toHaveLength(1);
  });

  it("moves a 12 MiB local file in with putFile (a multipart upload on S3)", async () => {
    const size = 12 * MiB;
    const sha256 = sha256OfGenerated(size);
    const file = join(localDirectory(), `${randomUUID()}.part`);
    await pipeline(generated(size), createWriteStream(file));
    await store.putFile(sha256, file, size);
    expect(existsSync(file)).toBe(false);
    expect(await sha256OfStream(await store.read(sha256))).toEqual({ sha256, size });
    expect(await harness.everything()).toHaveLength(1);
  });

  it("refuses putFile when the local file's size is not the one given, storing nothing", async () => {
    const local = join(localDirectory(), `${randomUUID()}.part`);
    await writeFile(local, HELLO);
    await expect(store.putFile(HELLO_SHA256, local, 12)).rejects.toThrow(/holds 11 bytes/);
    expect(existsSync(local)).toBe(true);
    expect(await harness.everything()).toEqual([]);
    await rm(local);
  });

  it("answers absent content: stat null, read BlobNotFoundError, delete fine", async () => {
    const absent = sha256Of("never stored");
    expect(await store.stat(absent)).toBeNull();
    const failure = await store.read(absent).catch((e) => e);
    expect(failure).toBeInstanceOf(BlobNotFoundError);
    expect(failure).toMatchObject({ sha256: absent });
    await expect(store.delete(absent)).resolves.toBeUndefined();
  });

  it("deletes content: then read is BlobNotFoundError and the address is gone", async () => {
    await store.put(Readable.from([Buffer.from(HELLO)]));
    await store.delete(HELLO_SHA256);
    await expect(store.read(HELLO_SHA256)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.read(HELLO_SHA256, { start: 0, end: 0 })).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await store.stat(HELLO_SHA256)).toBeNull();
    expect(await listed(store)).toEqual([]);
    expect(await harness.everything()).toEqual([]);
  });

  it("sweeps temporary writes older than the given age, and only those", async () => {
    await store.put(Readable.from([Buffer.from(HELLO)]));
    const crashed = await harness.leaveCrashedWrites();
    expect(await harness.leftovers()).toHaveLength(crashed);
    expect(await store.sweepTemporary(HOUR)).toBe(0);
    expect(await harness.leftovers()).toHaveLength(crashed);

    harness.advanceClock(2 * HOUR);
    expect(await store.sweepTemporary(HOUR)).toBe(crashed);
    expect(await harness.leftovers()).toEqual([]);
    expect((await bytesOf(await store.read(HELLO_SHA256))).toString()).toBe(HELLO);
    expect(await store.sweepTemporary(HOUR)).toBe(0);
  });

  it("refuses anything but 64 lower-case hex digits as an address, before any I/O", async () => {
    for (const address of ["../../../etc/passwd", HELLO_SHA256.toUpperCase(), HELLO_SHA256.slice(1), ""]) {
      await expect(store.read(address)).rejects.toBeInstanceOf(InvalidContentAddressError);
      await expect(store.stat(address)).rejects.toBeInstanceOf(InvalidContentAddressError);
      await expect(store.delete(address)).rejects.toBeInstanceOf(InvalidContentAddressError);
    }
    await expect(store.put(Readable.from([Buffer.from(HELLO)]), { expectedSha256: HELLO_SHA256.toUpperCase() })).rejects.toBeInstanceOf(
      InvalidContentAddressError,
    );
    expect(await harness.everything()).toEqual([]);
  });
}

describe("filesystem blob store", () => {
  let root: string;
  let local: string;
  let clockOffset = 0;

  async function makeHarness(): Promise<StoreHarness> {
    root = await mkdtemp(join(tmpdir(), "blob-store-"));
    local = await mkdtemp(join(tmpdir(), "blob-local-"));
    clockOffset = 0;
    const store = await FileBlobStore.open(root, { now: () => Date.now() + clockOffset });
    const files = async (directory: string) =>
      (await readdir(directory, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.path, entry.name).slice(root.length + 1))
        .sort();
    return {
      store,
      leftovers: () => files(join(root, ".tmp")),
      everything: () => files(root),
      async leaveCrashedWrites() {
        await writeFile(join(root, ".tmp", randomUUID()), "half a file");
        return 1;
      },
      advanceClock: (milliseconds) => (clockOffset += milliseconds),
      async close() {
        await store.close();
        await rm(root, { recursive: true, force: true });
        await rm(local, { recursive: true, force: true });
      },
    };
  }

  describe("the storage suite", () => blobStoreSuite(makeHarness, () => local));

  describe("on its own", () => {
    let harness: StoreHarness;
    beforeEach(async () => (harness = await makeHarness()));
    afterEach(async () => harness.close());

    it("lays objects out as <root>/<sha[0:2]>/<sha[2:4]>/<sha>, named by a file: URL", async () => {
      await harness.store.put(Readable.from([Buffer.from(HELLO)]));
      expect(await harness.everything()).toEqual([join("b9", "4d", HELLO_SHA256)]);
      expect(harness.store.description).toBe(`file://${root}`);
      expect(harness.store.presignRead).toBeUndefined();
    });

    // /dev/shm is a tmpfs on Linux: another filesystem than the temporary directory's disk.
    const otherFilesystem = existsSync("/dev/shm") ? "/dev/shm" : undefined;
    it.skipIf(otherFilesystem === undefined)("putFile from another filesystem copies into its temporary place, then renames", async () => {
      const [here, there] = await Promise.all([stat(tmpdir()), stat(otherFilesystem!)]);
      expect(here.dev, "the test needs /dev/shm on another device than the temporary directory").not.toBe(there.dev);
      const far = join(otherFilesystem!, `blob-local-${randomUUID()}`);
      await writeFile(far, HELLO);
      try {
        await harness.store.putFile(HELLO_SHA256, far, 11);
      } finally {
        await rm(far, { force: true }).catch(() => {});
      }
      expect(existsSync(far)).toBe(false);
      expect((await bytesOf(await harness.store.read(HELLO_SHA256))).toString()).toBe(HELLO);
      expect(await harness.everything()).toEqual([join("b9", "4d", HELLO_SHA256)]);
    });
  });
});

describe("S3 blob store (against s3rver)", () => {
  let server: S3TestServer;
  let admin: S3Client;
  let local: string;
  const s3Settings = () => ({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: server.credentials,
  });

  beforeAll(async () => {
    server = await startS3Server();
    admin = createS3Client(s3Settings());
    local = await mkdtemp(join(tmpdir(), "blob-local-"));
  });
  afterAll(async () => {
    admin?.destroy();
    await server?.close();
    if (local) await rm(local, { recursive: true, force: true });
  });

  async function keys(bucket: string, prefix: string): Promise<string[]> {
    const objects = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return [
      ...(objects.Contents ?? []).map((object) => object.Key!),
      ...(uploads.Uploads ?? []).map((upload) => `${upload.Key} (unfinished upload)`),
    ].sort();
  }

  function makeHarness(options: Partial<ConstructorParameters<typeof S3BlobStore>[0]> = {}) {
    return async (): Promise<StoreHarness> => {
      // Each store its own prefix in the one bucket, as tenants of a shared bucket would be.
      const prefix = `suite-${randomUUID()}`;
      let clockOffset = 0;
      const store = new S3BlobStore({
        client: createS3Client(s3Settings()),
        ownsClient: true,
        bucket: server.bucket,
        prefix,
        now: () => Date.now() + clockOffset,
        ...options,
      });
      return {
        store,
        leftovers: async () =>
          (await keys(server.bucket, `${prefix}/`)).filter((key) => key.startsWith(`${prefix}/tmp/`) || key.endsWith("(unfinished upload)")),
        everything: () => keys(server.bucket, `${prefix}/`),
        async leaveCrashedWrites() {
          // A put that died before its copy; a streamed put that died between parts; a putFile
          // that died between parts of its direct multipart upload.
          await admin.send(new PutObjectCommand({ Bucket: server.bucket, Key: `${prefix}/tmp/${randomUUID()}`, Body: "half" }));
          for (const key of [`${prefix}/tmp/${randomUUID()}`, `${prefix}/blobs/b9/${HELLO_SHA256}`]) {
            const { UploadId } = await admin.send(new CreateMultipartUploadCommand({ Bucket: server.bucket, Key: key }));
            await admin.send(new UploadPartCommand({ Bucket: server.bucket, Key: key, UploadId, PartNumber: 1, Body: "part" }));
          }
          return 3;
        },
        advanceClock: (milliseconds) => (clockOffset += milliseconds),
        close: () => store.close(),
      };
    };
  }

  describe("the storage suite", () => blobStoreSuite(makeHarness(), () => local));

  describe("the storage suite, copying with UploadPartCopy from 5 MiB on", () =>
    blobStoreSuite(makeHarness({ multipartCopyThreshold: 5 * MiB, copyPartSize: 5 * MiB }), () => local));

  describe("on its own", () => {
    let harness: StoreHarness;
    beforeEach(async () => (harness = await makeHarness()()));
    afterEach(async () => harness.close());

    it("presigns a GET that answers with the bytes, the Content-Disposition and the Content-Type", async () => {
      const { sha256 } = await harness.store.put(Readable.from([Buffer.from("a,b\n1,2\n")]));
      const contentDisposition = `attachment; filename="data.csv"; filename*=UTF-8''donn%C3%A9es.csv`;
      const url = await harness.store.presignRead!(sha256, {
        expiresInSeconds: 300,
        contentDisposition,
        contentType: "text/csv",
      });
      expect(url).toMatch(/X-Amz-Expires=300/);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("a,b\n1,2\n");
      expect(response.headers.get("content-disposition")).toBe(contentDisposition);
      expect(response.headers.get("content-type")).toBe("text/csv");
      await expect(harness.store.presignRead!(sha256, { expiresInSeconds: 0, contentDisposition, contentType: "text/csv" })).rejects.toBeInstanceOf(
        RangeError,
      );
    });

    it("keeps every key under its prefix, and two prefixes in one bucket apart", async () => {
      const bucket = `prefixed-${randomUUID().slice(0, 8)}`;
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      const settings = s3Settings();
      const tenantA = await openBlobStore({ url: `s3://${bucket}/tenants/a`, s3: settings });
      const tenantB = await openBlobStore({ url: `s3://${bucket}/tenants/b/`, s3: settings });
      try {
        expect(tenantA.description).toBe(`s3://${bucket}/tenants/a`);
        await tenantA.put(Readable.from([Buffer.from(HELLO)]));
        const localFile = join(local, `${randomUUID()}.part`);
        await writeFile(localFile, "other");
        await tenantA.putFile(sha256Of("other"), localFile, 5);
        const all = await keys(bucket, "");
        expect(all).toEqual([`tenants/a/blobs/b9/${HELLO_SHA256}`, `tenants/a/blobs/${sha256Of("other").slice(0, 2)}/${sha256Of("other")}`].sort());
        expect(await listed(tenantA)).toEqual([HELLO_SHA256, sha256Of("other")].sort());
        expect(await listed(tenantB)).toEqual([]);
        expect(await tenantB.stat(HELLO_SHA256)).toBeNull();
        await tenantB.put(Readable.from([Buffer.from(HELLO)]));
        expect(await listed(tenantB)).toEqual([HELLO_SHA256]);
        // A sweep keeps to its own prefix. (A negative age puts the cutoff in the future: every
        // temporary write counts as old, with no clock to move.)
        const crashed = `tenants/a/tmp/${randomUUID()}`;
        await admin.send(new PutObjectCommand({ Bucket: bucket, Key: crashed, Body: "half" }));
        expect(await tenantB.sweepTemporary(-HOUR)).toBe(0);
        expect(await keys(bucket, "tenants/a/tmp/")).toEqual([crashed]);
        expect(await tenantA.sweepTemporary(-HOUR)).toBe(1);
        expect(await keys(bucket, "tenants/a/tmp/")).toEqual([]);
        expect((await keys(bucket, "")).filter((key) => !key.startsWith("tenants/"))).toEqual([]);
      } finally {
        await tenantA.close();
        await tenantB.close();
      }
    });
  });
});

describe("openBlobStore and parseStorageUrl", () => {
  it("opens a filesystem store from a file: URL, creating its directory", async () => {
    const parent = await mkdtemp(join(tmpdir(), "blob-open-"));
    try {
      const store = await openBlobStore({ url: `file://${parent}/files/` });
      expect(store.description).toBe(`file://${parent}/files`);
      expect(await store.put(Readable.from([Buffer.from(HELLO)]))).toEqual({ sha256: HELLO_SHA256, size: 11 });
      expect(existsSync(join(parent, "files", "b9", "4d", HELLO_SHA256))).toBe(true);
      await store.close();
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it("takes file and s3 URLs apart", () => {
    expect(parseStorageUrl("file:///var/lib/datasets/files")).toEqual({ kind: "file", root: "/var/lib/datasets/files" });
    expect(parseStorageUrl("file:///var/lib/datasets/files/")).toEqual({
      kind: "file",
      root: "/var/lib/datasets/files",
    });
    expect(parseStorageUrl("file://localhost/srv/files")).toEqual({ kind: "file", root: "/srv/files" });
    expect(parseStorageUrl("s3://my-bucket")).toEqual({ kind: "s3", bucket: "my-bucket", prefix: "" });
    expect(parseStorageUrl("s3://my-bucket/")).toEqual({ kind: "s3", bucket: "my-bucket", prefix: "" });
    expect(parseStorageUrl("s3://my.bucket/datasets/prod/")).toEqual({
      kind: "s3",
      bucket: "my.bucket",
      prefix: "datasets/prod",
    });
  });

  it("refuses anything else with a message that does not repeat the URL", () => {
    const refusals: [string, RegExp][] = [
      ["/var/lib/files", /not a URL/],
      ["files", /not a URL/],
      ["http://example.com/files", /unsupported scheme "http:"/],
      ["file://server/share", /not a host/],
      ["file:data/files", /absolute path/],
      ["s3://AKIA:secret@bucket/prefix", /must not carry credentials/],
      ["s3://bucket/prefix?region=eu", /no query/],
      ["s3://Bucket_Name/prefix", /no valid bucket/],
      ["s3://ab/prefix", /no valid bucket/],
      ["s3://bucket:9000/prefix", /no valid bucket/],
      ["s3://bucket/a//b", /prefix must be segments/],
      ["s3://bucket/a/../b", /"\." or "\.\." segments/],
      ["s3://bucket/a%20b", /prefix must be segments/],
    ];
    for (const [url, message] of refusals) {
      expect(() => parseStorageUrl(url), url).toThrow(message);
      try {
        parseStorageUrl(url);
      } catch (error) {
        expect((error as Error).message).not.toContain("secret");
      }
    }
  });
});
