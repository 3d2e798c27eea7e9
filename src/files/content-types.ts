import { format, parse } from "content-type";

/**
 * A file's content type is sent back as its downloads' Content-Type, so it must be a media
 * type a header can carry. content-type 1.x is used for its strict parser (RFC 7231's grammar;
 * 2.x parses leniently and 3.x needs Node 22). Its grammar still lets a quoted value hold bytes
 * 0x80-0xFF, which HTTP calls obsolete: only printable ASCII is kept.
 */

/** The longest content type kept (the column's limit). */
export const MAX_CONTENT_TYPE_LENGTH = 255;

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * `value` normalised (type and parameter names in lower case, `; name=value`, values quoted
 * only where they must be), or null when it is not a media type that can be sent as it is.
 */
export function normalizeContentType(value: string): string | null {
  if (!PRINTABLE_ASCII.test(value)) return null;
  let normalized: string;
  try {
    normalized = format(parse(value));
  } catch {
    return null;
  }
  return normalized.length <= MAX_CONTENT_TYPE_LENGTH ? normalized : null;
}

/**
 * What a download sends as Content-Type for a stored value: the value itself, or
 * application/octet-stream for one that cannot be sent (rows stored before uploads were
 * checked), so that no stored value can make a download fail.
 */
export function sendableContentType(stored: string): string {
  return normalizeContentType(stored) === null ? "application/octet-stream" : stored;
}
