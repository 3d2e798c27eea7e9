import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { combine, variable } from "./parsers.js";
import { boolean, bytes, integer, path, text } from "./values.js";

// The settings of file content (settings.ts places them in the table, after the server's own):
// where it is kept and the limits on it, and the profiles of committed tables.

export const DATA_DIR = variable("DATA_DIR", path, {
  meaning:
    "the embedded database (`DATA_DIR/pglite`), the generated development secret, and by default files (`DATA_DIR/files`) and unfinished uploads (`DATA_DIR/uploads`)",
  default: ".data",
});

const PREVIEW_WORKERS = variable("PREVIEW_WORKERS", integer(0, 64), {
  meaning:
    "previews this instance makes at once (of files large or small), each in a reader process of its own; `0`: this instance makes none (it still queues them at commit)",
  default: "1",
});

/** Where file content goes and the limits on it. */
export const FILES = {
  storageUrl: variable(
    "STORAGE_URL",
    z
      .string()
      .regex(/^(file:\/\/\/.+|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?)$/, {
        error: "expected file:///absolute/path or s3://bucket/prefix",
      })
      .describe("`file:///absolute/path` or `s3://bucket/prefix`"),
    {
      meaning:
        "where file content is kept, one object per SHA-256: `file:///absolute/path`, or `s3://bucket/prefix` for S3 or an S3-compatible service (docs/deploy.md)",
      default: (get) => pathToFileURL(resolve(get(DATA_DIR), "files")).href,
      defaultDoc: "`file://` + the absolute `DATA_DIR/files`",
    },
  ),
  s3: {
    endpoint: variable(
      "S3_ENDPOINT",
      z
        .string()
        .regex(/^https?:\/\/\S+$/, { error: "expected an http(s):// URL" })
        .describe("an `http(s)://` URL"),
      {
        meaning: "an S3-compatible service's `http(s)://` URL (MinIO, Ceph, R2…); leave unset for AWS",
      },
    ),
    region: variable("S3_REGION", text.describe("a region name"), {
      meaning: "the bucket's region (on AWS set it, or `AWS_REGION`)",
      defaultDoc: "unset: the AWS SDK's own (`AWS_REGION`, profile); `us-east-1` with `S3_ENDPOINT`",
    }),
    forcePathStyle: variable("S3_FORCE_PATH_STYLE", boolean, {
      meaning: "`endpoint/bucket/key` URLs instead of `bucket.endpoint/key` (MinIO, Ceph)",
      defaultDoc: "the SDK's default (off)",
    }),
    /** Used when both the key id and the secret are set; otherwise the SDK's default chain. */
    credentials: combine(
      {
        accessKeyId: variable("AWS_ACCESS_KEY_ID", text, {
          meaning: "S3 credentials, used when both this and `AWS_SECRET_ACCESS_KEY` are set",
          defaultDoc: "unset: the SDK's default chain (shared files, instance or task role)",
        }),
        secretAccessKey: variable("AWS_SECRET_ACCESS_KEY", text, { meaning: "the secret of `AWS_ACCESS_KEY_ID`" }),
        sessionToken: variable("AWS_SESSION_TOKEN", text, { meaning: "with temporary credentials, their session token" }),
      },
      ({ accessKeyId, secretAccessKey, sessionToken }) =>
        accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken } : undefined,
    ),
  },
  /** A volume every instance shares, when uploads must resume anywhere. */
  uploadDir: variable("UPLOAD_DIR", path.transform((given) => resolve(given)).describe("a path"), {
    meaning: "where tus keeps the bytes of unfinished uploads (a volume every instance shares, or sticky routing: docs/deploy.md)",
    default: (get) => resolve(get(DATA_DIR), "uploads"),
    defaultDoc: "`DATA_DIR/uploads`",
  }),
  maxFileSize: variable("MAX_FILE_SIZE", bytes, { meaning: "the largest file", default: "5GiB" }),
  /** Bytes per user; each distinct content counted once. */
  storageQuota: variable("STORAGE_QUOTA", bytes, {
    meaning:
      "bytes per user; each distinct content counted once, plus unfinished uploads' declared lengths (a deferred length: the bytes staged, and those a request writing now may still add)",
    default: "10GiB",
  }),
  /** Each unfinished upload is a staged file and a row: their number is bounded, besides their bytes. */
  maxUnfinishedUploads: variable("MAX_UNFINISHED_UPLOADS", integer(1, 1000), {
    meaning: "unfinished uploads (bytes still arriving or being stored) one user may hold at once; past it a tus creation is refused with 429",
    default: "100",
  }),
  /** What a user's datasets' versions and file lists take of the database (src/files/metering.ts). */
  metadataQuota: variable("METADATA_QUOTA", bytes, {
    meaning:
      "bytes of the database per user for their datasets' versions and file lists (128 a version plus its message, 256 a file row written plus 6 × its path plus its content type; a commit writes rows only for the files it changes); past it a commit is `QUOTA_EXCEEDED`",
    default: "1GiB",
  }),
  uploadExpirySeconds: variable("UPLOAD_EXPIRY", integer(60, 30 * 86400), {
    meaning: "seconds an upload may stay unfinished or uncommitted before it and its bytes are removed",
    default: "86400",
    defaultDoc: "`86400` (24 h)",
  }),
  downloadUrlTtlSeconds: variable("DOWNLOAD_URL_TTL", integer(10, 86400), {
    meaning: "seconds a `downloadUrl` works",
    default: "300",
  }),
  sweepIntervalSeconds: variable("SWEEP_INTERVAL", integer(10, 86400), {
    meaning: "seconds between sweeps of expired uploads and unreferenced content, besides one at start-up",
    default: "600",
  }),
};

/** Profiling committed tables (src/previews): the limits of one profile, and how much of it this instance does. */
export const PREVIEWS = {
  /** DuckDB's memory_limit for one profile. */
  memoryLimitBytes: variable("PREVIEW_MEMORY_LIMIT", bytes, {
    meaning: "DuckDB's `memory_limit` for one preview (the reader process itself adds about 100 MiB: docs/previews.md)",
    default: "512MiB",
  }),
  threads: variable("PREVIEW_THREADS", integer(1, 64), { meaning: "DuckDB's threads for one preview", default: "1" }),
  /** The temporary copy from S3 included; its reader is killed then. */
  timeoutSeconds: variable("PREVIEW_TIMEOUT", integer(1, 86_400), {
    meaning: "seconds one preview may take, the temporary copy from S3 included; then its reader is killed and the preview is `FAILED`",
    default: "300",
  }),
  /** Files larger are not read: their preview is FAILED, saying so. */
  maxBytes: variable("PREVIEW_MAX_BYTES", bytes, { meaning: "larger files are not read: their preview is `FAILED`, saying so", default: "5GiB" }),
  /** A gzip stream is expanded at most this far; a bomb stops there, FAILED. */
  maxExpandedBytes: variable("PREVIEW_MAX_EXPANDED_BYTES", bytes, {
    meaning: "a compressed file (`.csv.gz`, …) is read only this far once decompressed: beyond, its preview is `FAILED`, saying so",
    default: "512MiB",
  }),
  /** Each profile in a child process of its own; 0: none here (this instance still queues them). */
  workers: PREVIEW_WORKERS,
  /** The small lane's own workers: small files never wait behind large ones. */
  smallWorkers: variable("PREVIEW_SMALL_WORKERS", integer(0, 64), {
    meaning:
      "beside `PREVIEW_WORKERS`, workers that make only previews of small files (`PREVIEW_SMALL_FILE_BYTES`), so that those never wait behind large ones",
    default: (get) => (get(PREVIEW_WORKERS) > 0 ? 1 : 0),
    defaultDoc: "`1`; `0` when `PREVIEW_WORKERS` is `0`",
  }),
  /** Uncompressed CSV, TSV, JSON and JSON Lines up to this size go to the small lane. */
  smallFileBytes: variable("PREVIEW_SMALL_FILE_BYTES", bytes, {
    meaning: "uncompressed CSV, TSV, JSON and JSON Lines files up to this size are small: their previews have a lane of their own",
    default: "4MiB",
  }),
};

/** Row queries of explored tables (src/tables): the pool of reader processes and the limits of one query. */
export const TABLES = {
  readers: variable("TABLE_READERS", integer(1, 64), {
    meaning: "long-lived reader processes this instance runs row queries in (`FileTable.rows`), started as needed; each holds one query at a time",
    default: "2",
  }),
  memoryLimitBytes: variable("TABLE_READER_MEMORY_LIMIT", bytes, {
    meaning: "DuckDB's `memory_limit` in each table reader (beyond it a query spills to `TABLE_CACHE_DIR`; the process itself adds about 100 MiB)",
    default: "512MiB",
  }),
  threads: variable("TABLE_READER_THREADS", integer(1, 64), { meaning: "DuckDB's threads in each table reader", default: "1" }),
  queryTimeoutMs: variable("TABLE_QUERY_TIMEOUT", integer(10, 600_000), {
    meaning: "milliseconds one row query may take; past it the query is `REQUEST_TOO_EXPENSIVE` and its reader is killed and replaced",
    default: "10000",
  }),
  perUser: variable("TABLE_QUERIES_PER_USER", integer(1, 64), {
    meaning: "row queries one user may have running at once on this instance; one more is `RATE_LIMITED`",
    default: "2",
  }),
  cacheDir: variable("TABLE_CACHE_DIR", path.transform((given) => resolve(given)).describe("a path"), {
    meaning:
      "where table readers spill and, with S3 storage, keep local copies of the tables they read (emptied at start-up; give it room for the tables being explored)",
    default: (get) => resolve(get(DATA_DIR), "table-cache"),
    defaultDoc: "`DATA_DIR/table-cache`",
  }),
};
