import type { DatasetOrder } from "../generated/graphql.js";
import { ORDERINGS } from "./ordering.js";
import { LIST_COLUMNS } from "./sql.js";

/**
 * The public catalog's SQL (`exploreDatasets`): PUBLIC datasets only, whoever asks (the
 * catalog is the same for everyone, admins included, so it takes no viewer scope). Every
 * statement starts from `visibility = 'PUBLIC'`, the predicate of the partial indexes of
 * migrations/013: pages walk the public order index, the tag filter the public tags index,
 * a search the public trigram indexes, so private datasets are never read. The unfiltered
 * catalog's count and facets are not grouped at all: migrations/016's triggers keep them
 * counted (`catalog_facet_counts`), as every write of a dataset, version or preview changes
 * them.
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
  if (filter.format !== null) tests.push(`${ref(filter.format)}::text = any(datasets.latest_formats)`);
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

/**
 * Whether nothing narrows the catalog: then its count and facets are the counts kept by
 * migrations/016's triggers (`catalog_facet_counts`), read in a few hundred rows rather than
 * grouped over every public dataset. Anything that narrows it, a token's dataset limit too,
 * groups its own rows.
 */
export function isWholeCatalog(filter: CatalogFilter): boolean {
  return (
    filter.only === null &&
    filter.pattern === null &&
    (filter.tags === null || filter.tags.length === 0) &&
    filter.license === null &&
    filter.owner === null &&
    filter.format === null
  );
}

/** The number of public datasets, as counted (`all`). */
const COUNTED_TOTAL = "coalesce((select c.count from catalog_facet_counts c where c.facet = 'all' and c.value = ''), 0)";

/** How many public datasets the filter covers. */
export function catalogCount(filter: CatalogFilter): Statement {
  if (isWholeCatalog(filter)) return { text: `select ${COUNTED_TOTAL}::int as "count"`, params: [] };
  const { ref, params } = parameters();
  return { text: `select count(*)::int as "count" from datasets where ${filterTests(filter, ref).join("\n  and ")}`, params };
}

/** At most this many values per facet. */
export const FACET_LIMIT = 20;

/** A facet's values (each `value`, `count`) as a JSON array, most frequent first, then by value, at most `FACET_LIMIT`. */
const facetJson = (select: string) =>
  `coalesce((select json_agg(json_build_object('value', value, 'count', count) order by count desc, value)
             from (${select} order by count desc, value limit ${FACET_LIMIT}) facet), '[]'::json)`;

/**
 * The count and the facets of the whole filtered result, in one statement: the unfiltered
 * catalog's from the kept counts (`isWholeCatalog`); a filtered one's from the filtered
 * datasets once (a CTE read three times, materialised once), each facet grouped and counted
 * in the database. Only the facets' values and counts leave it. A dataset counts once per
 * value (formats: its `latest_formats`, however many files of each it has).
 */
export function catalogSummary(filter: CatalogFilter): Statement {
  if (isWholeCatalog(filter)) {
    const counted = (facet: string) => facetJson(`select c.value, c.count from catalog_facet_counts c where c.facet = '${facet}' and c.count > 0`);
    const text = `
    select ${COUNTED_TOTAL}::int as "totalCount", ${counted("tag")} as "tags", ${counted("license")} as "licenses", ${counted("format")} as "formats"`;
    return { text, params: [] };
  }
  const { ref, params } = parameters();
  const text = `
    with filtered as materialized (
      select datasets.tags, datasets.license, datasets.latest_formats from datasets where ${filterTests(filter, ref).join("\n        and ")}
    )
    select
      (select count(*)::int from filtered) as "totalCount",
      ${facetJson("select t.tag as value, count(*)::int as count from filtered cross join unnest(filtered.tags) as t(tag) group by t.tag")} as "tags",
      ${facetJson("select license as value, count(*)::int as count from filtered where license is not null group by license")} as "licenses",
      ${facetJson("select f.format as value, count(*)::int as count from filtered cross join unnest(filtered.latest_formats) as f(format) group by f.format")} as "formats"`;
  return { text, params };
}
