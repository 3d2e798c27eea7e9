/** All SQL about users. Columns are aliased to the `UserRow` property names. */

const USER_COLUMNS = `id, username, email, role, active, token_version as "tokenVersion",
  created_at as "createdAt", updated_at as "updatedAt"`;

export const USERS_BY_IDS = `select ${USER_COLUMNS} from users where id = any($1::uuid[])`;

export const USER_CREDENTIALS_BY_EMAIL = `
  select ${USER_COLUMNS}, password_hash as "passwordHash"
  from users where email = $1`;

export const INSERT_USER = `
  insert into users (email, username, password_hash, role)
  values ($1, $2, $3, $4)
  returning ${USER_COLUMNS}`;

/** Promotes by email; the row comes back only when the user exists. */
export const SET_ROLE_BY_EMAIL = `
  update users
  set role = $2, updated_at = date_trunc('milliseconds', now())
  where email = $1
  returning ${USER_COLUMNS}`;
