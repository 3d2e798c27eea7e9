import { fileURLToPath } from "node:url";
import type { BlobStore } from "./blob-store.js";
import { FileBlobStore } from "./file-store.js";
import type { StorageOptions } from "./options.js";

/** A storage URL taken apart. */
export type StorageLocation = { kind: "file"; root: string } | { kind: "s3"; bucket: string; prefix: string };

const EXPECTED = "expected file:///absolute/path or s3://bucket/prefix";
// S3's bucket naming rules: 3 to 63 of lower-case letters, digits, dots and hyphens, starting
// and ending with a letter or digit.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;

/**
 * Takes a storage URL apart, or throws an Error saying what is wrong with it. The message never
 * repeats the URL itself, which might carry credentials.
 */
export function parseStorageUrl(url: string): StorageLocation {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`storage URL is not a URL: ${EXPECTED}`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new Error("storage URL must not carry credentials: give them to the S3 client's configuration");
  }
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new Error(`storage URL must have no query or fragment: ${EXPECTED}`);
  }
  if (parsed.protocol === "file:") {
    if (parsed.host !== "" && parsed.host !== "localhost") {
      throw new Error(`storage URL file:// must name a local absolute path (file:///path), not a host`);
    }
    // "file:data/files" parses as /data/files; a relative path is refused rather than re-rooted.
    if (!/^file:\/\/(localhost)?\//i.test(url)) {
      throw new Error("storage URL file: must name an absolute path as file:///absolute/path");
    }
    const root = fileURLToPath(parsed).replace(/(.)\/+$/, "$1");
    return { kind: "file", root };
  }
  if (parsed.protocol === "s3:") {
    // The URL parser would resolve "a/../b" to "b" silently; a prefix is taken as written.
    if (/\/(\.|%2e){1,2}(\/|$)/i.test(url)) {
      throw new Error('storage URL s3:// prefix must not contain "." or ".." segments');
    }
    const bucket = parsed.hostname;
    if (!BUCKET_NAME.test(bucket) || bucket.includes("..") || parsed.port !== "") {
      throw new Error(`storage URL s3:// names no valid bucket (3 to 63 of a-z, 0-9, "." and "-"): ${EXPECTED}`);
    }
    const segments = parsed.pathname.split("/").filter((segment, index, all) => {
      // Tolerate the one "/" after the bucket and one trailing "/".
      return !(segment === "" && (index === 0 || index === all.length - 1));
    });
    for (const segment of segments) {
      if (segment === "" || segment === "." || segment === ".." || !PREFIX_SEGMENT.test(segment)) {
        throw new Error('storage URL s3:// prefix must be segments of letters, digits and !_.*\'()- joined by single "/"');
      }
    }
    return { kind: "s3", bucket, prefix: segments.join("/") };
  }
  throw new Error(`storage URL has the unsupported scheme "${parsed.protocol}": ${EXPECTED}`);
}

/** Opens the blob store that `options.url` names; the caller closes it. */
export async function openBlobStore(options: StorageOptions): Promise<BlobStore> {
  const location = parseStorageUrl(options.url);
  if (location.kind === "file") return FileBlobStore.open(location.root);
  // The AWS SDK is loaded only when S3 is used: it adds a noticeable part to start-up.
  const [{ S3BlobStore }, { createS3Client }] = await Promise.all([import("./s3-store.js"), import("./s3-client.js")]);
  return new S3BlobStore({
    client: createS3Client(options.s3),
    ownsClient: true,
    bucket: location.bucket,
    prefix: location.prefix,
  });
}
