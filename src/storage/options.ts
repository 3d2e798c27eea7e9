/** Where blobs live, as configuration gives it. */
export interface StorageOptions {
  /** `file:///abs/path` or `s3://bucket/prefix`. */
  url: string;
  s3?: {
    /** An S3-compatible service (MinIO, R2, Ceph…); unset for AWS. */
    endpoint?: string;
    region?: string;
    /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, Ceph). */
    forcePathStyle?: boolean;
    /** Unset: the SDK's default chain (AWS_* variables, shared files, instance or task role). */
    credentials?: { accessKeyId: string; secretAccessKey: string };
  };
}
