import { type ColumnMap, selectList } from "../db/columns.js";
import { preparable } from "../db/prepared.js";
import type { UserRow } from "./rows.js";

/** All SQL about users. Columns are aliased to the `UserRow` property names. */

/**
 * The one list of the `UserRow` columns: each property's column. Typed, so a property
 * added to `UserRow` must be added here. What the viewer cache holds is this row, so the
 * viewer trigger (migrations/006) must announce a change to any of these columns:
 * tests/viewer-trigger.test.ts compares the two.
 */
export const USER_ROW_COLUMNS: ColumnMap<keyof UserRow> = {
  id: "id",
  username: "username",
  email: "email",
  role: "role",
  active: "active",
  tokenVersion: "token_version",
  createdAt: "created_at",
  updatedAt: "updated_at",
};

const USER_COLUMNS = selectList(USER_ROW_COLUMNS);

/**
 * The `UserRow` columns of `table` aliased `<prefix><property>` (`owner.id`, …): for a
 * statement that reads a user on the same row as another table's `id`, `created_at`, …
 * (`PrefixedUserRow` in rows.ts reads them back).
 */
export const prefixedUserColumns = (table: string, prefix: string) => selectList(USER_ROW_COLUMNS, { table, prefix });

export const USERS_BY_IDS = preparable(`select ${USER_COLUMNS} from users where id = any($1::uuid[])`);

export const USER_CREDENTIALS_BY_EMAIL = `
  select ${USER_COLUMNS}, password_hash as "passwordHash"
  from users where email = $1`;

export const INSERT_USER = `
  insert into users (email, username, password_hash, role)
  values ($1, $2, $3, $4)
  returning ${USER_COLUMNS}`;

export const USER_BY_EMAIL = `select ${USER_COLUMNS} from users where email = $1`;

/** $1 a username in any case: the active user who has it (unique case-insensitively: users_username_lower_key). */
export const ACTIVE_USER_BY_USERNAME = `select ${USER_COLUMNS} from users where lower(username) = lower($1) and active`;

/**
 * The viewer check, one statement on two primary keys: the token's user as the database
 * has it now, and whether the token's session is still live. No row: no such session.
 */
export const VIEWER_WITH_SESSION = preparable(`
  select ${selectList(USER_ROW_COLUMNS, { table: "u" })}, s.revoked_at is null as "sessionLive"
  from users u join sessions s on s.id = $2 and s.user_id = u.id
  where u.id = $1`);

/** Revokes every token issued before (their `ver` no longer matches). */
export const BUMP_TOKEN_VERSION = `
  update users set token_version = token_version + 1 where id = $1
  returning ${USER_COLUMNS}`;

/** A stronger hash of the same password (BCRYPT_COST went up): tokens stay valid. */
export const REHASH_PASSWORD = `update users set password_hash = $2 where id = $1`;

export const PASSWORD_HASH_BY_ID = `select password_hash as "passwordHash" from users where id = $1`;

/** A new password also revokes every token issued before. */
export const SET_PASSWORD = `
  update users
  set password_hash = $2, token_version = token_version + 1, updated_at = date_trunc('milliseconds', now())
  where id = $1
  returning ${USER_COLUMNS}`;

/** $1 ILIKE pattern on username or email, or null for every user. */
const LIST_FILTER = `($1::text is null or username ilike $1 or email ilike $1)`;

/**
 * One page of the admin list, newest first (index users_created_idx, migrations/003):
 * $2/$3 the cursor's created_at and id (null: the first page), $4 the limit.
 * `extraColumns` adds to the select list (the count).
 */
const userPage = (extraColumns = "") => `
  select ${USER_COLUMNS}${extraColumns}
  from users
  where ${LIST_FILTER}
    and ($2::timestamptz is null or (created_at, id) < ($2::timestamptz, $3::uuid))
  order by created_at desc, id desc
  limit $4`;

export const USER_PAGE = userPage();

export const USER_COUNT = `select count(*)::int as "count" from users where ${LIST_FILTER}`;

/**
 * `USER_PAGE` with `USER_COUNT` as one more column of every row ("totalCount"), for a list
 * that shows it: a scalar subquery, run once per statement. An empty page brings no count
 * (see `separateCount`).
 */
export const USER_PAGE_WITH_COUNT = userPage(`,
    (select count(*)::int from users where ${LIST_FILTER}) as "totalCount"`);

/**
 * Locks every active admin, in id order so that two of these never deadlock. Every role
 * or active change takes this lock first, so such changes run one after another and each
 * sees who is still an admin once the one before it has committed.
 */
export const LOCK_ACTIVE_ADMINS = `
  select id from users where role = 'ADMIN' and active
  order by id
  for update`;

/** The user $1 as it is now, locked until the transaction ends. */
export const USER_BY_ID_FOR_UPDATE = `select ${USER_COLUMNS} from users where id = $1 for update`;

/** Sets the role of user $1 to $2, revoking every token issued before. */
export const SET_ROLE = `
  update users
  set role = $2, token_version = token_version + 1, updated_at = date_trunc('milliseconds', now())
  where id = $1
  returning ${USER_COLUMNS}`;

/** Sets user $1 active or not ($2), revoking every token issued before. */
export const SET_ACTIVE = `
  update users
  set active = $2, token_version = token_version + 1, updated_at = date_trunc('milliseconds', now())
  where id = $1
  returning ${USER_COLUMNS}`;
