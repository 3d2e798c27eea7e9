import { defaultOptions, Upload, type DetailedError, type HttpRequest, type PreviousUpload, type UrlStorage } from "tus-js-client";

/**
 * What {@link uploadFile} can send. In browsers a `File` or `Blob` (or a
 * `ReadableStreamDefaultReader`); in Node a `Buffer`, or a readable stream: an
 * `fs.createReadStream(path)` is read by position and can resume, any other stream needs
 * `size` and is read once. (tus-js-client takes no `Blob` in Node.)
 */
export type UploadSource = Blob | Buffer | NodeJS.ReadableStream | Pick<ReadableStreamDefaultReader, "read">;

/** The options of {@link uploadFile}. */
export interface UploadFileOptions {
  /** The tus endpoint: the server's origin followed by `/uploads/`, e.g. `https://api.example.com/uploads/`. */
  endpoint: string;
  /**
   * The viewer's access token, or a function returning the current one: it is asked before
   * every request, so a long upload survives the token's rotation (a 401 is retried once the
   * function may have a fresh token). With the session helper: `() => session.accessToken()`
   * (client/session.ts), which refreshes the pair before it expires.
   */
  accessToken: string | (() => string | undefined | Promise<string | undefined>);
  /** The dataset the file is for: creation is refused (404) unless the viewer may commit to it. */
  datasetId: string;
  file: UploadSource;
  /** Stored with the upload (a valid file path); default: the `File`'s name. */
  filename?: string;
  /** Stored as the file's `Content-Type`; default: the `Blob`'s type, else the server guesses from the commit's path. */
  contentType?: string;
  /** The bytes' SHA-256 (hex), when the caller knows it: the server then refuses (460) bytes that hash otherwise. */
  sha256?: string;
  /** Bytes, for a stream whose size the source cannot tell (not an `fs.createReadStream`). */
  size?: number;
  /**
   * Bytes per PATCH request. Default: the whole file in one request (resumed from the server's
   * offset if it breaks), or 8 MiB for a stream, which is held in memory a chunk at a time.
   * Set it when a proxy limits request bodies.
   */
  chunkSize?: number;
  /** Bytes sent so far (not yet all confirmed by the server) and the total. */
  onProgress?: (bytesSent: number, bytesTotal: number) => void;
  /** A chunk the server confirmed: its offset is now `bytesAccepted`. */
  onChunkComplete?: (chunkSize: number, bytesAccepted: number, bytesTotal: number) => void;
  /** Stops the upload (the server keeps what arrived, to resume later); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Where unfinished uploads' URLs are remembered, to resume them: the browser's
   * localStorage by default; nowhere in Node unless given (tus-js-client's `FileUrlStorage`).
   */
  urlStorage?: UrlStorage;
  /** Waits between retries of a failed request, in ms (network errors, 5xx, 409, 423). */
  retryDelays?: number[];
}

/** A refusal or failure of the upload; `status` is the server's HTTP status, null when none came. */
export class UploadError extends Error {
  override name = "UploadError";
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

const STREAM_CHUNK_SIZE = 8 * 1024 * 1024;
const DEFAULT_RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];

/**
 * Uploads one file over tus 1.0.0 into a dataset, resumably, with `tus-js-client` (the same
 * code in browsers and in Node), and resolves with the `uploadId` that
 * `commitDatasetVersion` takes: the last path segment of the upload's URL.
 *
 * Every request carries `Authorization: Bearer <accessToken>`; `Upload-Metadata` carries
 * `datasetId` and, when known, `filename`, `contentType` and `sha256`. A broken request is
 * retried from the offset the server reports (`retryDelays`). An upload of the same file
 * with the same metadata that was left unfinished (a closed tab, an `AbortSignal`, a lost
 * connection) is found in `urlStorage` and continued where the server's offset stands,
 * not from byte 0; once it succeeds its entry is removed, so the next upload of that file
 * is a new one.
 *
 * The upload is not a version yet: commit it with `commitDatasetVersion` (before
 * `UPLOAD_EXPIRY` runs out). Refusals reject with {@link UploadError}: 401 (token), 404
 * (no dataset of yours), 413 (`MAX_FILE_SIZE` or `STORAGE_QUOTA`), 460 (`sha256` differs).
 *
 * @example
 * ```ts
 * const { uploadId } = await uploadFile({
 *   endpoint: "https://api.example.com/uploads/",
 *   accessToken: () => session.accessToken(),
 *   datasetId,
 *   file: input.files[0],
 *   onProgress: (sent, total) => (bar.value = sent / total),
 * });
 * ```
 */
export async function uploadFile(options: UploadFileOptions): Promise<{ uploadId: string }> {
  const { signal, accessToken } = options;
  signal?.throwIfAborted();
  const metadata = uploadMetadata(options);
  const tokenOf = typeof accessToken === "function" ? accessToken : () => accessToken;

  const urlStorage = new AwaitedRemovals(options.urlStorage ?? defaultOptions.urlStorage);

  return new Promise((resolve, reject) => {
    const upload = new Upload(options.file as ConstructorParameters<typeof Upload>[0], {
      endpoint: options.endpoint,
      metadata,
      ...(options.size !== undefined ? { uploadSize: options.size } : {}),
      chunkSize: options.chunkSize ?? (isWholeFile(options.file) ? Number.POSITIVE_INFINITY : STREAM_CHUNK_SIZE),
      retryDelays: options.retryDelays ?? DEFAULT_RETRY_DELAYS,
      removeFingerprintOnSuccess: true,
      urlStorage,
      // A static token goes in `headers`; a function is asked again before each request.
      headers: typeof accessToken === "string" ? { Authorization: `Bearer ${accessToken}` } : {},
      onBeforeRequest:
        typeof accessToken === "function"
          ? async (request: HttpRequest) => request.setHeader("Authorization", `Bearer ${await tokenOf()}`)
          : undefined,
      onShouldRetry: (error) => shouldRetry(error, typeof accessToken === "function"),
      onProgress: options.onProgress ?? null,
      onChunkComplete: options.onChunkComplete ?? null,
      onError: (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(toUploadError(error));
      },
      onSuccess: () => {
        signal?.removeEventListener("abort", onAbort);
        const uploadId = uploadIdOf(upload.url!);
        urlStorage.settled().then(() => resolve({ uploadId }), reject);
      },
    });
    const onAbort = () => {
      // Not terminated: the bytes that arrived stay on the server, for a resume.
      void upload.abort(false);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    upload
      .findPreviousUploads()
      .then((previous) => {
        if (signal?.aborted) return;
        const resumable = newestWithMetadata(previous, metadata);
        if (resumable) upload.resumeFromPreviousUpload(resumable);
        upload.start();
      })
      .catch((error: unknown) => reject(toUploadError(error as Error)));
  });
}

/**
 * The URL storage, with its removals awaited: tus-js-client forgets a finished upload without
 * waiting, and until it is forgotten the same file uploaded again would "resume" into the
 * finished upload (and get its id, which one commit uses up).
 */
class AwaitedRemovals implements UrlStorage {
  readonly #removals: Promise<void>[] = [];
  constructor(private readonly storage: UrlStorage) {}
  findAllUploads = () => this.storage.findAllUploads();
  findUploadsByFingerprint = (fingerprint: string) => this.storage.findUploadsByFingerprint(fingerprint);
  addUpload = (fingerprint: string, upload: PreviousUpload) => this.storage.addUpload(fingerprint, upload);
  removeUpload = (key: string) => {
    const removal = this.storage.removeUpload(key);
    this.#removals.push(removal);
    return removal;
  };
  /** Resolves once every removal asked for so far is done. */
  async settled(): Promise<void> {
    await Promise.all(this.#removals);
  }
}

/** The tus metadata: only the values given (tus-js-client sends each as base64). */
function uploadMetadata(options: UploadFileOptions): Record<string, string> {
  const file = options.file as { name?: unknown; type?: unknown };
  const filename = options.filename ?? (typeof file.name === "string" && file.name !== "" ? file.name : undefined);
  const contentType = options.contentType ?? (typeof file.type === "string" && file.type !== "" ? file.type : undefined);
  const metadata: Record<string, string> = { datasetId: options.datasetId };
  if (filename !== undefined) metadata.filename = filename;
  if (contentType !== undefined) metadata.contentType = contentType;
  if (options.sha256 !== undefined) metadata.sha256 = options.sha256.toLowerCase();
  return metadata;
}

/** A Blob or Buffer can be sliced anywhere; a stream is read once, a chunk in memory at a time. */
function isWholeFile(file: UploadSource): boolean {
  return (typeof Blob !== "undefined" && file instanceof Blob) || (typeof Buffer !== "undefined" && Buffer.isBuffer(file));
}

/**
 * The newest stored upload of this file for exactly this metadata: the same file sent to
 * another dataset, or with another declared sha256, is a new upload.
 */
function newestWithMetadata(previous: PreviousUpload[], metadata: Record<string, string>): PreviousUpload | undefined {
  const same = (stored: Record<string, string>) =>
    Object.keys(stored).length === Object.keys(metadata).length && Object.entries(metadata).every(([key, value]) => stored[key] === value);
  return previous
    .filter((upload) => upload.uploadUrl && same(upload.metadata ?? {}))
    .sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime))[0];
}

/**
 * tus-js-client's rule (network errors, 5xx, 409 and 423 are worth another try; other 4xx
 * are answers), plus 401 when the token comes from a function that may have renewed it.
 */
function shouldRetry(error: DetailedError, tokenRenews: boolean): boolean {
  const status = error.originalResponse?.getStatus() ?? 0;
  // A browser that knows it is offline: retrying now cannot help (no navigator in Node 20).
  if ((globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false) return false;
  if (status === 401) return tokenRenews;
  return status < 400 || status >= 500 || status === 409 || status === 423;
}

/** The last path segment of the upload's URL (`…/uploads/{uploadId}`). */
function uploadIdOf(url: string): string {
  return new URL(url).pathname.split("/").filter(Boolean).at(-1)!;
}

/** tus-js-client's error, with the server's status and its one-line answer. */
function toUploadError(error: Error): UploadError {
  const response = (error as Partial<DetailedError>).originalResponse;
  if (!response) return new UploadError(error.message, null);
  const body = response.getBody()?.trim();
  return new UploadError(body ? `${body} (HTTP ${response.getStatus()})` : error.message, response.getStatus());
}
