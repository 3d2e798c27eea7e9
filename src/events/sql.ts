/**
 * The SQL live events read besides the datasets themselves (those go through the read scope,
 * src/datasets/readable.ts).
 */

/**
 * $1 content (sha256), $2 dataset ids: those among them that hold the content in some
 * version, each with the latest such version. Exact, through version_files' sha256 index.
 */
export const HOLDERS_AMONG = `
  select dataset_id as "datasetId", max(version)::int as "version"
  from version_files
  where sha256 = $1 and dataset_id = any($2::uuid[])
  group by dataset_id`;

/** $1 content, $2 limit: at most that many datasets holding it, whoever they belong to. */
export const SOME_HOLDERS = `
  select dataset_id as "datasetId", max(version)::int as "version"
  from version_files
  where sha256 = $1
  group by dataset_id
  limit $2`;
