/**
 * What a blob store rejects with on purpose. These are internal: the HTTP and GraphQL layers
 * turn them into the contract's answers (460, 413, 404), never showing these messages as-is.
 */

/** The bytes that arrived do not hash to the SHA-256 the client announced. Nothing was kept. */
export class ChecksumMismatchError extends Error {
  override readonly name = "ChecksumMismatchError";
  constructor(
    readonly expectedSha256: string,
    readonly actualSha256: string,
  ) {
    super(`content hashes to ${actualSha256}, not the announced ${expectedSha256}`);
  }
}

/** More than the allowed number of bytes arrived. Nothing was kept. */
export class TooLargeError extends Error {
  override readonly name = "TooLargeError";
  constructor(readonly maxBytes: number) {
    super(`content is larger than ${maxBytes} bytes`);
  }
}

/** No content is stored under this address. */
export class BlobNotFoundError extends Error {
  override readonly name = "BlobNotFoundError";
  readonly code = "BLOB_NOT_FOUND";
  constructor(readonly sha256: string) {
    super(`no content stored under ${sha256}`);
  }
}

/** A content address that is not 64 lower-case hex digits: a caller's bug, refused before any I/O. */
export class InvalidContentAddressError extends Error {
  override readonly name = "InvalidContentAddressError";
  constructor(value: unknown) {
    // Only the length: the value may be anything a client sent.
    super(
      `not a content address (expected 64 lower-case hex digits, got ${typeof value === "string" ? `${value.length} characters` : typeof value})`,
    );
  }
}
