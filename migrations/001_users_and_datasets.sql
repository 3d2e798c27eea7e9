-- Users and their datasets.
--
-- Timestamps default to millisecond precision: keyset cursors carry created_at through
-- JavaScript (whose Date has milliseconds), so a stored value must equal its cursor value
-- exactly or pagination would repeat or skip rows.

create table users (
  id            uuid primary key default gen_random_uuid(),
  -- Stored lower-case by the application; the check keeps it so.
  email         text not null check (email = lower(email) and char_length(email) <= 254),
  username      text not null check (char_length(username) between 3 and 32),
  password_hash text not null,
  role          text not null default 'USER' check (role in ('USER', 'ADMIN')),
  -- An inactive user's tokens stop working on the next request.
  active        boolean not null default true,
  -- Bumped to revoke every token issued before; each token carries the version it was issued at.
  token_version integer not null default 0,
  created_at    timestamptz not null default date_trunc('milliseconds', now()),
  updated_at    timestamptz not null default date_trunc('milliseconds', now())
);

-- Case-insensitive uniqueness; the index names are what the application maps to CONFLICT fields.
create unique index users_email_key on users (email);
create unique index users_username_lower_key on users (lower(username));

create table datasets (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null references users (id) on delete cascade,
  name        text not null check (char_length(name) between 1 and 255),
  description text check (char_length(description) <= 10000),
  file_path   text check (char_length(file_path) <= 500),
  created_at  timestamptz not null default date_trunc('milliseconds', now()),
  updated_at  timestamptz not null default date_trunc('milliseconds', now())
);

-- Name order is case-insensitive and byte-wise ("C"), so it is the same on every engine and
-- locale; the list queries use exactly these expressions so the indexes serve them.
-- A user's list in each order (the first also serves the foreign key on user delete).
create index datasets_user_created_idx on datasets (user_id, created_at, id);
create index datasets_user_name_idx on datasets (user_id, (lower(name) collate "C"), id);
-- The admin list in each order.
create index datasets_created_idx on datasets (created_at, id);
create index datasets_name_idx on datasets ((lower(name) collate "C"), id);
