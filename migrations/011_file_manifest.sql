-- Version file lists as a manifest: one row per (dataset, path, content) for the run of
-- versions that hold it, instead of each version's whole list copied from its parent (008).
-- A commit writes a row per added or replaced path and closes the rows of the replaced and
-- removed ones, so its cost follows what it changes: a one-line commit on a 10,000-file
-- version writes one row, not 10,000.
--
-- Version N's files are the rows with first_version <= N and (last_version is null or
-- last_version >= N); last_version is null while the file is in the latest version. What the
-- rows cost the database is metered per dataset (metadata_bytes, below; METADATA_QUOTA).

alter table version_files rename to version_files_copied;
alter index version_files_pkey rename to version_files_copied_pkey;
alter index version_files_sha256_idx rename to version_files_copied_sha256_idx;

create table version_files (
  -- The rows go with their dataset (one cascade over the primary key's prefix).
  dataset_id    uuid not null references datasets (id) on delete cascade,
  -- The first version holding this file, and the last (null: still in the latest).
  first_version integer not null check (first_version >= 1),
  last_version  integer check (last_version >= first_version),
  path          text collate "C" not null check (octet_length(path) between 1 and 1024),
  sha256        text not null references blobs (sha256) on delete restrict,
  size          bigint not null check (size >= 0),
  content_type  text not null,
  -- Any version's files in path order, and one path's history (the file at a path).
  primary key (dataset_id, path, first_version)
);
-- The latest version's files (what a commit reads and closes), one open row per path.
create unique index version_files_latest_idx on version_files (dataset_id, path) where last_version is null;
-- Who holds a content: the garbage collector, the quota, preview events.
create index version_files_sha256_idx on version_files (sha256);

-- Consecutive versions holding the same path with the same content become one row: within
-- (dataset, path, content), version - row_number() is constant exactly along a run of
-- consecutive versions (a gap, another content in between, starts a new run).
insert into version_files (dataset_id, first_version, last_version, path, sha256, size, content_type)
select run.dataset_id, run.first_version, nullif(run.last_version, d.latest_version), run.path, run.sha256, run.size, run.content_type
from (
  select dataset_id, path, sha256, size, content_type, min(version) as first_version, max(version) as last_version
  from (
    select f.*, f.version - row_number() over (partition by f.dataset_id, f.path, f.sha256, f.size, f.content_type order by f.version) as run
    from version_files_copied f
  ) numbered
  group by dataset_id, path, sha256, size, content_type, run
) run
join datasets d on d.id = run.dataset_id;

drop table version_files_copied;
drop function refuse_version_change();

-- Each distinct content any version of a dataset holds, once: what the quota counts (a user's
-- content is the union of their datasets'). Versions are immutable, so a dataset's set only
-- grows until the dataset goes; the insert trigger below adds to it, so it is always exactly
-- the distinct (sha256, size) of the dataset's rows, and reading it costs one row per content
-- rather than one per file row of the history.
create table dataset_content (
  dataset_id uuid not null references datasets (id) on delete cascade,
  sha256     text not null,
  size       bigint not null check (size >= 0),
  primary key (dataset_id, sha256)
);
insert into dataset_content (dataset_id, sha256, size) select distinct dataset_id, sha256, size from version_files;

-- What a dataset's versions cost the database, in bytes, as src/files/metering.ts counts it:
-- 128 per version plus its message's bytes, 256 per file row plus 6 × its path's bytes (the
-- table and two indexes hold it) plus its content type's. Counted against the owner's
-- METADATA_QUOTA; it goes with the dataset.
alter table datasets add column metadata_bytes bigint not null default 0 check (metadata_bytes >= 0);
update datasets d set metadata_bytes = used.bytes
from (
  select dataset_id, sum(bytes) as bytes from (
    select dataset_id, 128 + coalesce(octet_length(message), 0) as bytes from dataset_versions
    union all
    select dataset_id, 256 + 6 * octet_length(path) + octet_length(content_type) from version_files
  ) rows
  group by dataset_id
) used
where used.dataset_id = d.id;

-- Committed versions never change. The rows may change only while the dataset's newest
-- version is being committed: its number is the dataset's latest_version (moved on by the
-- commit) and its dataset_versions row is not written yet (the commit writes it last).
-- Then a row may be added to it, and a row of the parent closed (last_version set to the
-- parent's number); nothing else, ever, whoever sends it. Rows go only with their dataset.
-- The checks run once per statement, over the versions its rows belong to, however many
-- rows it touched.
create function version_files_check_insert() returns trigger language plpgsql as $$
begin
  if exists (
    select 1
    from (select distinct dataset_id, first_version, last_version from new_files) f
    left join datasets d on d.id = f.dataset_id
    where f.last_version is not null
       or f.first_version is distinct from d.latest_version
       or exists (select 1 from dataset_versions v where v.dataset_id = f.dataset_id and v.number = f.first_version)
  ) then
    raise exception 'committed versions are immutable (INSERT of version_files): files are added only to the version being committed';
  end if;
  insert into dataset_content (dataset_id, sha256, size)
  select distinct dataset_id, sha256, size from new_files
  on conflict do nothing;
  return null;
end
$$;

-- An update may only close a row of the parent: each row is checked by the trigger's WHEN
-- (evaluated without calling a function, so a commit closing 10,000 rows pays next to
-- nothing), and the statement's versions once.
create function version_files_refuse_change() returns trigger language plpgsql as $$
begin
  raise exception 'committed versions are immutable (% of version_files): only the parent''s rows are closed, by the commit after it', tg_op;
end
$$;

create function version_files_check_update() returns trigger language plpgsql as $$
begin
  if exists (
    select 1
    from (select distinct dataset_id, last_version from new_files) n
    left join datasets d on d.id = n.dataset_id
    where n.last_version is distinct from d.latest_version - 1
       or exists (select 1 from dataset_versions v where v.dataset_id = n.dataset_id and v.number = d.latest_version)
  ) then
    raise exception 'committed versions are immutable (UPDATE of version_files): only the parent''s rows are closed, by the commit after it';
  end if;
  return null;
end
$$;

create function version_files_check_delete() returns trigger language plpgsql as $$
begin
  if exists (select 1 from datasets d where d.id in (select distinct dataset_id from old_files)) then
    raise exception 'committed versions are immutable (DELETE of version_files): files go only with their dataset';
  end if;
  return null;
end
$$;

create trigger version_files_insert_check after insert on version_files
  referencing new table as new_files for each statement execute function version_files_check_insert();
create trigger version_files_update_row_check before update on version_files
  for each row when (
    old.last_version is not null or new.last_version is null
    or (new.dataset_id, new.path, new.first_version, new.sha256, new.size, new.content_type)
       is distinct from (old.dataset_id, old.path, old.first_version, old.sha256, old.size, old.content_type)
  ) execute function version_files_refuse_change();
create trigger version_files_update_check after update on version_files
  referencing new table as new_files for each statement execute function version_files_check_update();
create trigger version_files_delete_check after delete on version_files
  referencing old table as old_files for each statement execute function version_files_check_delete();
