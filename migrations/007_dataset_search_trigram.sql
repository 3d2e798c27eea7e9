-- Dataset search: `name ilike '%…%' or description ilike '%…%'` (src/datasets/sql.ts) served by
-- trigram GIN indexes (pg_trgm) instead of reading every row a user or an admin can see. On
-- PostgreSQL, pg_trgm is in contrib and trusted (the database owner may create it); PGlite
-- loads it as an extension (src/db/pglite.ts). A search of fewer than 3 characters has no
-- trigram and still reads the rows.
--
-- An extension exists once per database, in one schema: it is created in `public` (not in the
-- first schema of the search path, which a test or a tenant schema may drop, taking every
-- index on its operator classes with it), and an existing one is used where it is. Where the
-- engine has no pg_trgm, or the role may not create it, the search works without the indexes
-- and the migration says so.
do $$
declare
  trgm_schema name;
begin
  if not exists (select 1 from pg_extension where extname = 'pg_trgm') then
    if not exists (select 1 from pg_available_extensions where name = 'pg_trgm') then
      raise notice 'pg_trgm is not available: dataset search runs without trigram indexes';
      return;
    end if;
    begin
      create extension pg_trgm schema public;
    exception when insufficient_privilege then
      raise notice 'pg_trgm cannot be created by this role (create it as the database owner, then re-run 007): dataset search runs without trigram indexes';
      return;
    end;
  end if;
  select n.nspname into trgm_schema
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
  where e.extname = 'pg_trgm';
  execute format('create index datasets_name_trgm_idx on datasets using gin (name %I.gin_trgm_ops)', trgm_schema);
  execute format('create index datasets_description_trgm_idx on datasets using gin (description %I.gin_trgm_ops)', trgm_schema);
end
$$;
