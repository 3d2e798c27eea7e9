-- Exploring a table without downloading it (issue 23): each READY profile gains its column
-- profiles (exact counts, min/max, mean/stddev, histograms, most frequent values) and the
-- storage address of its columnar copy (Parquet, with a row-position column), which row
-- queries read. Both are made once, by the profile's job, over the whole file.
--
-- The copy belongs to its profile, so to one dataset, like the profile itself (migration 012):
-- each profile's copy is its own (a random address), never shared across datasets, so that no answer or timing tells anyone that another dataset holds the same bytes.
-- Profiles made before this migration keep their columns and row count and have neither: their
-- `table` is null (src/tables/).

alter table file_previews add column profiles jsonb;
alter table file_previews add column table_key text check (table_key ~ '^[0-9a-f]{64}$');

-- A copy's bytes are in storage, which no transaction reaches, so their removal is queued
-- here: a worker enters a copy's address before it stores the bytes (to be deleted after
-- `delete_after`, past the attempt's lease, should the attempt never store its profile) and
-- takes the entry out in the transaction that stores the profile READY; when a profile's row
-- goes (its dataset or its content deleted: cascades), the trigger enters its address again,
-- to be deleted at once. The content sweep (src/files/garbage.ts) deletes the bytes, then
-- the entry. Each copy has an address of its own (random), never reused.
create table file_table_orphans (
  table_key    text primary key check (table_key ~ '^[0-9a-f]{64}$'),
  delete_after timestamptz not null default now()
);
create index file_table_orphans_due_idx on file_table_orphans (delete_after);

create function keep_orphaned_file_table() returns trigger
language plpgsql as $$
begin
  insert into file_table_orphans (table_key) values (old.table_key)
    on conflict (table_key) do update set delete_after = now();
  return null;
end
$$;

create trigger file_previews_orphaned_table after delete on file_previews
  for each row when (old.table_key is not null) execute function keep_orphaned_file_table();
