import { Metadata } from "@tus/utils";
import { filePathProblem } from "../files/paths.js";

/** What a creation's `Upload-Metadata` may say (tus: comma-separated `key base64value`). */
export interface UploadMetadata {
  datasetId: string;
  filename: string | null;
  contentType: string | null;
  /** Lower-case hex; the bytes must hash to it or the upload fails (460). */
  sha256: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// type "/" subtype, then parameters: RFC 9110's token characters, at most 255 in all.
const MEDIA_TYPE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(\s*;\s*[\w!#$&^.+-]+=("[^"\p{Cc}]*"|[\w!#$&^.+-]+))*$/u;

/** The metadata checked, or the problem in words for a person (answered with 400). */
export function parseUploadMetadata(header: string | string[] | undefined): UploadMetadata | { problem: string } {
  if (typeof header !== "string") return { problem: "Upload-Metadata must name the datasetId the upload is for" };
  let metadata: Record<string, string | null>;
  try {
    metadata = Metadata.parse(header);
  } catch {
    return { problem: "Upload-Metadata is malformed: expected comma-separated `key base64value` pairs" };
  }
  const { datasetId, filename = null, contentType = null, sha256 = null } = metadata;
  if (!datasetId || !UUID.test(datasetId)) return { problem: "Upload-Metadata datasetId must be the id of a dataset" };
  if (filename !== null) {
    const problem = filePathProblem(filename);
    if (problem) return { problem: `Upload-Metadata filename: ${problem}` };
  }
  if (contentType !== null && (contentType.length > 255 || !MEDIA_TYPE.test(contentType))) {
    return { problem: "Upload-Metadata contentType must be a media type such as text/csv" };
  }
  if (sha256 !== null && !/^[0-9a-f]{64}$/i.test(sha256)) return { problem: "Upload-Metadata sha256 must be 64 hex digits" };
  return { datasetId: datasetId.toLowerCase(), filename, contentType, sha256: sha256?.toLowerCase() ?? null };
}
