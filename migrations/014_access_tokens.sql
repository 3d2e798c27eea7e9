-- Personal access tokens: long-lived secrets a user makes for scripts, notebooks and
-- pipelines (src/tokens/). Only the secret's SHA-256 is stored: the secret is 256 random
-- bits, so a plain hash is enough (no password hashing), and the row is found by the
-- secret's first 12 characters (`prefix`, also shown in lists) and then compared with the
-- hash in constant time.

create table access_tokens (
  id           uuid primary key default gen_random_uuid(),
  user_id      uuid not null references users (id) on delete cascade,
  name         text not null check (char_length(name) between 1 and 100),
  scope        text not null check (scope in ('READ', 'WRITE')),
  -- null: every dataset the user may reach; else only these (ids checked readable at creation).
  dataset_ids  uuid[] check (dataset_ids is null or cardinality(dataset_ids) between 1 and 100),
  prefix       text not null check (char_length(prefix) = 12),
  secret_hash  bytea not null unique check (octet_length(secret_hash) = 32),
  created_at   timestamptz not null default date_trunc('milliseconds', now()),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz
);

-- accessTokens: the user's own, newest first.
create index access_tokens_user_created_idx on access_tokens (user_id, created_at desc, id);
-- Authentication finds a token by its prefix (not unique: 42 random bits), then compares hashes.
create index access_tokens_prefix_idx on access_tokens (prefix);

-- A token is a credential like a session, and the viewer cache and live connections key
-- credentials by id (uuids never collide across the two tables): its revocation, expiry
-- change or deletion is announced as `session:<id>` by the function of migrations/005, so
-- every instance forgets it before the next request. last_used_at is not announced.
create trigger access_tokens_viewer_change after update on access_tokens
  for each row
  when ((old.id, old.user_id, old.revoked_at, old.expires_at) is distinct from (new.id, new.user_id, new.revoked_at, new.expires_at))
  execute function notify_viewer_change();
create trigger access_tokens_viewer_delete after delete on access_tokens
  for each row execute function notify_viewer_change();
create trigger access_tokens_viewer_truncate after truncate on access_tokens
  for each statement execute function notify_viewer_change();

alter table access_tokens enable always trigger access_tokens_viewer_change;
alter table access_tokens enable always trigger access_tokens_viewer_delete;
alter table access_tokens enable always trigger access_tokens_viewer_truncate;
