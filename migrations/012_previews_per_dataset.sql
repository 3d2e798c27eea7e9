-- Previews belong to a dataset (issue 18, finding 6).
--
-- Until now a profile belonged to the bytes alone: the same bytes committed anywhere reused it,
-- so a commit that was READY (or FAILED) at once told its author that someone on the platform
-- held exactly those bytes. A profile now belongs to (dataset, content, format, compression):
-- within one dataset the same bytes are read once (whoever may commit to or read a dataset
-- reads all of its versions anyway); across datasets nothing is reused, not even between two
-- datasets of one owner (an editor of one must not learn what the owner holds elsewhere).
-- Storage still keeps one copy of the bytes.
--
-- Existing profiles are kept for every dataset that holds their content: each row is copied
-- once per such dataset. The copies have no `requested_by`; a copied PENDING row's job was
-- queued before this migration and names the content alone: the worker turns it into one job
-- per dataset (src/previews/worker.ts).

alter table file_previews rename to file_previews_by_content;
alter index file_previews_pkey rename to file_previews_by_content_pkey;
drop index file_previews_pending_idx;

create table file_previews (
  -- The profile goes with its dataset.
  dataset_id   uuid not null references datasets (id) on delete cascade,
  sha256       text not null references blobs (sha256) on delete cascade,
  -- How the bytes are read: csv, tsv, parquet, jsonl, json.
  format       text not null check (format in ('csv', 'tsv', 'parquet', 'jsonl', 'json')),
  -- none, or gzip (file.csv.gz, …).
  compression  text not null check (compression in ('none', 'gzip')),
  status       text not null default 'PENDING' check (status in ('PENDING', 'READY', 'FAILED')),
  row_count    bigint check (row_count >= 0),
  -- [{ "name", "type", "nullCount" }] in file order.
  columns      jsonb,
  -- The first rows (at most 100), each a JSON array in column order, long values cut.
  rows         jsonb,
  -- Why FAILED, in words for a person (never an engine's own text).
  error        text check (char_length(error) <= 2000),
  -- Attempts started so far, and when the last one started; for operators (README "Previews").
  attempts     integer not null default 0,
  started_at   timestamptz,
  finished_at  timestamptz,
  created_at   timestamptz not null default now(),
  -- Who committed the file: each user's queued previews wait their turn among everyone's
  -- (src/previews/store.ts). Null for rows older than this column, and once the account is gone.
  requested_by uuid references users (id) on delete set null,
  primary key (dataset_id, sha256, format, compression),
  check ((status = 'READY') = (row_count is not null and columns is not null and rows is not null)),
  check ((status = 'FAILED') = (error is not null))
);

insert into file_previews (dataset_id, sha256, format, compression, status, row_count, columns, rows, error, attempts, started_at, finished_at, created_at)
select holders.dataset_id, p.sha256, p.format, p.compression, p.status, p.row_count, p.columns, p.rows, p.error, p.attempts, p.started_at, p.finished_at, p.created_at
from file_previews_by_content p
join (select distinct dataset_id, sha256 from version_files) holders on holders.sha256 = p.sha256;

drop table file_previews_by_content;

create index file_previews_pending_idx on file_previews (created_at) where status = 'PENDING';
-- A blob's deletion cascades here.
create index file_previews_sha256_idx on file_previews (sha256);
-- A user's queued previews (their turn), and the set-null on a deleted account.
create index file_previews_requested_by_idx on file_previews (requested_by, status);
