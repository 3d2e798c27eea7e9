import DataLoader from "dataloader";
import type { Viewer } from "../auth/viewer.js";
import type { Queryable } from "../db/database.js";
import type { DatasetAccess } from "../generated/graphql.js";
import { datasetScope, scopeParams } from "../policy/dataset-access.js";
import { type PrefixedUserRow, separateUser } from "../users/rows.js";
import type { CollaboratorRow } from "./rows.js";
import * as sql from "./sql.js";

/**
 * Per-request loaders of the viewer's access to datasets and of their collaborators, so a
 * page of datasets with `viewerAccess` and `collaborators { user }` costs one statement for
 * each, however many datasets it holds. Built on first use; a request's answers are never
 * kept past it, so access taken away counts from the next request on.
 */
export class SharingLoaders {
  #access?: DataLoader<string, DatasetAccess | null>;
  #collaborators?: DataLoader<string, CollaboratorRow[]>;
  constructor(private readonly db: Queryable) {}

  /** The viewer's access (null: anonymous) to each dataset (null: none, or it is gone). */
  access(viewer: Viewer | null, datasetId: string): Promise<DatasetAccess | null> {
    this.#access ??= new DataLoader(async (ids) => {
      const rows = await this.db.query<{ id: string; access: DatasetAccess | null }>(sql.ACCESS_TO_DATASETS, [
        ids,
        ...scopeParams(datasetScope(viewer, "read")),
      ]);
      const byId = new Map(rows.map((row) => [row.id, row.access]));
      return ids.map((id) => byId.get(id) ?? null);
    });
    return this.#access.load(datasetId);
  }

  /** The dataset's collaborators, each with their user row, first shared first. */
  collaborators(datasetId: string): Promise<CollaboratorRow[]> {
    this.#collaborators ??= new DataLoader(async (ids) => {
      const rows = await this.db.query<CollaboratorRow & PrefixedUserRow<typeof sql.USER_PREFIX>>(sql.COLLABORATORS_OF_DATASETS, [ids]);
      const byDataset = new Map<string, CollaboratorRow[]>(ids.map((id) => [id, []]));
      for (const row of rows) {
        const { user, rest } = separateUser(row, sql.USER_PREFIX);
        byDataset.get(rest.datasetId)!.push({ ...rest, user });
      }
      return ids.map((id) => byDataset.get(id)!);
    });
    return this.#collaborators.load(datasetId);
  }
}
