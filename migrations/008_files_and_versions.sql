-- Files, uploads and immutable versions.
--
-- Content is stored once per SHA-256 (the `blobs` table names what the blob store holds).
-- A blob row may be deleted only while nothing references it: the foreign keys from
-- version files and uploads are ON DELETE RESTRICT, so PostgreSQL itself refuses to drop
-- content that a version or a live upload still needs, whatever the garbage collector
-- believed a moment before (see src/files/garbage.ts).

create table blobs (
  sha256     text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
  size       bigint not null check (size >= 0),
  created_at timestamptz not null default now()
);

-- The number of the dataset's newest version (0: none yet). A commit moves it on with one
-- conditional UPDATE, so two commits on the same parent serialise on the row and exactly
-- one of them finds the number it expected.
alter table datasets add column latest_version integer not null default 0 check (latest_version >= 0);

-- A tus upload: created with its dataset and uploader, finished once its bytes are in the
-- blob store under their SHA-256. Bytes in flight live in the tus staging directory.
create table uploads (
  id              uuid primary key,
  dataset_id      uuid not null references datasets (id) on delete cascade,
  user_id         uuid not null references users (id) on delete cascade,
  filename        text check (char_length(filename) <= 1024),
  content_type    text check (char_length(content_type) <= 255),
  -- The client's sha256 from Upload-Metadata, checked against the bytes at the end.
  declared_sha256 text check (declared_sha256 ~ '^[0-9a-f]{64}$'),
  -- Upload-Length; null while the client defers it.
  length          bigint check (length >= 0),
  -- Bytes received so far (counted against the quota while the length is deferred).
  received        bigint not null default 0,
  -- receiving: bytes arriving; finalizing: hashed, being moved under its address; complete.
  state           text not null default 'receiving' check (state in ('receiving', 'finalizing', 'complete')),
  sha256          text references blobs (sha256) on delete restrict,
  size            bigint,
  created_at      timestamptz not null default now(),
  expires_at      timestamptz not null,
  check ((state = 'receiving') = (sha256 is null))
);
create index uploads_dataset_idx on uploads (dataset_id);
create index uploads_user_idx on uploads (user_id);
create index uploads_sha256_idx on uploads (sha256);
create index uploads_expires_idx on uploads (expires_at);

create table dataset_versions (
  dataset_id uuid not null references datasets (id) on delete cascade,
  number     integer not null check (number >= 1),
  message    text check (char_length(message) <= 10000),
  -- Kept when the author's account is deleted; the version is the dataset's.
  author_id  uuid references users (id) on delete set null,
  file_count integer not null check (file_count between 0 and 10000),
  total_size bigint not null check (total_size >= 0),
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  primary key (dataset_id, number)
);

-- A version's file list: each version holds its whole list (copied from its parent at
-- commit), so reading any version is one index range and no version depends on another.
create table version_files (
  dataset_id   uuid not null,
  version      integer not null,
  path         text collate "C" not null check (octet_length(path) between 1 and 1024),
  sha256       text not null references blobs (sha256) on delete restrict,
  size         bigint not null check (size >= 0),
  content_type text not null,
  primary key (dataset_id, version, path),
  foreign key (dataset_id, version) references dataset_versions (dataset_id, number) on delete cascade
);
create index version_files_sha256_idx on version_files (sha256);

-- Committed versions never change: any UPDATE of a version or its files is refused here,
-- whoever sends it. (They go only with their dataset, by the cascade.) The one exception is
-- the author's foreign key letting go of a deleted account (ON DELETE SET NULL).
create function refuse_version_change() returns trigger language plpgsql as $$
begin
  raise exception 'committed versions are immutable (% of %)', tg_op, tg_table_name;
end
$$;
create function refuse_version_change_but_author_gone() returns trigger language plpgsql as $$
begin
  if new.author_id is null
     and (new.dataset_id, new.number, new.message, new.file_count, new.total_size, new.created_at)
         is not distinct from (old.dataset_id, old.number, old.message, old.file_count, old.total_size, old.created_at) then
    return new;
  end if;
  raise exception 'committed versions are immutable (% of %)', tg_op, tg_table_name;
end
$$;
create trigger dataset_versions_immutable before update on dataset_versions
  for each row execute function refuse_version_change_but_author_gone();
create trigger version_files_immutable before update on version_files
  for each row execute function refuse_version_change();
