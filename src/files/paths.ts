/**
 * The rules for a file's path inside a version: 1 to 1024 UTF-8 bytes of segments joined
 * by `/`; no empty, `.` or `..` segment (so no leading or trailing `/` and no `//`), no
 * backslash, no control character, no bidirectional override (which makes `‮gnp.exe`
 * read as `exe.png`). The same rules serve commits (BAD_USER_INPUT) and the download route.
 */

export const MAX_PATH_BYTES = 1024;

const CONTROL = /\p{Cc}/u;
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;

/** Why `path` is not a valid file path, in words for a person; null when it is valid. */
export function filePathProblem(path: string): string | null {
  if (path.length === 0) return "a path must not be empty";
  if (!path.isWellFormed()) return "a path must be well-formed Unicode text";
  if (Buffer.byteLength(path, "utf8") > MAX_PATH_BYTES) return `a path must be at most ${MAX_PATH_BYTES} UTF-8 bytes`;
  if (CONTROL.test(path)) return "a path must not contain control characters";
  if (BIDI_CONTROL.test(path)) return "a path must not contain bidirectional control characters";
  if (path.includes("\\")) return "a path must use / between segments, not a backslash";
  if (path.startsWith("/")) return "a path must be relative (no leading /)";
  for (const segment of path.split("/")) {
    if (segment === "") return "a path must not contain an empty segment (// or a trailing /)";
    if (segment === "." || segment === "..") return "a path must not contain a . or .. segment";
  }
  return null;
}

/** The last segment of a valid path: the file's own name, for Content-Disposition. */
export const fileName = (path: string): string => path.slice(path.lastIndexOf("/") + 1);

/**
 * A path that is also a folder of another path in the same list (`a` and `a/b`) cannot be
 * both a file and a folder: returns one such pair (folder first), or null.
 */
export function fileFolderClash(paths: Iterable<string>): [string, string] | null {
  const all = new Set(paths);
  for (const path of all) {
    for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1)) {
      const folder = path.slice(0, slash);
      if (all.has(folder)) return [folder, path];
    }
  }
  return null;
}
