/**
 * The SQL live events read besides the datasets themselves (those go through the read scope,
 * src/datasets/readable.ts).
 */

/**
 * $1 content (sha256), $2 dataset ids: those among them that hold the content in some
 * version, each with the latest such version (a row still open is in the dataset's latest).
 * Exact, through version_files' sha256 index.
 */
export const HOLDERS_AMONG = `
  select f.dataset_id as "datasetId", max(coalesce(f.last_version, d.latest_version))::int as "version"
  from version_files f join datasets d on d.id = f.dataset_id
  where f.sha256 = $1 and f.dataset_id = any($2::uuid[])
  group by f.dataset_id`;

/** $1 content, $2 limit: at most that many datasets holding it, whoever they belong to. */
export const SOME_HOLDERS = `
  select f.dataset_id as "datasetId", max(coalesce(f.last_version, d.latest_version))::int as "version"
  from version_files f join datasets d on d.id = f.dataset_id
  where f.sha256 = $1
  group by f.dataset_id
  limit $2`;
