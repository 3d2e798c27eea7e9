-- The catalog's facets, counted as they change (issue 21).
--
-- The first page of exploreDatasets with its facets grouped every public dataset's tags,
-- licence and formats on each request: at 20,000 public datasets that is most of the
-- request's time. A table of counts, kept in step by triggers, answers the unfiltered catalog
-- by reading a few hundred rows. A filtered catalog (a search, tags, a licence, an owner, a
-- format, a token's dataset limit) still groups its own rows, in SQL
-- (src/datasets/catalog-sql.ts).
--
-- Triggers rather than application code, as for 005's notifications: every write of a
-- dataset, a version or a preview, by this release or by the previous one during a rolling
-- deploy, keeps the counts, in the transaction of the write.

-- Nothing writes datasets, versions or previews while the counts are filled from them below
-- (the datasets lock is taken again, stronger, by the alter table).
lock table datasets, version_files, file_previews in share row exclusive mode;

-- 1. A dataset's formats: the preview formats of its latest version's files (a file counts by
--    its preview row, whatever the preview's status), the catalog's `format` facet and filter.
--    Kept on the row, so that its counts follow the row's changes as the tags' and licence's do.
alter table datasets add column latest_formats text[] not null default '{}';

-- The formats, those of file_previews' check (a new format changes that check, in a migration
-- that changes this list too). One probe per format, each stopping at its first file: a
-- commit to a dataset of 10,000 CSV files does not read them all.
create function dataset_latest_formats(dataset uuid) returns text[] language sql stable as $$
  select coalesce(array_agg(formats.format order by formats.format), '{}')
  from (values ('csv'), ('json'), ('jsonl'), ('parquet'), ('tsv')) as formats (format)
  where exists (
    select 1
    from file_previews p
    join version_files f on f.dataset_id = p.dataset_id and f.sha256 = p.sha256 and f.last_version is null
    where p.dataset_id = dataset and p.format = formats.format
  )
$$;

update datasets set latest_formats = dataset_latest_formats(id)
where exists (select 1 from file_previews p where p.dataset_id = datasets.id);

-- After each statement that adds or closes latest-version files, or adds or removes previews:
-- the formats of the datasets it touched, written only where they changed. (Preview rows are
-- otherwise only updated in their status and results, never in dataset, content or format,
-- so updates need no trigger.) A dataset deleted with its rows is gone: nothing to update.
create function follow_latest_formats() returns trigger language plpgsql as $$
begin
  update datasets d set latest_formats = touched.formats
  from (select id, dataset_latest_formats(id) as formats from (select distinct dataset_id as id from changed_rows) ids) touched
  where d.id = touched.id and d.latest_formats is distinct from touched.formats;
  return null;
end
$$;
create trigger version_files_latest_formats_insert after insert on version_files
  referencing new table as changed_rows for each statement execute function follow_latest_formats();
create trigger version_files_latest_formats_update after update on version_files
  referencing new table as changed_rows for each statement execute function follow_latest_formats();
create trigger file_previews_latest_formats_insert after insert on file_previews
  referencing new table as changed_rows for each statement execute function follow_latest_formats();
create trigger file_previews_latest_formats_delete after delete on file_previews
  referencing old table as changed_rows for each statement execute function follow_latest_formats();

-- 2. The counts over PUBLIC datasets: `all` (value '') the number of them, `tag`, `license`
--    and `format` each value's number of datasets (a dataset counts once per value). A value
--    no public dataset holds any more keeps its row at 0 (the catalog reads count > 0), so
--    that a count row is only ever updated, never deleted and made again.
create table catalog_facet_counts (
  facet text not null check (facet in ('all', 'tag', 'license', 'format')),
  value text not null,
  count integer not null,
  primary key (facet, value)
);
-- A facet's most frequent values first, as the catalog lists them (at most 20): read in that
-- order, so a vocabulary of many thousand tags costs no more than one of a few hundred.
create index catalog_facet_counts_top_idx on catalog_facet_counts (facet, count desc, value);

-- What one dataset adds to the counts while it is public.
create function catalog_facet_values(tags text[], license text, formats text[])
returns table (facet text, value text) language sql immutable as $$
  select 'all', ''
  union all select 'tag', t.tag from unnest(tags) as t (tag)
  union all select 'license', license where license is not null
  union all select 'format', f.format from unnest(formats) as f (format)
$$;

insert into catalog_facet_counts (facet, value, count)
select v.facet, v.value, count(*)::int
from datasets d cross join lateral catalog_facet_values(d.tags, d.license, d.latest_formats) v
where d.visibility = 'PUBLIC'
group by v.facet, v.value;

-- After each statement on datasets: what its rows took away from the counts (as they were, if
-- public) and added (as they are, if public), netted per value, so a change of anything else
-- (a commit's latest_version, a name) writes nothing. Applied in (facet, value) order, so
-- that two transactions changing the same values lock their rows in the same order.
create function follow_catalog_facet_counts() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    insert into catalog_facet_counts as c (facet, value, count)
    select v.facet, v.value, count(*)::int
    from new_rows d cross join lateral catalog_facet_values(d.tags, d.license, d.latest_formats) v
    where d.visibility = 'PUBLIC'
    group by v.facet, v.value
    order by v.facet, v.value
    on conflict (facet, value) do update set count = c.count + excluded.count;
  elsif tg_op = 'DELETE' then
    insert into catalog_facet_counts as c (facet, value, count)
    select v.facet, v.value, -count(*)::int
    from old_rows d cross join lateral catalog_facet_values(d.tags, d.license, d.latest_formats) v
    where d.visibility = 'PUBLIC'
    group by v.facet, v.value
    order by v.facet, v.value
    on conflict (facet, value) do update set count = c.count + excluded.count;
  else
    insert into catalog_facet_counts as c (facet, value, count)
    select changes.facet, changes.value, sum(changes.delta)::int
    from (
      select v.facet, v.value, -1 as delta
      from old_rows d cross join lateral catalog_facet_values(d.tags, d.license, d.latest_formats) v
      where d.visibility = 'PUBLIC'
      union all
      select v.facet, v.value, 1
      from new_rows d cross join lateral catalog_facet_values(d.tags, d.license, d.latest_formats) v
      where d.visibility = 'PUBLIC'
    ) changes
    group by changes.facet, changes.value
    having sum(changes.delta) <> 0
    order by changes.facet, changes.value
    on conflict (facet, value) do update set count = c.count + excluded.count;
  end if;
  return null;
end
$$;
create trigger datasets_catalog_counts_insert after insert on datasets
  referencing new table as new_rows for each statement execute function follow_catalog_facet_counts();
create trigger datasets_catalog_counts_update after update on datasets
  referencing old table as old_rows new table as new_rows for each statement execute function follow_catalog_facet_counts();
create trigger datasets_catalog_counts_delete after delete on datasets
  referencing old table as old_rows for each statement execute function follow_catalog_facet_counts();

-- Every dataset gone at once: no public one is left.
create function clear_catalog_facet_counts() returns trigger language plpgsql as $$
begin
  delete from catalog_facet_counts;
  return null;
end
$$;
create trigger datasets_catalog_counts_truncate after truncate on datasets
  for each statement execute function clear_catalog_facet_counts();
