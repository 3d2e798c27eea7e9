import { Metadata } from "@tus/utils";
import { normalizeContentType } from "../files/content-types.js";
import { filePathProblem } from "../files/paths.js";

/** What a creation's `Upload-Metadata` may say (tus: comma-separated `key base64value`). */
export interface UploadMetadata {
  datasetId: string;
  filename: string | null;
  /** Normalised (src/files/content-types.ts). */
  contentType: string | null;
  /** Lower-case hex; the bytes must hash to it or the upload fails (460). */
  sha256: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The metadata checked, or the problem in words for a person (answered with 400). */
export function parseUploadMetadata(header: string | string[] | undefined): UploadMetadata | { problem: string } {
  if (typeof header !== "string") return { problem: "Upload-Metadata must name the datasetId the upload is for" };
  let metadata: Record<string, string | null>;
  try {
    metadata = Metadata.parse(header);
  } catch {
    return { problem: "Upload-Metadata is malformed: expected comma-separated `key base64value` pairs" };
  }
  const { datasetId, filename = null, contentType: givenType = null, sha256 = null } = metadata;
  if (!datasetId || !UUID.test(datasetId)) return { problem: "Upload-Metadata datasetId must be the id of a dataset" };
  if (filename !== null) {
    const problem = filePathProblem(filename);
    if (problem) return { problem: `Upload-Metadata filename: ${problem}` };
  }
  const contentType = givenType === null ? null : normalizeContentType(givenType);
  if (givenType !== null && contentType === null) {
    return {
      problem:
        "Upload-Metadata contentType must be a media type such as text/csv or text/plain; charset=utf-8, in printable ASCII, at most 255 characters",
    };
  }
  if (sha256 !== null && !/^[0-9a-f]{64}$/i.test(sha256)) return { problem: "Upload-Metadata sha256 must be 64 hex digits" };
  return { datasetId: datasetId.toLowerCase(), filename, contentType, sha256: sha256?.toLowerCase() ?? null };
}
