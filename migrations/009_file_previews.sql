-- Previews of tabular files: one profile per content and the way it is read.
--
-- A profile belongs to the bytes (sha256) read as one format: the same bytes committed again,
-- in any dataset or version, under a name of the same format, reuse it. A file whose name
-- says no table format has no row here: its preview is UNSUPPORTED without any work.
-- The job that makes a profile is a pg-boss job (src/previews/queue.ts), enqueued in the
-- commit's transaction together with the PENDING row below.

create table file_previews (
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
  primary key (sha256, format, compression),
  check ((status = 'READY') = (row_count is not null and columns is not null and rows is not null)),
  check ((status = 'FAILED') = (error is not null))
);
create index file_previews_pending_idx on file_previews (created_at) where status = 'PENDING';
