-- Publishing (issue 21): a dataset's visibility and its card (licence, tags, README).
--
-- Every existing dataset stays PRIVATE (the column's default), as it was. The new columns have
-- constant defaults or are nullable, so the previous release keeps working during a rolling
-- deploy (it neither reads nor writes them, and its inserts get the defaults).
alter table datasets
  add column visibility text not null default 'PRIVATE' check (visibility in ('PRIVATE', 'UNLISTED', 'PUBLIC')),
  -- An SPDX licence id, checked by the server against the SPDX list (src/datasets/card.ts).
  add column license text check (char_length(license) <= 100),
  -- At most 20, each 1-32 of a-z 0-9 '-', no duplicates: the server checks them; the table
  -- keeps the limits that cost nothing to state.
  add column tags text[] not null default '{}' check (cardinality(tags) <= 20),
  add column readme text check (char_length(readme) <= 100000);

-- The public catalog (exploreDatasets) reads PUBLIC datasets only: partial indexes hold just
-- those rows, so its pages and its facet counts never look at private ones. Its orders are
-- the lists' (migration 001), on the same expressions.
create index datasets_public_created_idx on datasets (created_at, id) where visibility = 'PUBLIC';
create index datasets_public_name_idx on datasets ((lower(name) collate "C"), id) where visibility = 'PUBLIC';
-- "Holding every tag given": tags @> array[...].
create index datasets_public_tags_idx on datasets using gin (tags) where visibility = 'PUBLIC';
create index datasets_public_license_idx on datasets (license) where visibility = 'PUBLIC';
-- An owner's public datasets: the owner index of migration 001 (user_id, created_at, id) serves it.

-- The catalog's search, as the lists' (migration 007): trigram indexes over the public rows,
-- where pg_trgm is there (007 says why and where it may not be).
do $$
declare
  trgm_schema name;
begin
  select n.nspname into trgm_schema
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
  where e.extname = 'pg_trgm';
  if trgm_schema is null then
    raise notice 'pg_trgm is not installed: the catalog search runs without trigram indexes';
    return;
  end if;
  execute format('create index datasets_public_name_trgm_idx on datasets using gin (name %I.gin_trgm_ops) where visibility = ''PUBLIC''', trgm_schema);
  execute format('create index datasets_public_description_trgm_idx on datasets using gin (description %I.gin_trgm_ops) where visibility = ''PUBLIC''', trgm_schema);
end
$$;
