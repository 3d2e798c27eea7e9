/**
 * The scenarios measured side by side (side-by-side/measure.ts): each one's requests as the
 * project's server is asked, and as PostGraphile 5 is asked the same thing (its README's
 * queries: `rowId` for the table's id, `condition` and `orderBy` for the owner's newest).
 * Both get the same tokens, so each request carries the same bytes of authorization.
 */
import type { Actor, Fixtures } from "../harness/database.js";
import type { HttpRequest } from "../harness/load.js";
import { graphqlRequest } from "../harness/requests.js";

export type SideBySideName = "typename" | "datasets" | "datasetsCount" | "adminDatasets" | "adminDatasetsCount" | "me" | "search" | "createDataset";

export interface SideBySideScenario {
  name: SideBySideName;
  label: string;
  /** The project's requests. */
  ours: HttpRequest[];
  /** PostGraphile's; absent where it has no counterpart (the project's own features). */
  postgraphile?: HttpRequest[];
}

const OWN_FIELDS = "name description filePath createdAt";
const OWNER_PAGE_FIELDS = "name createdAt";
const NEWEST = "orderBy: [CREATED_AT_DESC, ROW_ID_DESC]";

const ourQueries = {
  typename: "{ __typename }",
  datasets: `{ datasets(first: 20) { nodes { id ${OWN_FIELDS} } } }`,
  datasetsCount: `{ datasets(first: 20) { totalCount nodes { id ${OWN_FIELDS} } } }`,
  adminDatasets: `{ adminDatasets(first: 20) { nodes { id ${OWNER_PAGE_FIELDS} owner { id username email } } } }`,
  adminDatasetsCount: `{ adminDatasets(first: 20) { totalCount nodes { id ${OWNER_PAGE_FIELDS} owner { id username email } } } }`,
  me: "{ me { id username email role } }",
  search: `{ datasets(first: 20, filter: { search: "weather" }) { totalCount nodes { id name } } }`,
};

const peerQueries = {
  typename: () => "{ __typename }",
  datasets: (userId: string) => `{ datasets(first: 20, condition: { userId: "${userId}" }, ${NEWEST}) { nodes { rowId ${OWN_FIELDS} } } }`,
  datasetsCount: (userId: string) =>
    `{ datasets(first: 20, condition: { userId: "${userId}" }, ${NEWEST}) { totalCount nodes { rowId ${OWN_FIELDS} } } }`,
  adminDatasets: () => `{ datasets(first: 20, ${NEWEST}) { nodes { rowId ${OWNER_PAGE_FIELDS} user { rowId username email } } } }`,
  adminDatasetsCount: () => `{ datasets(first: 20, ${NEWEST}) { totalCount nodes { rowId ${OWNER_PAGE_FIELDS} user { rowId username email } } } }`,
};

const CREATE = {
  query: "mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { id name createdAt } }",
  variables: { input: { name: "Bench dataset", description: "Made by the benchmark", filePath: "/data/bench/upload.csv" } },
};

const post = (kind: string, token: string, query: string, variables?: Record<string, unknown>): HttpRequest =>
  graphqlRequest(kind, query, variables, token);

const each = (actors: readonly Actor[], make: (actor: Actor) => HttpRequest) => actors.map(make);

/**
 * What PostGraphile is compared on (the scenarios both serve), and, with `ownFeatures`, the
 * project's own that a comparison of two builds of the project adds (`me`, search, writes).
 */
export function sideBySideScenarios(fixtures: Fixtures, ownFeatures: boolean): SideBySideScenario[] {
  const { readers, admin, writers } = fixtures;
  const scenarios: SideBySideScenario[] = [
    {
      name: "typename",
      label: "{ __typename }, signed in",
      ours: each(readers, (actor) => post("typename", actor.token, ourQueries.typename)),
      postgraphile: each(readers, (actor) => post("typename", actor.token, peerQueries.typename())),
    },
    {
      name: "datasets",
      label: "a user's 20 newest datasets",
      ours: each(readers, (actor) => post("datasets", actor.token, ourQueries.datasets)),
      postgraphile: each(readers, (actor) => post("datasets", actor.token, peerQueries.datasets(actor.userId))),
    },
    {
      name: "datasetsCount",
      label: "the same with totalCount",
      ours: each(readers, (actor) => post("datasetsCount", actor.token, ourQueries.datasetsCount)),
      postgraphile: each(readers, (actor) => post("datasetsCount", actor.token, peerQueries.datasetsCount(actor.userId))),
    },
    {
      name: "adminDatasets",
      label: "the 20 newest with owners",
      ours: each(admin, (actor) => post("adminDatasets", actor.token, ourQueries.adminDatasets)),
      postgraphile: each(admin, (actor) => post("adminDatasets", actor.token, peerQueries.adminDatasets())),
    },
    {
      name: "adminDatasetsCount",
      label: "the same with totalCount",
      ours: each(admin, (actor) => post("adminDatasetsCount", actor.token, ourQueries.adminDatasetsCount)),
      postgraphile: each(admin, (actor) => post("adminDatasetsCount", actor.token, peerQueries.adminDatasetsCount())),
    },
  ];
  if (ownFeatures) {
    scenarios.push(
      { name: "me", label: "me", ours: each(readers, (actor) => post("me", actor.token, ourQueries.me)) },
      {
        name: "search",
        label: "datasets(first: 20, search) + totalCount",
        ours: each(readers, (actor) => post("search", actor.token, ourQueries.search)),
      },
      {
        name: "createDataset",
        label: "createDataset",
        ours: each(writers, (actor) => post("createDataset", actor.token, CREATE.query, CREATE.variables)),
      },
    );
  }
  return scenarios;
}

/** The ids (and count) a list answer holds, in order, from either server's shape: to check both read the same rows. */
export function listedRows(body: unknown): { ids: string[]; totalCount?: number } | undefined {
  const data = (body as { data?: Record<string, { nodes?: Array<Record<string, unknown>>; totalCount?: number }> }).data;
  const connection = data?.datasets ?? data?.adminDatasets;
  if (!connection?.nodes) return undefined;
  return {
    ids: connection.nodes.map((node) => String(node.id ?? node.rowId)),
    ...(connection.totalCount === undefined ? {} : { totalCount: connection.totalCount }),
  };
}
