/**
 * All SQL about previews (migrations/009). Row counts are bigint in the table and read as
 * float8, which holds every integer up to 2^53 exactly (SafeInt).
 */

const PREVIEW_COLUMNS = `sha256, format, compression, status, row_count::float8 as "rowCount", columns, rows, error`;

/**
 * $1 sha256s, $2 formats, $3 compressions (parallel): a PENDING row for each one that has
 * none; returns the rows made (those need a job). The primary key decides, so two commits
 * of the same content at once make one row and one job.
 */
export const INSERT_PENDING = `
  insert into file_previews (sha256, format, compression)
  select * from unnest($1::text[], $2::text[], $3::text[])
  on conflict do nothing
  returning sha256, format, compression`;

/** $1 sha256s, $2 formats, $3 compressions (parallel): those previews. */
export const PREVIEWS = `
  select ${PREVIEW_COLUMNS} from file_previews
  where (sha256, format, compression) in (select * from unnest($1::text[], $2::text[], $3::text[]))`;

/** $1 sha256, $2 format, $3 compression: a worker starts an attempt; with the blob's size (null: gone). */
export const START_ATTEMPT = `
  update file_previews p set attempts = attempts + 1, started_at = now()
  from blobs b
  where p.sha256 = $1 and p.format = $2 and p.compression = $3 and p.status = 'PENDING' and b.sha256 = p.sha256
  returning b.size::float8 as "size", p.attempts`;

/** $1 sha256, $2 format, $3 compression, $4 row count, $5 columns, $6 rows: READY, once. */
export const SET_READY = `
  update file_previews set status = 'READY', row_count = $4, columns = $5, rows = $6, finished_at = now()
  where sha256 = $1 and format = $2 and compression = $3 and status = 'PENDING'
  returning sha256`;

/** $1 sha256, $2 format, $3 compression, $4 error: FAILED, once. */
export const SET_FAILED = `
  update file_previews set status = 'FAILED', error = $4, finished_at = now()
  where sha256 = $1 and format = $2 and compression = $3 and status = 'PENDING'
  returning sha256`;

/** Previews waiting or being made, for the queued gauge. */
export const PENDING_COUNT = `select count(*)::int as "count" from file_previews where status = 'PENDING'`;
