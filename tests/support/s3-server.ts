import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import { fillS3rverGaps } from "./s3rver-gaps.js";

/** A running S3-protocol server for tests, with one bucket made. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>`: give it as the S3 endpoint, with path-style addressing. */
  endpoint: string;
  bucket: string;
  /** Any region signs; this is the one to use. */
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Stops the server and removes everything it stored. */
  close(): Promise<void>;
}

/**
 * Starts s3rver (with the gaps that `fillS3rverGaps` fills) on 127.0.0.1 and an ephemeral
 * port, storing into a fresh temporary directory, and creates `bucket`. s3rver accepts any
 * SigV4 signature from its built-in account, so the credentials only have to be these.
 */
export async function startS3Server(options: { bucket?: string } = {}): Promise<S3TestServer> {
  const bucket = options.bucket ?? "test-bucket";
  const directory = await mkdtemp(join(tmpdir(), "s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  fillS3rverGaps(server);
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
