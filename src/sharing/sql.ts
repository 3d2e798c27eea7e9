import { accessOf, allows, scopeAt } from "../policy/access-sql.js";
import { prefixedUserColumns } from "../users/sql.js";

/**
 * All SQL about who a dataset is shared with (`dataset_collaborators`, migrations/010).
 * The writes carry the sharer's scope in their WHERE clause, as every dataset write does.
 */

const COLLABORATOR_COLUMNS = (table: string) =>
  `${table}.dataset_id as "datasetId", ${table}.user_id as "userId", ${table}.role, ${table}.added_at as "addedAt", ${table}.added_by as "addedById"`;

export const USER_PREFIX = "user.";

/**
 * $1 dataset, then the scope ($2 viewer, $3 admin, $4 accesses allowed, $5 dataset limit): the viewer's access
 * and whether it allows the change, with the dataset's row locked until the transaction
 * ends, so shares of one dataset happen one after another (the limit on their number holds)
 * and a delete of the dataset waits for them. No row: no such dataset.
 */
export const LOCK_DATASET_FOR_SHARING = `
  select ${accessOf("datasets", scopeAt(2))} as "access", ${allows("datasets", scopeAt(2))} as "allowed",
    (select count(*)::int from dataset_collaborators c where c.dataset_id = datasets.id) as "collaborators"
  from datasets where id = $1
  for no key update`;

/** $1 dataset, $2 user: the role they have now, if any. */
export const COLLABORATOR_ROLE = `select role from dataset_collaborators where dataset_id = $1 and user_id = $2`;

/**
 * $1 dataset, $2 user, $3 role, then the sharer's scope ($4 viewer, $5 admin, $6 accesses
 * allowed, $7 dataset limit): gives the user the role, or changes the one they have (keeping when and by
 * whom they were first added). Never the owner: their access is ownership.
 */
export const UPSERT_COLLABORATOR = `
  insert into dataset_collaborators (dataset_id, user_id, role, added_by)
  select d.id, $2, $3, $4 from datasets d
  where d.id = $1 and d.user_id <> $2::uuid and ${allows("d", scopeAt(4))}
  on conflict (dataset_id, user_id) do update set role = excluded.role
  returning ${COLLABORATOR_COLUMNS("dataset_collaborators")}`;

/**
 * $1 dataset, $2 user, then the scope of the one taking the access away ($3 viewer, $4
 * admin, $5 accesses allowed, $6 dataset limit): the user's share, removed when it is the viewer's own (they
 * leave) or the scope allows managing the dataset. Returns the role it was.
 */
export const DELETE_COLLABORATOR = `
  delete from dataset_collaborators c
  where c.dataset_id = $1 and c.user_id = $2
    and (c.user_id = $3::uuid or exists (select 1 from datasets d where d.id = $1 and ${allows("d", scopeAt(3))}))
  returning c.role`;

/** $1 dataset ids: their collaborators with each one's user row (`user.id`, …), first shared first. */
export const COLLABORATORS_OF_DATASETS = `
  select ${COLLABORATOR_COLUMNS("c")}, ${prefixedUserColumns("u", USER_PREFIX)}
  from dataset_collaborators c join users u on u.id = c.user_id
  where c.dataset_id = any($1::uuid[])
  order by c.dataset_id, c.added_at, c.user_id`;

/**
 * $1 dataset ids, then the viewer's read scope ($2 id, $3 admin, $4 accesses allowed, $5
 * dataset limit): the viewer's access to each (and whether the scope allows it, so that every
 * scope parameter is used).
 */
export const ACCESS_TO_DATASETS = `
  select id, ${accessOf("datasets", scopeAt(2))} as "access", ${allows("datasets", scopeAt(2))} as "allowed"
  from datasets where id = any($1::uuid[])`;
