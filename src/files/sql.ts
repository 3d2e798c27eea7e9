import { accessOf, allows, scopeAt } from "../policy/access-sql.js";

/**
 * All SQL about uploads, blobs, versions and their files. Sizes are bigint in the tables
 * and read as float8, which holds every integer up to 2^53 exactly (SafeInt), so both
 * drivers hand back a number.
 */

/** A `VersionRow`'s columns, qualified by `table` where a join needs it. */
const versionColumns = (table = "dataset_versions") => `${table}.dataset_id as "datasetId", ${table}.number,
  ${table}.message, ${table}.author_id as "authorId", ${table}.file_count as "fileCount",
  ${table}.total_size::float8 as "totalSize", ${table}.created_at as "createdAt"`;
const VERSION_COLUMNS = versionColumns();

/**
 * A `FileRow`'s columns from version_files `f`, as a file of version `version` (an SQL
 * expression). A row spans the versions first_version to last_version (null: to the
 * latest); `holds` says whether it is in version `version`.
 */
const fileColumns = (version: string) =>
  `f.dataset_id as "datasetId", ${version} as version, f.path, f.sha256, f.size::float8 as "size", f.content_type as "contentType"`;
const holds = (version: string) => `f.first_version <= ${version} and (f.last_version is null or f.last_version >= ${version})`;

const uploadColumns = (t = "uploads") => `${t}.id, ${t}.dataset_id as "datasetId", ${t}.user_id as "userId",
  ${t}.filename, ${t}.content_type as "contentType", ${t}.declared_sha256 as "declaredSha256",
  ${t}.length::float8 as "length", ${t}.state, ${t}.sha256, ${t}.size::float8 as "size", ${t}.expires_at as "expiresAt"`;
const UPLOAD_COLUMNS = uploadColumns();

/** $1 dataset ids: each one's latest version (none before the first commit). */
export const LATEST_VERSIONS = `
  select ${versionColumns("v")}
  from datasets d join dataset_versions v on v.dataset_id = d.id and v.number = d.latest_version
  where d.id = any($1::uuid[])`;

/** $1 dataset ids, $2 numbers (pairwise): those versions. */
export const VERSIONS_BY_NUMBER = `
  select ${VERSION_COLUMNS} from dataset_versions
  where (dataset_id, number) in (select * from unnest($1::uuid[], $2::int[]))`;

/** $1 dataset, $2 cursor number or null, $3 limit: newest first, with the count on each row. */
export const VERSION_PAGE = `
  select ${VERSION_COLUMNS},
    (select count(*)::int from dataset_versions where dataset_id = $1) as "totalCount"
  from dataset_versions
  where dataset_id = $1 and ($2::int is null or number < $2)
  order by number desc
  limit $3`;

export const VERSION_COUNT = `select count(*)::int as "count" from dataset_versions where dataset_id = $1`;

/**
 * $1 dataset ids, $2 version numbers (pairwise), $3 limit: their files, in path (byte) order.
 * A latest version's are the open rows (one partial index range); an older one's, the rows
 * of its dataset spanning it.
 */
export const FILES_OF_VERSIONS = `
  with wanted as (
    select k.dataset_id, k.version, k.version = d.latest_version as latest
    from unnest($1::uuid[], $2::int[]) as k (dataset_id, version)
    join datasets d on d.id = k.dataset_id and k.version between 1 and d.latest_version
  )
  select ${fileColumns("w.version")}
  from wanted w join version_files f on f.dataset_id = w.dataset_id and f.last_version is null
  where w.latest
  union all
  select ${fileColumns("w.version")}
  from wanted w join version_files f on f.dataset_id = w.dataset_id and ${holds("w.version")}
  where not w.latest
  order by "datasetId", version, path
  limit $3`;

/**
 * $1 dataset, $2 its latest committed version's number: that version's files (the open rows),
 * in path order. In a commit, the parent's.
 */
export const LATEST_FILES = `
  select ${fileColumns("$2::int")} from version_files f
  where f.dataset_id = $1 and f.last_version is null
  order by f.path`;

/** $1 dataset: the UTF-8 bytes of all its latest version's paths (the open rows), counted without reading them out. */
export const VERSION_PATH_BYTES = `
  select coalesce(sum(octet_length(path)), 0)::float8 as "bytes" from version_files where dataset_id = $1 and last_version is null`;

/** $1 dataset, $2 version, $3 path. */
export const FILE_AT_PATH = `
  select ${fileColumns("$2::int")}
  from datasets d join version_files f on f.dataset_id = d.id and f.path = $3 and ${holds("$2::int")}
  where d.id = $1 and $2::int between 1 and d.latest_version`;

/**
 * $1 dataset, $2 expected latest or null, then the committer's scope ($3 viewer, $4 admin,
 * $5 accesses allowed, $6 dataset limit): moves the dataset on to its next version number. The row lock
 * serialises racing commits; the second re-reads the row once the first committed and no
 * longer matches $2.
 */
export const ADVANCE_LATEST_VERSION = `
  update datasets set latest_version = latest_version + 1, updated_at = date_trunc('milliseconds', now())
  where id = $1 and ($2::int is null or latest_version = $2) and ${allows("datasets", scopeAt(3))}
  returning latest_version as "number", user_id as "ownerId"`;

/**
 * $1 dataset, then the committer's scope ($2 viewer, $3 admin, $4 accesses allowed, $5 dataset
 * limit): the latest version number and the viewer's access, to tell CONFLICT from FORBIDDEN
 * and NOT_FOUND (and whether the scope allows, so that every scope parameter is used).
 */
export const LATEST_VERSION_NUMBER = `
  select latest_version as "number", ${accessOf("datasets", scopeAt(2))} as "access", ${allows("datasets", scopeAt(2))} as "allowed"
  from datasets where id = $1`;

/** $1 upload ids, $2 dataset, $3 uploader: their finished uploads, locked until the commit ends. */
export const LOCK_FINISHED_UPLOADS = `
  select ${UPLOAD_COLUMNS} from uploads
  where id = any($1::uuid[]) and dataset_id = $2 and user_id = $3 and state = 'complete'
  for update`;

export const INSERT_VERSION = `
  insert into dataset_versions (dataset_id, number, message, author_id, file_count, total_size)
  values ($1, $2, $3, $4, $5, $6)
  returning ${VERSION_COLUMNS}`;

/**
 * $1 dataset, $2 the version being committed, then the files it adds or replaces as parallel
 * arrays: paths, sha256s, sizes, content types. Each row is open (in the latest version) until
 * a later commit closes it.
 */
export const INSERT_VERSION_FILES = `
  insert into version_files (dataset_id, first_version, path, sha256, size, content_type)
  select $1, $2, file.path, file.sha256, file.size, file.content_type
  from unnest($3::text[], $4::text[], $5::bigint[], $6::text[]) as file (path, sha256, size, content_type)`;

/**
 * $1 dataset, $2 the version being committed, $3 paths: closes their open rows (the parent's
 * files it replaces or removes), which then end at the parent. The only change the table
 * allows (migrations/011).
 */
export const CLOSE_VERSION_FILES = `
  update version_files set last_version = $2::int - 1
  where dataset_id = $1 and last_version is null and path = any($3::text[])`;

/** $1 owner: what their datasets' versions cost the database, in bytes (src/files/metering.ts). */
export const METADATA_USED = `select coalesce(sum(metadata_bytes), 0)::float8 as "used" from datasets where user_id = $1`;

/** $1 dataset, $2 bytes its new version costs the database. */
export const ADD_METADATA_BYTES = `update datasets set metadata_bytes = metadata_bytes + $2 where id = $1`;

export const DELETE_UPLOADS = `delete from uploads where id = any($1::uuid[])`;

/** $1 id, $2 dataset, $3 uploader, $4 filename, $5 content type, $6 declared sha256, $7 length, $8 expiry (seconds). */
export const INSERT_UPLOAD = `
  insert into uploads (id, dataset_id, user_id, filename, content_type, declared_sha256, length, expires_at)
  values ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))`;

export const UPLOAD_BY_ID = `select ${UPLOAD_COLUMNS} from uploads where id = $1`;

/** $1 upload, $2 bytes: what its staging holds, once no request writes into it. */
export const SET_UPLOAD_RECEIVED = `update uploads set received = $2 where id = $1 and state = 'receiving'`;

/** $1 upload, $2 bytes: what it may hold once a request writing into it ends (never less than reserved already). */
export const RESERVE_UPLOAD_BYTES = `update uploads set received = greatest(received, $2) where id = $1 and state = 'receiving'`;

/**
 * $1 user: bytes counted against their quota. Each distinct content in any version of
 * their datasets (dataset_content: one row per content, however long the history) or any
 * finished upload of theirs once, plus what unfinished uploads
 * declared (or received, while their length is deferred). $2: an upload to leave out.
 */
export const STORAGE_USED = `
  with content as (
    select c.sha256, c.size from dataset_content c join datasets d on d.id = c.dataset_id where d.user_id = $1
    union
    select sha256, size from uploads where user_id = $1 and sha256 is not null
  )
  select (coalesce((select sum(size) from content), 0)
        + coalesce((select sum(coalesce(length, received)) from uploads
                    where user_id = $1 and state = 'receiving' and ($2::uuid is null or id <> $2)), 0))::float8 as "used"`;

/** The per-user lock under which stored bytes take their share of the quota (upload creation and finish, commits to another's dataset). */
export const UPLOADER_LOCK = "select pg_advisory_xact_lock(hashtextextended($1, 7261534502))";

/** $1 dataset: its owner, whose quota its committed content counts against. */
export const DATASET_OWNER = `select user_id as "ownerId" from datasets where id = $1`;

/** $1 sha256, $2 size: the blob row, made or kept (its lock waits for a collector deleting it). */
export const UPSERT_BLOB = `
  insert into blobs (sha256, size) values ($1, $2)
  on conflict (sha256) do update set size = excluded.size`;

/** $1 upload, $2 sha256, $3 size: the upload pointing at its blob row. */
export const MARK_UPLOAD_FINALIZING = `
  update uploads set state = 'finalizing', sha256 = $2, size = $3, received = $3
  where id = $1 and state = 'receiving'
  returning id`;

export const MARK_UPLOAD_COMPLETE = `update uploads set state = 'complete' where id = $1 and state = 'finalizing' returning id`;

/** $1 user: uploads not yet committed (each holds a row), and of those the unfinished ones (each also a staged file). */
export const LIVE_UPLOADS_OF_USER = `
  select count(*)::int as "live", (count(*) filter (where state <> 'complete'))::int as "unfinished"
  from uploads where user_id = $1`;

export const DELETE_UPLOAD = `delete from uploads where id = $1`;

/** Uploads past their expiry (at most $1), any state, oldest first. */
export const EXPIRED_UPLOADS = `
  select id, state from uploads where expires_at < now() order by expires_at limit $1`;

/** Blobs that nothing references (at most $1). */
export const UNREFERENCED_BLOBS = `
  select b.sha256 from blobs b
  where not exists (select 1 from version_files f where f.sha256 = b.sha256)
    and not exists (select 1 from uploads u where u.sha256 = b.sha256)
  limit $1`;

/**
 * $1 sha256: deletes the blob row if nothing references it. The foreign keys (RESTRICT)
 * make PostgreSQL itself re-check, with the newest committed rows, at the moment of the
 * delete; a reference committed meanwhile makes it fail (23503) and nothing is deleted.
 */
export const DELETE_BLOB = `
  delete from blobs b where b.sha256 = $1
    and not exists (select 1 from version_files f where f.sha256 = b.sha256)
    and not exists (select 1 from uploads u where u.sha256 = b.sha256)
  returning b.sha256`;

/**
 * $1 upload, then its creator's scope ($2 the viewer, $3 admin, $4 accesses allowed, $5 dataset limit): the
 * upload, if the viewer created it, with their access to its dataset now and whether the
 * scope allows them to go on with it.
 */
export const UPLOAD_OF_CREATOR = `
  select ${uploadColumns("u")}, ${accessOf("d", scopeAt(2))} as "access", ${allows("d", scopeAt(2))} as "allowed"
  from uploads u join datasets d on d.id = u.dataset_id
  where u.id = $1 and u.user_id = $2`;

/**
 * $1 dataset, $2 version number or null for the latest, then the reader's scope ($3 viewer,
 * $4 admin, $5 accesses allowed, $6 dataset limit), $7 path: the file, if the reader may read the dataset.
 */
export const FILE_FOR_READER = `
  select ${fileColumns("v.number")}
  from datasets d
  cross join lateral (select coalesce($2::int, d.latest_version) as number) v
  join version_files f on f.dataset_id = d.id and f.path = $7 and ${holds("v.number")}
  where d.id = $1 and v.number between 1 and d.latest_version and ${allows("d", scopeAt(3))}`;

/** $1 user, $2 sha256: a row when the user's datasets or finished uploads already hold this content (it costs no more quota). */
export const CONTENT_HELD_BY_USER = `
  select 1 from dataset_content c join datasets d on d.id = c.dataset_id where d.user_id = $1 and c.sha256 = $2
  union all
  select 1 from uploads where user_id = $1 and sha256 = $2
  limit 1`;

/**
 * $1 dataset, $2 base version, $3 head version (both committed), $4 limit: the paths whose
 * content differs, in path (byte) order, each with its file in base and in head (null where
 * absent). A manifest row that spans both versions is the same file in both and is never
 * looked at; of the rest, a path is left out when its content is the same on both sides
 * (removed, then added again with the same bytes).
 */
export const VERSION_DIFFERENCES = `
  with base as (
    select f.path, f.sha256, f.size, f.content_type from version_files f
    where f.dataset_id = $1 and ${holds("$2::int")} and not (${holds("$3::int")})
  ), head as (
    select f.path, f.sha256, f.size, f.content_type from version_files f
    where f.dataset_id = $1 and ${holds("$3::int")} and not (${holds("$2::int")})
  )
  select coalesce(b.path, h.path) as path,
    b.sha256 as "beforeSha256", b.size::float8 as "beforeSize", b.content_type as "beforeContentType",
    h.sha256 as "afterSha256", h.size::float8 as "afterSize", h.content_type as "afterContentType"
  from base b full join head h on h.path = b.path
  where b.sha256 is distinct from h.sha256
  order by 1
  limit $4`;

/**
 * $1 dataset, $2 version number or null for the latest, then the reader's scope ($3 viewer,
 * $4 admin, $5 accesses allowed, $6 dataset limit): the version and its dataset's name, if the reader may read
 * the dataset (an archive's first statement).
 */
export const VERSION_FOR_READER = `
  select v.number, v.file_count as "fileCount", v.created_at as "createdAt", d.name as "datasetName"
  from datasets d join dataset_versions v on v.dataset_id = d.id and v.number = coalesce($2::int, d.latest_version)
  where d.id = $1 and ${allows("d", scopeAt(3))}`;

/**
 * $1 dataset, $2 a committed version's number, then the reader's scope ($3 viewer, $4 admin,
 * $5 accesses allowed, $6 dataset limit), $7 limit (the version's file count): its files in
 * path order, if the reader may still read the dataset.
 */
export const VERSION_FILES_FOR_READER = `
  select ${fileColumns("$2::int")}
  from datasets d join version_files f on f.dataset_id = d.id and ${holds("$2::int")}
  where d.id = $1 and $2::int between 1 and d.latest_version and ${allows("d", scopeAt(3))}
  order by f.path
  limit $7`;
