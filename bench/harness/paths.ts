/** Where the benchmark is: the project's root (the server runs from it; results and profiles are written under it). */
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** An ISO date as a file name: `2026-12-01T14:04:18.842Z` → `2026-12-01T14-04-18Z`. */
export const fileStamp = (date: string) => date.replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
