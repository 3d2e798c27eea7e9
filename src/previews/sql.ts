/**
 * All SQL about previews (migrations/009, 012). A profile is one dataset's: its key is
 * (dataset_id, sha256, format, compression). Row counts are bigint in the table and read as
 * float8, which holds every integer up to 2^53 exactly (SafeInt).
 */

const PREVIEW_COLUMNS = `dataset_id as "datasetId", sha256, format, compression, status, row_count::float8 as "rowCount", columns, rows, error, profiles, table_key as "tableKey"`;

/** $1 user: how many of their previews are queued or being made (their place in the queue). */
export const PENDING_OF_USER = `
  select count(*)::int as "count" from file_previews where requested_by = $1 and status = 'PENDING'`;

/**
 * $1 dataset, $2 user, $3 sha256s, $4 formats, $5 compressions (parallel): a PENDING row for
 * each one the dataset has none of; returns the rows made (those need a job). The primary key
 * decides, so two commits of the same content to one dataset at once make one row and one job.
 */
export const INSERT_PENDING = `
  insert into file_previews (dataset_id, requested_by, sha256, format, compression)
  select $1, $2, * from unnest($3::text[], $4::text[], $5::text[])
  on conflict do nothing
  returning dataset_id as "datasetId", sha256, format, compression`;

/** $1 dataset ids, $2 sha256s, $3 formats, $4 compressions (parallel): those previews. */
export const PREVIEWS = `
  select ${PREVIEW_COLUMNS} from file_previews
  where (dataset_id, sha256, format, compression) in (select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[]))`;

/**
 * $1 dataset, $2 sha256s, $3 formats, $4 compressions (parallel): the content among them whose
 * profile in this dataset has settled (READY or FAILED). Locked for share: a worker storing
 * one at this moment is waited for, and its result seen.
 */
export const SETTLED_CONTENT = `
  select sha256 from file_previews
  where dataset_id = $1 and (sha256, format, compression) in (select * from unnest($2::text[], $3::text[], $4::text[]))
    and status <> 'PENDING'
  for share`;

/** $1 dataset, $2 version, $3 sha256: the paths and content types of that version holding that content. */
export const PATHS_HOLDING = `
  select path, content_type as "contentType" from version_files
  where dataset_id = $1 and sha256 = $3 and first_version <= $2 and (last_version is null or last_version >= $2)
  order by path`;

/** $1 dataset, $2 sha256, $3 format, $4 compression: a worker starts an attempt; with the blob's size (null: gone). */
export const START_ATTEMPT = `
  update file_previews p set attempts = attempts + 1, started_at = now()
  from blobs b
  where p.dataset_id = $1 and p.sha256 = $2 and p.format = $3 and p.compression = $4 and p.status = 'PENDING' and b.sha256 = p.sha256
  returning b.size::float8 as "size", p.attempts`;

/** The latest version of the stored profile's dataset holding its content (for PREVIEW_READY). */
const LATEST_HOLDING = `(select max(coalesce(v.last_version, d.latest_version)) from version_files v join datasets d on d.id = v.dataset_id
  where v.dataset_id = p.dataset_id and v.sha256 = p.sha256)::int as "version"`;

/**
 * $1 dataset, $2 sha256, $3 format, $4 compression, $5 row count, $6 columns, $7 rows, $8 column
 * profiles, $9 the columnar copy's address (both null: no copy): READY, once. Once stored, the
 * copy is no longer due for removal (ENTER_ORPHAN); when the profile was stored already, it stays due.
 */
export const SET_READY = `
  with ready as (
    update file_previews p set status = 'READY', row_count = $5, columns = $6, rows = $7, profiles = $8, table_key = $9, finished_at = now()
    where dataset_id = $1 and sha256 = $2 and format = $3 and compression = $4 and status = 'PENDING'
    returning ${LATEST_HOLDING}
  ), kept as (
    delete from file_table_orphans where table_key = $9::text and exists (select 1 from ready)
  )
  select "version" from ready`;

/** $1 a columnar copy's address, $2 seconds: to be removed after that long unless its profile is stored READY by then. */
export const ENTER_ORPHAN = `
  insert into file_table_orphans (table_key, delete_after) values ($1, now() + make_interval(secs => $2::float8))
  on conflict (table_key) do nothing`;

/** $1 dataset, $2 sha256, $3 format, $4 compression, $5 error: FAILED, once. */
export const SET_FAILED = `
  update file_previews p set status = 'FAILED', error = $5, finished_at = now()
  where dataset_id = $1 and sha256 = $2 and format = $3 and compression = $4 and status = 'PENDING'
  returning ${LATEST_HOLDING}`;

/**
 * $1 sha256, $2 format, $3 compression: the PENDING copies migration 012 made of a profile
 * queued before it (no `requested_by`), each with its dataset and the content's size.
 */
export const LEGACY_PENDING = `
  select p.dataset_id as "datasetId", b.size::float8 as "size"
  from file_previews p join blobs b on b.sha256 = p.sha256
  where p.sha256 = $1 and p.format = $2 and p.compression = $3 and p.status = 'PENDING' and p.requested_by is null`;

/** Previews waiting or being made, for the queued gauge. */
export const PENDING_COUNT = `select count(*)::int as "count" from file_previews where status = 'PENDING'`;
