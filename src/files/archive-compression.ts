/**
 * Which files a version's ZIP stores as they are rather than deflates: those whose bytes are
 * compressed already (by the name's extension, else the content type). Deflating them again
 * costs CPU for nothing, and can make them larger. Everything else is deflated.
 */

const COMPRESSED_EXTENSIONS: ReadonlySet<string> = new Set([
  // Archives and compressed streams.
  "gz",
  "gzip",
  "tgz",
  "zip",
  "bz2",
  "xz",
  "txz",
  "zst",
  "zstd",
  "lz4",
  "br",
  "7z",
  "rar",
  // Columnar and binary table formats, compressed inside.
  "parquet",
  "pq",
  "orc",
  "avro",
  "npz",
  // Images, audio and video.
  "png",
  "jpg",
  "jpeg",
  "gif",
  "webp",
  "avif",
  "heic",
  "jxl",
  "mp3",
  "m4a",
  "aac",
  "ogg",
  "opus",
  "flac",
  "mp4",
  "m4v",
  "mov",
  "mkv",
  "webm",
  // Office documents are ZIP files.
  "docx",
  "xlsx",
  "pptx",
  "odt",
  "ods",
]);

const COMPRESSED_TYPES: ReadonlySet<string> = new Set([
  "application/gzip",
  "application/x-gzip",
  "application/zip",
  "application/x-bzip2",
  "application/x-xz",
  "application/zstd",
  "application/x-7z-compressed",
  "application/vnd.rar",
  "application/vnd.apache.parquet",
  "application/x-parquet",
]);

/** Media families whose usual encodings are compressed; their uncompressed members are listed apart. */
const COMPRESSED_FAMILIES = ["image/", "audio/", "video/"];
const UNCOMPRESSED_MEDIA: ReadonlySet<string> = new Set([
  "image/svg+xml",
  "image/bmp",
  "image/tiff",
  "image/x-portable-pixmap",
  "audio/wav",
  "audio/x-wav",
]);

/** True when the file at `path`, of `contentType`, goes into an archive stored (method 0), not deflated. */
export function storedInArchive(path: string, contentType: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  const dot = name.lastIndexOf(".");
  if (dot > 0 && COMPRESSED_EXTENSIONS.has(name.slice(dot + 1))) return true;
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (COMPRESSED_TYPES.has(type)) return true;
  return COMPRESSED_FAMILIES.some((family) => type.startsWith(family)) && !UNCOMPRESSED_MEDIA.has(type);
}
