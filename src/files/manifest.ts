import type { FileRow } from "./rows.js";

/** A file as a version lists it. */
type ListedFile = Pick<FileRow, "path" | "sha256" | "size" | "contentType">;

const sameFile = (a: ListedFile, b: ListedFile) => a.sha256 === b.sha256 && a.size === b.size && a.contentType === b.contentType;

/**
 * What a commit writes to the manifest (migrations/011): the parent's rows to close (paths
 * removed, or replaced by other content) and the rows to open (paths added, or replaced by
 * other content). Every other file of the new version is its parent's row, shared; a path
 * replaced by the very same content and type keeps its row. So a commit writes rows for what
 * it changes, never for the whole list. Only the changed paths are looked at.
 */
export function manifestChanges(
  parentFiles: readonly ListedFile[],
  files: readonly ListedFile[],
  changes: ReadonlyArray<{ path: string; sentPath?: string }>,
): { closed: string[]; opened: ListedFile[] } {
  const before = new Map(parentFiles.map((file) => [file.path, file]));
  const after = new Map(files.map((file) => [file.path, file]));
  const closed: string[] = [];
  const opened: ListedFile[] = [];
  // A change names its path in NFC; the parent may list the very path it was sent as (stored
  // before paths were normalised), which the change removes or replaces: both are looked at.
  const looked = new Set<string>();
  for (const change of changes) looked.add(change.path).add(change.sentPath ?? change.path);
  for (const path of looked) {
    const old = before.get(path);
    const now = after.get(path);
    if (old && now && sameFile(old, now)) continue;
    if (old) closed.push(path);
    if (now) opened.push(now);
  }
  return { closed, opened };
}
