import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { startS3Server, type S3TestServer } from "./s3-server.js";
import { type LogCapture, startServer, type TestServer } from "./server.js";

/** The two places content can live: the files tests run against each. */
export type StorageKind = "disk" | "s3";
export const STORAGE_KINDS: StorageKind[] = ["disk", "s3"];

/** A server on one kind of storage, with a look at its stored objects from outside the server. */
export interface ServerOnStorage {
  server: TestServer;
  /** The bytes stored under a content address, or null when nothing is. */
  objectBytes(sha256: string): Promise<Buffer | null>;
  /** Replaces what is stored under a content address, behind the server's back. */
  overwriteObject(sha256: string, bytes: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Starts the server with its content on `kind`: its own directory, or a bucket of an S3-protocol server started here. */
export async function startServerOn(kind: StorageKind, env: Record<string, string> = {}, logs?: LogCapture): Promise<ServerOnStorage> {
  if (kind === "disk") {
    const server = await startServer(env, logs);
    const path = (sha256: string) => join(server.config.dataDir, "files", sha256.slice(0, 2), sha256.slice(2, 4), sha256);
    return {
      server,
      objectBytes: (sha256) => readFile(path(sha256)).catch(() => null),
      async overwriteObject(sha256, bytes) {
        await mkdir(dirname(path(sha256)), { recursive: true });
        await writeFile(`${path(sha256)}.new`, bytes);
        await rename(`${path(sha256)}.new`, path(sha256));
      },
      close: () => server.close(),
    };
  }
  const s3: S3TestServer = await startS3Server();
  let server: TestServer;
  try {
    server = await startServer(
      {
        STORAGE_URL: `s3://${s3.bucket}/datasets`,
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: s3.region,
        S3_FORCE_PATH_STYLE: "true",
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        ...env,
      },
      logs,
    );
  } catch (error) {
    await s3.close();
    throw error;
  }
  const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials });
  const key = (sha256: string) => `datasets/blobs/${sha256.slice(0, 2)}/${sha256}`;
  return {
    server,
    async objectBytes(sha256) {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key(sha256) }));
        return Buffer.from(await object.Body!.transformToByteArray());
      } catch (error) {
        if (error instanceof NoSuchKey || (error as { name?: string }).name === "NoSuchKey") return null;
        throw error;
      }
    },
    async overwriteObject(sha256, bytes) {
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key(sha256), Body: bytes }));
    },
    async close() {
      client.destroy();
      await server.close();
      await s3.close();
    },
  };
}
