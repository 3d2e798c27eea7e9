import { type EventLoopTurns, sortTakingTurns } from "../common/event-loop-turns.js";
import { normalizePath } from "./paths.js";

/**
 * Two paths of a version that cannot both be, where letter case is not told apart (macOS,
 * Windows, and a version's ZIP extracted there): one file twice, or a file that is also a
 * folder. `path` is one the commit adds.
 */
export interface PathCollision {
  path: string;
  other: string;
  /** `same`: one file once case is folded; `under`: `path` is in the folder `other` (a file); `over`: `other` is in the folder `path`. */
  kind: "same" | "under" | "over";
}

// Printable ASCII, the usual path: its folded key is its lower case.
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * The key under which two paths are one file where case is not told apart: Unicode form and
 * letter case folded (upper then lower case folds ß with SS and ς with σ, as case folding
 * does), then `/`. A file's key is then a prefix of the keys of the paths in it as a folder,
 * and sorted keys put those right after it (a prefix comes before what extends it, and
 * everything between them shares the prefix).
 */
function foldedKey(path: string): string {
  const folded = PRINTABLE_ASCII.test(path) ? path.toLowerCase() : normalizePath(path).toUpperCase().toLowerCase().normalize("NFC");
  return `${folded}/`;
}

interface Entry {
  path: string;
  key: string;
  added: boolean;
}

const byKey = (a: Entry, b: Entry) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * The first collision in a version's `paths` that involves a path in `added`. Pairs of paths
 * both not added (from a version committed before these rules) are let be.
 *
 * One pass over the paths sorted by folded key, keeping the chain of files that are folders
 * of the current path (a stack): each key is pushed and popped once, and each comparison
 * costs at most the shorter key. Work: folding and the pass are linear in the bytes of the
 * paths (a set of every folder prefix would cost a prefix per `/`), the sort n log n
 * comparisons of at most a key each; all of it taking turns with other requests.
 */
export async function addedPathCollision(paths: Iterable<string>, added: ReadonlySet<string>, turns: EventLoopTurns): Promise<PathCollision | null> {
  if (added.size === 0) return null; // removals and replacements add no path to collide
  const unsorted: Entry[] = [];
  for (const path of paths) {
    unsorted.push({ path, key: foldedKey(path), added: added.has(path) });
    if (turns.due()) await turns.take();
  }
  const entries = await sortTakingTurns(unsorted, byKey, turns);
  const folders: Entry[] = [];
  let addedFolders = 0;
  let previous: Entry | undefined;
  for (const entry of entries) {
    if (turns.due()) await turns.take();
    if (previous && previous.key === entry.key) {
      if (entry.added) return { path: entry.path, other: previous.path, kind: "same" };
      if (previous.added) return { path: previous.path, other: entry.path, kind: "same" };
      continue; // an old pair: the first of them stands for both below
    }
    previous = entry;
    while (folders.length > 0 && !entry.key.startsWith(folders.at(-1)!.key)) {
      if (folders.pop()!.added) addedFolders -= 1;
    }
    if (folders.length > 0 && entry.added) return { path: entry.path, other: folders.at(-1)!.path, kind: "under" };
    if (addedFolders > 0) return { path: folders.findLast((folder) => folder.added)!.path, other: entry.path, kind: "over" };
    folders.push(entry);
    if (entry.added) addedFolders += 1;
  }
  return null;
}

/** A collision in words for a person. */
export function collisionProblem({ path, other, kind }: PathCollision): string {
  if (kind === "same") {
    return `${path} and ${other} differ only in letter case or Unicode form: where case is not told apart (macOS, Windows) one would overwrite the other`;
  }
  const [file, inFolder] = kind === "under" ? [other, path] : [path, other];
  if (inFolder.startsWith(`${file}/`)) return `${file} cannot be both a file and the folder of ${inFolder}`;
  return `${file} would also be the folder of ${inFolder} where letter case is not told apart (macOS, Windows)`;
}
