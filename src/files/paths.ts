import { BIDI_CONTROL, CONTROL } from "../common/validation.js";

/**
 * The rules for a file's path inside a version: 1 to 1024 UTF-8 bytes of segments joined
 * by `/`; no empty, `.` or `..` segment (so no leading or trailing `/` and no `//`), no
 * backslash, no control character, no bidirectional override (which makes `‮gnp.exe`
 * read as `exe.png`). Those hold for every stored path, and the download route checks them.
 * A path a commit writes also has no invisible format character, and is stored in NFC.
 */

export const MAX_PATH_BYTES = 1024;

// An empty, `.` or `..` segment (found without splitting: a deep path has hundreds of segments).
const BAD_SEGMENT = /(?:^|\/)(\.{0,2})(?=\/|$)/;

// Invisible format characters: zero-width space, the joiners, LRM and RLM, word joiner, BOM,
// Arabic letter mark. `data\u200B.csv` reads as `data.csv`.
const INVISIBLE = /[\u200B-\u200F\u2060\uFEFF\u061C]/u;
// The joiners are visible where they shape the letters around them: between letters of a
// script that joins or stacks them (Persian `می‌خواهم` needs U+200C), and U+200D between emoji
// (👩‍💻). There they are kept; anywhere else they are invisible, and refused.
const SHAPED = [
  "Arabic",
  "Syriac",
  "Nko",
  "Mongolian",
  "Mandaic",
  "Adlam",
  "Hanifi_Rohingya",
  "Devanagari",
  "Bengali",
  "Gurmukhi",
  "Gujarati",
  "Oriya",
  "Tamil",
  "Telugu",
  "Kannada",
  "Malayalam",
  "Sinhala",
  "Myanmar",
  "Khmer",
]
  .map((script) => String.raw`\p{scx=${script}}`)
  .join("");
const SHAPING_JOINER = new RegExp(
  String.raw`(?<=[${SHAPED}])[\u200C\u200D](?=[${SHAPED}])|(?<=[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F])\u200D(?=\p{Extended_Pictographic})`,
  "gu",
);

/**
 * Why `path` breaks the rules every stored path follows, in words for a person; null when
 * it does not. Paths committed before the invisible-character rule may hold such characters:
 * they are still found by this rule.
 */
export function storedPathProblem(path: string): string | null {
  if (path.length === 0) return "a path must not be empty";
  if (!path.isWellFormed()) return "a path must be well-formed Unicode text";
  if (Buffer.byteLength(path, "utf8") > MAX_PATH_BYTES) return `a path must be at most ${MAX_PATH_BYTES} UTF-8 bytes`;
  if (CONTROL.test(path)) return "a path must not contain control characters";
  if (BIDI_CONTROL.test(path)) return "a path must not contain bidirectional control characters";
  if (path.includes("\\")) return "a path must use / between segments, not a backslash";
  if (path.startsWith("/")) return "a path must be relative (no leading /)";
  const segment = BAD_SEGMENT.exec(path);
  if (segment)
    return segment[1] === "" ? "a path must not contain an empty segment (// or a trailing /)" : "a path must not contain a . or .. segment";
  return null;
}

/** Why `path` may not be written (by a commit, or as an upload's filename); null when it may. */
export function filePathProblem(path: string): string | null {
  const problem = storedPathProblem(path);
  if (problem) return problem;
  if (INVISIBLE.test(path) && INVISIBLE.test(path.replace(SHAPING_JOINER, ""))) {
    return "a path must not contain invisible characters (U+200B to U+200F, U+2060, U+FEFF, U+061C; a joiner only between letters it joins)";
  }
  return null;
}

/** The form a path is stored in: NFC, so `café` typed on macOS (NFD) and elsewhere is one path. */
export const normalizePath = (path: string): string => path.normalize("NFC");

/** The last segment of a valid path: the file's own name, for Content-Disposition. */
export const fileName = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
