import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";

/** The largest object one CopyObject request may copy. */
export const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;

/** What {@link copyWithinBucket} copies, and how. */
export interface CopyWithinBucket {
  bucket: string;
  sourceKey: string;
  targetKey: string;
  /** The source's size in bytes. */
  size: number;
  /** Larger sources are copied part by part (at most {@link MAX_SINGLE_COPY}). */
  multipartThreshold: number;
  /** Bytes per copied part, raised when 10,000 parts would not cover `size`. */
  partSize: number;
  /** Parts copied at once. */
  concurrency: number;
}

/**
 * A server-side copy: no byte passes through this process. CopyObject takes objects up to
 * 5 GiB; larger ones are copied range by range with UploadPartCopy into a multipart upload,
 * which, like any, becomes visible only when complete (and is aborted when a part fails).
 */
export async function copyWithinBucket(client: S3Client, copy: CopyWithinBucket): Promise<void> {
  const { bucket, targetKey, size } = copy;
  const copySource = [bucket, ...copy.sourceKey.split("/")].map(encodeURIComponent).join("/");
  if (size <= Math.min(copy.multipartThreshold, MAX_SINGLE_COPY)) {
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: targetKey, CopySource: copySource }));
    return;
  }
  const partSize = Math.max(copy.partSize, Math.ceil(size / MAX_PARTS));
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: targetKey, ContentType: "application/octet-stream" }),
  );
  if (UploadId === undefined) throw new Error("S3 started a multipart upload without an UploadId");
  try {
    const partCount = Math.ceil(size / partSize);
    const parts: CompletedPart[] = new Array(partCount);
    let next = 0;
    const copyParts = async (): Promise<void> => {
      while (next < partCount) {
        const index = next++;
        const start = index * partSize;
        const end = Math.min(size, start + partSize) - 1;
        const result = await client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: targetKey,
            UploadId,
            PartNumber: index + 1,
            CopySource: copySource,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        parts[index] = { PartNumber: index + 1, ETag: result.CopyPartResult?.ETag };
      }
    };
    await Promise.all(Array.from({ length: Math.min(Math.max(1, copy.concurrency), partCount) }, copyParts));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: targetKey,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: targetKey, UploadId })).catch(() => {});
    throw error;
  }
}
