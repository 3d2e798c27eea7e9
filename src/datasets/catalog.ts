import type { GraphQLResolveInfo } from "graphql";
import { parseUsername } from "../auth/input.js";
import { badUserInput } from "../common/errors.js";
import { containsPattern, parseSearch } from "../common/search.js";
import type { Queryable } from "../db/database.js";
import type { DatasetOrder, ExploreFilter, FacetValue } from "../generated/graphql.js";
import { checkFirst, toConnection } from "../graphql/pagination.js";
import { isSelected } from "../graphql/selection.js";
import type { TableFormat } from "../previews/formats.js";
import { checkLicense, checkTags } from "./card.js";
import { type CatalogFilter, catalogCount, catalogPage, catalogSummary } from "./catalog-sql.js";
import { decodeDatasetCursor, encodeDatasetCursor } from "./ordering.js";
import type { DatasetConnectionModel, DatasetListRow } from "./rows.js";

/** The catalog's facets: values and their counts over the whole filtered result. */
export interface ExploreFacetsModel {
  tags: FacetValue[];
  licenses: FacetValue[];
  formats: FacetValue[];
}

/** A catalog page: a dataset connection, and its facets (read only when selected). */
export interface ExploreConnectionModel extends DatasetConnectionModel {
  facets: () => Promise<ExploreFacetsModel>;
}

const FORMATS: readonly TableFormat[] = ["csv", "tsv", "parquet", "jsonl", "json"];

/** The filter's input rules, as the card's and the lists' (docs/api.md "Input rules"). */
export function parseExploreFilter(filter: ExploreFilter | null | undefined): Omit<CatalogFilter, "only"> {
  const format = filter?.format ?? null;
  if (format !== null && !FORMATS.includes(format as TableFormat)) {
    throw badUserInput("filter.format", `filter.format must be one of ${FORMATS.join(", ")}`);
  }
  return {
    pattern: containsPattern(parseSearch("filter.search", filter?.search)),
    tags: filter?.tags == null ? null : checkTags("filter.tags", filter.tags),
    license: filter?.license == null ? null : checkLicense("filter.license", filter.license),
    owner: filter?.owner == null ? null : parseUsername("filter.owner", filter.owner),
    format,
  };
}

interface ExploreArgs {
  first?: number | null;
  after?: string | null;
  filter?: ExploreFilter | null;
  orderBy?: DatasetOrder | null;
}

/**
 * `exploreDatasets`: one keyset page of PUBLIC datasets; the count and the facets, each read
 * only when selected (the facets in one statement that counts too, so both cost one).
 */
export async function explorePage(
  db: Queryable,
  args: ExploreArgs,
  info: GraphQLResolveInfo,
  only: readonly string[] | null,
): Promise<ExploreConnectionModel> {
  const first = checkFirst(args.first);
  const order = args.orderBy ?? "CREATED_AT_DESC";
  const after = args.after == null ? null : decodeDatasetCursor(order, args.after);
  const filter = { ...parseExploreFilter(args.filter), only };
  const page = catalogPage(order, filter, after, first + 1);
  const rows = await db.query<DatasetListRow>(page.text, page.params);

  let summary: Promise<ExploreFacetsModel & { totalCount: number }> | undefined;
  const summarize = () => {
    summary ??= (async () => {
      const statement = catalogSummary(filter);
      const [row] = await db.query<ExploreFacetsModel & { totalCount: number }>(statement.text, statement.params);
      return row!;
    })();
    return summary;
  };
  const facetsSelected = isSelected(info, ["facets"]);
  const totalCount = async () => {
    if (facetsSelected) return (await summarize()).totalCount;
    const statement = catalogCount(filter);
    const [row] = await db.query<{ count: number }>(statement.text, statement.params);
    return row!.count;
  };
  return {
    ...toConnection(rows, first, args.after, (row) => encodeDatasetCursor(order, row), totalCount),
    facets: async () => {
      const { tags, licenses, formats } = await summarize();
      return { tags, licenses, formats };
    },
  };
}
