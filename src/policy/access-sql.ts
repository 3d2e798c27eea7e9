/**
 * The dataset scopes of `dataset-access.ts` in SQL: every statement that reads or changes a dataset,
 * its versions, files or uploads on behalf of a viewer filters by these fragments, so a row
 * the viewer may not reach never leaves the database. Nothing here is cached: each
 * statement reads `dataset_collaborators` and the dataset's `visibility` as they are, so
 * access taken away (a share removed, a dataset made private) counts from the very next
 * statement.
 *
 * Fragments take the placeholders (`$n`) of their parameters, so each statement keeps its
 * own numbering; `scopeParams` (dataset-access.ts) gives the values in this order: the viewer's
 * id (null: anonymous), whether they are an admin, the accesses that allow the action, the
 * dataset ids the credential is limited to (null: no limit). `scopeAt(n)` names the four
 * placeholders from `$n` on.
 */

/** The placeholders of a statement's scope parameters. */
export interface ScopeRefs {
  user: string;
  admin: string;
  allowed: string;
  datasets: string;
}

/** The scope's four placeholders, `$first` to `$first+3`, in `scopeParams` order. */
export const scopeAt = (first: number): ScopeRefs => ({
  user: `$${first}`,
  admin: `$${first + 1}`,
  allowed: `$${first + 2}`,
  datasets: `$${first + 3}`,
});

/** Visibilities that let anyone read a dataset (anonymous included); only PUBLIC is listed in the catalog. */
export const READABLE_BY_ANYONE = `('PUBLIC', 'UNLISTED')`;

/**
 * The viewer's access to the dataset row `table` (a `DatasetAccess` name, or null for none).
 * Null outside the credential's dataset limit, whatever else holds (a token limited to some
 * datasets reaches no other, public ones included). Otherwise the first that holds of: OWNER
 * (they own it), the role it is shared with them as (EDITOR, VIEWER), ADMIN (they are an
 * admin), PUBLIC (the dataset is public or unlisted: anyone reads it, anonymous included).
 * So an admin who was made an editor may commit, and an owner is never anything less. One
 * primary-key probe of `dataset_collaborators`; the rest is the row's own columns, so the
 * expression needs no index of its own (lists of what anyone reads are the catalog's
 * statements, with their own indexes).
 */
export const accessOf = (table: string, s: ScopeRefs) =>
  `case when ${s.datasets}::uuid[] is not null and not (${table}.id = any(${s.datasets}::uuid[])) then null
        when ${table}.user_id = ${s.user}::uuid then 'OWNER'
        else coalesce((select c.role from dataset_collaborators c where c.dataset_id = ${table}.id and c.user_id = ${s.user}::uuid),
                      case when ${s.admin}::boolean then 'ADMIN' end,
                      case when ${table}.visibility in ${READABLE_BY_ANYONE} then 'PUBLIC' end) end`;

/** True when the viewer's access to `table` is one of the scope's allowed accesses (a text[] of `DatasetAccess` names). */
export const allows = (table: string, s: ScopeRefs) => `coalesce((${accessOf(table, s)}) = any(${s.allowed}::text[]), false)`;

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
 * $1 dataset, then the scope ($2 viewer, $3 admin, $4 accesses allowed, $5 dataset limit):
 * the viewer's access to it and whether the scope allows the action; no row when there is
 * no such dataset.
 */
export const DATASET_ACCESS = `
  select ${accessOf("datasets", scopeAt(2))} as "access", ${allows("datasets", scopeAt(2))} as "allowed"
  from datasets where id = $1`;
