/**
 * The dataset scopes of `dataset-access.ts` in SQL: every statement that reads or changes a dataset,
 * its versions, files or uploads on behalf of a viewer filters by these fragments, so a row
 * the viewer may not reach never leaves the database. Nothing here is cached: each
 * statement reads `dataset_collaborators` as it is, so access taken away counts from the
 * very next statement.
 *
 * Fragments take the placeholders (`$n`) of their parameters, so each statement keeps its
 * own numbering; `scopeParams` (dataset-access.ts) gives the values in this order: the viewer's id,
 * whether they are an admin, the accesses that allow the action.
 */

/**
 * The viewer's access to the dataset row `table` (a `DatasetAccess` name, or null for none),
 * the first that holds of: OWNER (they own it), the role it is shared with them as (EDITOR,
 * VIEWER), ADMIN (they are an admin). So an admin who was made an editor may commit, and an
 * owner is never anything less. One primary-key probe of `dataset_collaborators`.
 */
export const accessOf = (table: string, user: string, admin: string) =>
  `case when ${table}.user_id = ${user}::uuid then 'OWNER'
        else coalesce((select c.role from dataset_collaborators c where c.dataset_id = ${table}.id and c.user_id = ${user}::uuid),
                      case when ${admin}::boolean then 'ADMIN' end) end`;

/** True when the viewer's access to `table` is one of `allowed` (a text[] of `DatasetAccess` names). */
export const allows = (table: string, user: string, admin: string, allowed: string) => `(${accessOf(table, user, admin)}) = any(${allowed}::text[])`;

/** The datasets shared with `user` (as any role): a list's filter. */
export const sharedWith = (table: string, user: string) =>
  `${table}.id in (select c.dataset_id from dataset_collaborators c where c.user_id = ${user}::uuid)`;

/**
 * The datasets `user` owns or that are shared with them: one semi-join of the two index
 * ranges (their owner index, and the collaborators' user index), not an OR that would make
 * PostgreSQL test every dataset.
 */
export const ownedOrSharedWith = (table: string, user: string) =>
  `${table}.id in (select o.id from datasets o where o.user_id = ${user}::uuid
                   union all
                   select c.dataset_id from dataset_collaborators c where c.user_id = ${user}::uuid)`;

/**
 * $1 dataset, then the scope ($2 viewer, $3 admin, $4 accesses allowed): the viewer's access
 * to it and whether the scope allows the action; no row when there is no such dataset.
 */
export const DATASET_ACCESS = `
  select ${accessOf("datasets", "$2", "$3")} as "access", ${allows("datasets", "$2", "$3", "$4")} as "allowed"
  from datasets where id = $1`;
