import type { DatasetOrder } from "../generated/graphql.js";
import { ORDERINGS } from "./ordering.js";
import { LIST_COLUMNS } from "./sql.js";

/**
 * The public catalog's SQL (`exploreDatasets`): PUBLIC datasets only, whoever asks (the
 * catalog is the same for everyone, admins included, so it takes no viewer scope). Every
 * statement starts from `visibility = 'PUBLIC'`, the predicate of the partial indexes of
 * migrations/013: pages walk the public order index, the tag filter the public tags index,
 * a search the public trigram indexes, so private datasets are never read.
 *
 * A text is put together from fixed fragments, each test only when its filter is given, with
 * every value a parameter. Not prepared (src/db/prepared.ts): the filters combine into too many
 * texts, and how selective a search or a tag is depends on its value.
 */

/** The catalog's filter, checked (`catalog.ts`); null: not given. */
export interface CatalogFilter {
  /** An ILIKE pattern (`containsPattern`). */
  pattern: string | null;
  /** Every one of these tags. */
  tags: string[] | null;
  license: string | null;
  /** The owner's username, matched as usernames are (case-insensitively). */
  owner: string | null;
  /** A preview format of a latest-version file. */
  format: string | null;
  /**
   * The credential's dataset limit (a personal access token limited to some datasets: the
   * read scope's `datasets`), or null: the catalog lists no dataset the token may not reach.
   */
  only: readonly string[] | null;
}

/** A statement and its parameters, in the order its text numbers them. */
export interface Statement {
  text: string;
  params: unknown[];
}

/** Numbers each value as the text uses it: `$1`, `$2`, … */
function parameters() {
  const params: unknown[] = [];
  return {
    ref(value: unknown): string {
      params.push(value);
      return `$${params.length}`;
    },
    params,
  };
}

/**
 * "A latest-version file of this preview format": a file of the latest version (the open rows
 * of `version_files`, its partial index) whose content the dataset profiles as `format`
 * (`file_previews`, by its primary key's prefix).
 */
const LATEST_FILE_PREVIEWS = (dataset: string) => `
  version_files f join file_previews p on p.dataset_id = f.dataset_id and p.sha256 = f.sha256
  where f.dataset_id = ${dataset} and f.last_version is null`;

/** The filter's tests on `datasets`, each only when given. */
function filterTests(filter: CatalogFilter, ref: (value: unknown) => string): string[] {
  const tests = ["datasets.visibility = 'PUBLIC'"];
  if (filter.only !== null) tests.push(`datasets.id = any(${ref(filter.only)}::uuid[])`);
  if (filter.pattern !== null) {
    const pattern = ref(filter.pattern);
    tests.push(`(datasets.name ilike ${pattern}::text or datasets.description ilike ${pattern}::text)`);
  }
  if (filter.tags !== null && filter.tags.length > 0) tests.push(`datasets.tags @> ${ref(filter.tags)}::text[]`);
  if (filter.license !== null) tests.push(`datasets.license = ${ref(filter.license)}::text`);
  if (filter.owner !== null) tests.push(`datasets.user_id = (select u.id from users u where lower(u.username) = lower(${ref(filter.owner)}::text))`);
  if (filter.format !== null) {
    tests.push(`exists (select 1 from ${LATEST_FILE_PREVIEWS("datasets.id")} and p.format = ${ref(filter.format)}::text)`);
  }
  return tests;
}

/** One page in `order` (the lists' orders and cursors), `limit` rows. */
export function catalogPage(order: DatasetOrder, filter: CatalogFilter, after: { key: string; id: string } | null, limit: number): Statement {
  const { ref, params } = parameters();
  const { sqlKey, sqlKeyType, direction } = ORDERINGS[order];
  const tests = filterTests(filter, ref);
  if (after) {
    tests.push(`(${sqlKey}, datasets.id) ${direction === "asc" ? ">" : "<"} (${ref(after.key)}::${sqlKeyType}, ${ref(after.id)}::uuid)`);
  }
  const text = `
    select ${LIST_COLUMNS} from datasets
    where ${tests.join("\n      and ")}
    order by ${sqlKey} ${direction}, datasets.id ${direction}
    limit ${ref(limit)}::int`;
  return { text, params };
}

/** How many public datasets the filter covers. */
export function catalogCount(filter: CatalogFilter): Statement {
  const { ref, params } = parameters();
  return { text: `select count(*)::int as "count" from datasets where ${filterTests(filter, ref).join("\n  and ")}`, params };
}

/** At most this many values per facet. */
export const FACET_LIMIT = 20;

/**
 * The count and the facets of the whole filtered result, in one statement: the filtered
 * datasets once (a CTE read three times, materialised once), each facet grouped and counted
 * in the database, most frequent first, then by value, at most `FACET_LIMIT` each; only the
 * facets' values and counts leave it. A dataset counts once per value (formats: however
 * many files of that format it has).
 */
export function catalogSummary(filter: CatalogFilter): Statement {
  const { ref, params } = parameters();
  const facet = (select: string) =>
    `coalesce((select json_agg(json_build_object('value', value, 'count', count) order by count desc, value)
               from (${select} order by count desc, value limit ${FACET_LIMIT}) facet), '[]'::json)`;
  const text = `
    with filtered as materialized (
      select datasets.id, datasets.tags, datasets.license from datasets where ${filterTests(filter, ref).join("\n        and ")}
    )
    select
      (select count(*)::int from filtered) as "totalCount",
      ${facet("select t.tag as value, count(*)::int as count from filtered cross join unnest(filtered.tags) as t(tag) group by t.tag")} as "tags",
      ${facet("select license as value, count(*)::int as count from filtered where license is not null group by license")} as "licenses",
      ${facet(`select p.format as value, count(distinct filtered.id)::int as count
               from filtered cross join lateral (select p.format from ${LATEST_FILE_PREVIEWS("filtered.id")}) p
               group by p.format`)} as "formats"`;
  return { text, params };
}
