import DataLoader from "dataloader";
import type { Queryable } from "../db/database.js";
import type { UserRow } from "./rows.js";
import { findUsersByIds } from "./store.js";

/**
 * Users by id, batched: all the ids asked for in one tick become one
 * `WHERE id = ANY($1)`. Made per request, so its cache never outlives one viewer.
 */
export function createUserLoader(db: Queryable): DataLoader<string, UserRow | null> {
  return new DataLoader(async (ids) => {
    const rows = await findUsersByIds(db, ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  });
}
