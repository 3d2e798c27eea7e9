import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import type { StorageOptions } from "./options.js";

/** The S3 client `openBlobStore` uses, for these settings. */
export function createS3Client(s3: StorageOptions["s3"] = {}): S3Client {
  return new S3Client(s3ClientConfig(s3));
}

function s3ClientConfig(s3: NonNullable<StorageOptions["s3"]>): S3ClientConfig {
  const config: S3ClientConfig = {};
  if (s3.endpoint !== undefined) config.endpoint = s3.endpoint;
  if (s3.forcePathStyle !== undefined) config.forcePathStyle = s3.forcePathStyle;
  if (s3.credentials !== undefined) config.credentials = s3.credentials;
  if (s3.region !== undefined) config.region = s3.region;
  if (s3.endpoint !== undefined) {
    // S3-compatible services ignore the region but the signature needs one.
    config.region ??= "us-east-1";
    // SDK releases since early 2025 add CRC32 checksums to every upload by default, sent as
    // aws-chunked trailers that many S3-compatible services (older MinIO, Ceph, R2 at the time)
    // refuse or store verbatim. Send checksums only where an operation requires them.
    config.requestChecksumCalculation = "WHEN_REQUIRED";
    config.responseChecksumValidation = "WHEN_REQUIRED";
  }
  return config;
}
