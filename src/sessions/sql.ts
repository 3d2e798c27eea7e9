/** All SQL about sessions and refresh tokens. */

/** $1 user, $2 the first refresh token's hash, $3 its lifetime in seconds. */
export const CREATE_SESSION = `
  with session as (insert into sessions (user_id) values ($1) returning id)
  insert into refresh_tokens (session_id, token_hash, expires_at)
  select id, $2, now() + make_interval(secs => $3) from session
  returning session_id as "sessionId"`;

/**
 * The refresh token with hash $1, locked: a racing refresh of the same token waits here,
 * then sees it rotated. $2 is the reuse interval in seconds.
 */
export const REFRESH_TOKEN_FOR_UPDATE = `
  select rt.id, rt.session_id as "sessionId", s.user_id as "userId",
    rt.rotated_at is not null as "rotated",
    rt.rotated_at is not null and now() - rt.rotated_at <= make_interval(secs => $2) as "withinReuseInterval",
    rt.expires_at <= now() as "expired",
    s.revoked_at is not null as "revoked"
  from refresh_tokens rt join sessions s on s.id = rt.session_id
  where rt.token_hash = $1
  for update of rt`;

/** Marks token $1 used and stores its successor ($2 hash, $3 lifetime in seconds). */
export const ROTATE_REFRESH_TOKEN = `
  with rotated as (
    update refresh_tokens set rotated_at = now() where id = $1 returning session_id
  ), touched as (
    update sessions set last_used_at = now() where id = (select session_id from rotated)
  )
  insert into refresh_tokens (session_id, token_hash, expires_at)
  select session_id, $2, now() + make_interval(secs => $3) from rotated`;

/** Whether the token with hash $1 is the live, unused end of its session. */
export const IS_CURRENT_REFRESH_TOKEN = `
  select 1 from refresh_tokens rt join sessions s on s.id = rt.session_id
  where rt.token_hash = $1 and rt.rotated_at is null and rt.expires_at > now() and s.revoked_at is null`;

/** $1 session, $2 reason. */
export const REVOKE_SESSION = `
  update sessions set revoked_at = now(), revoked_reason = $2
  where id = $1 and revoked_at is null`;

/** Ends the session of refresh token hash $1 if it is user $2's and live; returns it. */
export const REVOKE_SESSION_BY_REFRESH_TOKEN = `
  update sessions set revoked_at = now(), revoked_reason = 'logout'
  where id = (select session_id from refresh_tokens where token_hash = $1)
    and user_id = $2 and revoked_at is null
  returning id`;

/** $1 user, $2 reason. */
export const REVOKE_USER_SESSIONS = `
  update sessions set revoked_at = now(), revoked_reason = $2
  where user_id = $1 and revoked_at is null`;
