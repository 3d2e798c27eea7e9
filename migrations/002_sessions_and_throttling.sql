-- Sessions (refresh-token families), their refresh tokens, and login throttling counters.

-- One sign-in: every refresh token rotated from it belongs to it. Revoking the session ends
-- its refresh tokens and, since access tokens carry the session id, its access tokens too.
create table sessions (
  id           uuid primary key default gen_random_uuid(),
  user_id      uuid not null references users (id) on delete cascade,
  created_at   timestamptz not null default now(),
  last_used_at timestamptz not null default now(),
  revoked_at   timestamptz,
  -- Why it ended: logout, logout_all, password_changed, refresh_token_reuse, deactivated.
  revoked_reason text
);
-- logoutAll and changePassword revoke a user's live sessions.
create index sessions_user_live_idx on sessions (user_id) where revoked_at is null;

-- A refresh token is stored only as its SHA-256; using it sets rotated_at and issues a
-- successor. Using it again after the grace interval is theft: the whole session is revoked.
create table refresh_tokens (
  id          uuid primary key default gen_random_uuid(),
  session_id  uuid not null references sessions (id) on delete cascade,
  token_hash  text not null,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  rotated_at  timestamptz
);
create unique index refresh_tokens_hash_key on refresh_tokens (token_hash);
create index refresh_tokens_session_idx on refresh_tokens (session_id);

-- Counters of rate-limiter-flexible's PostgreSQL store (its own column layout): shared by
-- every instance. `expire` is epoch milliseconds.
create table rate_limits (
  key    varchar(255) primary key,
  points integer not null default 0,
  expire bigint
);
create index rate_limits_expire_idx on rate_limits (expire);
