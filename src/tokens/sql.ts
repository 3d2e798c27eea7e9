import { selectList } from "../db/columns.js";
import { preparable } from "../db/prepared.js";
import { USER_ROW_COLUMNS } from "../users/sql.js";

/** All SQL about personal access tokens. Columns are aliased to the `AccessTokenRow` property names. */

const TOKEN_COLUMNS = (table: string) => `${table}.id, ${table}.user_id as "userId", ${table}.name, ${table}.scope,
  ${table}.dataset_ids::text[] as "datasetIds", ${table}.prefix, ${table}.created_at as "createdAt",
  ${table}.expires_at as "expiresAt", ${table}.last_used_at as "lastUsedAt", ${table}.revoked_at as "revokedAt"`;

/** Whether the token in `table` works now: not revoked, not expired. */
const LIVE = (table: string) => `(${table}.revoked_at is null and (${table}.expires_at is null or ${table}.expires_at > now()))`;

/** $1 user, $2 name, $3 scope, $4 dataset ids (null: all), $5 prefix, $6 hash, $7 days until it expires (null: never). */
export const INSERT_TOKEN = `
  insert into access_tokens as t (user_id, name, scope, dataset_ids, prefix, secret_hash, expires_at)
  values ($1, $2, $3, $4::uuid[], $5, $6, now() + make_interval(days => $7::int))
  returning ${TOKEN_COLUMNS("t")}`;

/** $1 user: their tokens not revoked, newest first (expired ones stay listed, with their end). */
export const TOKENS_OF_USER = `
  select ${TOKEN_COLUMNS("t")} from access_tokens t
  where t.user_id = $1 and t.revoked_at is null
  order by t.created_at desc, t.id desc`;

/** $1 token id: the token (any state), for revocation's checks. */
export const TOKEN_BY_ID = `select ${TOKEN_COLUMNS("t")} from access_tokens t where t.id = $1`;

/** $1 token id: revokes it if it is not already; the row when it did. */
export const REVOKE_TOKEN = `
  update access_tokens t set revoked_at = now() where t.id = $1 and t.revoked_at is null
  returning ${TOKEN_COLUMNS("t")}`;

/**
 * $1 user id: revokes every live token of theirs (deactivation), so that reactivating the
 * user does not bring a leaked secret back; the ids revoked.
 */
export const REVOKE_USER_TOKENS = `
  update access_tokens t set revoked_at = now() where t.user_id = $1 and t.revoked_at is null
  returning t.id`;

/**
 * $1 the secret's prefix: every token with that prefix and its user, with the hash to compare
 * in constant time and whether it works now. Usually one row, on the prefix index.
 */
export const TOKENS_BY_PREFIX = preparable(`
  select t.id as "tokenId", t.scope, t.dataset_ids::text[] as "datasetIds", t.secret_hash as "secretHash",
    t.expires_at as "expiresAt", ${LIVE("t")} as "live",
    ${selectList(USER_ROW_COLUMNS, { table: "u", prefix: "user." })}
  from access_tokens t join users u on u.id = t.user_id
  where t.prefix = $1`);

/** $1 token id: marks it used now, at most once a minute (what `lastUsedAt` promises). */
export const TOUCH_TOKEN = `
  update access_tokens set last_used_at = date_trunc('milliseconds', now())
  where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')`;

/**
 * $1 user, $2 credential id (a session's or a token's): the user as the database has it now,
 * whether that credential of theirs works now, and a token's scope and datasets. Signed
 * download links and live connections, which carry only the credential's id, check it so.
 */
export const VIEWER_WITH_CREDENTIAL = `
  select ${selectList(USER_ROW_COLUMNS, { table: "u" })},
    -- An outer join's missing row has a null revoked_at too: ask which row there is first.
    case when s.id is not null then s.revoked_at is null when t.id is not null then ${LIVE("t")} else false end as "live",
    t.id is not null as "isToken", t.scope as "tokenScope", t.dataset_ids::text[] as "tokenDatasetIds",
    (extract(epoch from t.expires_at) * 1000)::bigint as "tokenExpiresAtMs"
  from users u
  left join sessions s on s.id = $2 and s.user_id = u.id
  left join access_tokens t on t.id = $2 and t.user_id = u.id
  where u.id = $1`;
