import type { Queryable } from "../db/database.js";
import { FileLoaders } from "../files/store.js";
import { PreviewLoader } from "../previews/store.js";
import { SharingLoaders } from "../sharing/loaders.js";
import { createUserLoader } from "../users/loader.js";

/**
 * The batching loaders of one request (an HTTP request, or one event of a subscription):
 * made fresh each time, so their caches never outlive what they answer.
 */
export function requestLoaders(db: Queryable) {
  return { users: createUserLoader(db), files: new FileLoaders(db), sharing: new SharingLoaders(db), previews: new PreviewLoader(db) };
}

export type RequestLoaders = ReturnType<typeof requestLoaders>;
