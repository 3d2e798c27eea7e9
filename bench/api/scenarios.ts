/**
 * The API part's scenarios: each one's GraphQL requests (prebuilt, spread over many users'
 * tokens) and its SQL floor (api/sql-floor.ts: the statements the server runs for one such
 * request, through the server's own store functions, in the same order).
 */
import type { Actor, Fixtures } from "../harness/database.js";
import { PASSWORD } from "../harness/database.js";
import type { HttpRequest } from "../harness/load.js";
import { graphqlRequest, ME_QUERY, meRequest } from "../harness/requests.js";
import { NEW_DATASET, SEARCH_WORD, type SqlWork, scenarioSql } from "./sql-floor.js";

export type ScenarioName = "typename" | "me" | "meToken" | "datasets" | "search" | "adminDatasets" | "createDataset" | "login" | "mix";

export interface Scenario {
  name: ScenarioName;
  /** As shown in the table. */
  label: string;
  connections: number;
  requests: HttpRequest[];
  /** The SQL floor; absent where there is no SQL (`{ __typename }`). */
  sql?: SqlWork;
}

export const DOCUMENTS = {
  typename: "{ __typename }",
  me: ME_QUERY,
  datasets: "query Datasets { datasets(first: 20) { totalCount nodes { id name } } }",
  search: "query SearchDatasets($search: String) { datasets(first: 20, filter: { search: $search }) { totalCount nodes { id name } } }",
  adminDatasets: "query AdminDatasets { adminDatasets(first: 20) { nodes { id name owner { id username } } } }",
  createDataset: "mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { id name createdAt } }",
  login: "mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id username } } }",
} as const;

const requestOf = {
  typename: () => graphqlRequest("typename", DOCUMENTS.typename),
  me: meRequest,
  // The same request with the user's personal access token: what checking one costs beside a session's JWT.
  meToken: (actor: Actor) => graphqlRequest("meToken", ME_QUERY, undefined, actor.personalToken),
  datasets: (actor: Actor) => graphqlRequest("datasets", DOCUMENTS.datasets, undefined, actor.token),
  search: (actor: Actor) => graphqlRequest("search", DOCUMENTS.search, { search: SEARCH_WORD }, actor.token),
  adminDatasets: (actor: Actor) => graphqlRequest("adminDatasets", DOCUMENTS.adminDatasets, undefined, actor.token),
  createDataset: (actor: Actor) => graphqlRequest("createDataset", DOCUMENTS.createDataset, { input: NEW_DATASET }, actor.token),
  login: (email: string) => graphqlRequest("login", DOCUMENTS.login, { input: { email, password: PASSWORD } }),
};

const pick = <T>(items: readonly T[], i: number): T => items[i % items.length]!;

// ---------------------------------------------------------------------------------------
// The mix: 80% reads, 15% creates, 5% logins

type MixKind = "datasets" | "me" | "search" | "createDataset" | "login";
const MIX_WEIGHTS: Record<MixKind, number> = { datasets: 50, me: 15, search: 15, createDataset: 15, login: 5 };
export const MIX_DESCRIPTION = "80% reads (50 datasets, 15 me, 15 search), 15% createDataset, 5% login";

/** The kinds in an evenly spread order (smooth weighted round-robin), one cycle of 100. */
function mixSchedule(): MixKind[] {
  const kinds = Object.keys(MIX_WEIGHTS) as MixKind[];
  const total = kinds.reduce((sum, kind) => sum + MIX_WEIGHTS[kind], 0);
  const current = new Map<MixKind, number>(kinds.map((kind) => [kind, 0]));
  const order: MixKind[] = [];
  for (let slot = 0; slot < total; slot += 1) {
    for (const kind of kinds) current.set(kind, current.get(kind)! + MIX_WEIGHTS[kind]);
    const next = kinds.reduce((best, kind) => (current.get(kind)! > current.get(best)! ? kind : best));
    current.set(next, current.get(next)! - total);
    order.push(next);
  }
  return order;
}

// ---------------------------------------------------------------------------------------

export interface ScenarioSettings {
  connections: number;
  loginConnections: number;
}

/** Every scenario, in the order they run. */
export function buildScenarios(fixtures: Fixtures, settings: ScenarioSettings): Scenario[] {
  const sql = scenarioSql(fixtures);
  const { readers, writers, admin, loginEmails } = fixtures;
  const logins = loginEmails.slice(0, 200);
  const schedule = mixSchedule();
  // Four cycles of the schedule, so that each kind's requests rotate through many users.
  const mixRequests: HttpRequest[] = [];
  const used: Record<MixKind, number> = { datasets: 0, me: 0, search: 0, createDataset: 0, login: 0 };
  for (let slot = 0; slot < 4 * schedule.length; slot += 1) {
    const kind = schedule[slot % schedule.length]!;
    const n = used[kind]++;
    mixRequests.push(
      kind === "login"
        ? requestOf.login(pick(logins, n))
        : kind === "createDataset"
          ? requestOf.createDataset(pick(writers, n))
          : requestOf[kind](pick(readers, n)),
    );
  }
  const mixSql: SqlWork = (db, i) => sql[schedule[i % schedule.length]!](db, i);
  const { connections } = settings;
  return [
    { name: "typename", label: "{ __typename }", connections, requests: [requestOf.typename()] },
    { name: "me", label: "me", connections, requests: readers.map(requestOf.me) },
    { name: "meToken", label: "me (personal access token)", connections, requests: readers.map(requestOf.meToken) },
    { name: "datasets", label: "datasets(first: 20)", connections, requests: readers.map(requestOf.datasets), sql: sql.datasets },
    { name: "search", label: `datasets(first: 20, search)`, connections, requests: readers.map(requestOf.search), sql: sql.search },
    {
      name: "adminDatasets",
      label: "adminDatasets(first: 20) { owner }",
      connections,
      requests: admin.map(requestOf.adminDatasets),
      sql: sql.adminDatasets,
    },
    { name: "createDataset", label: "createDataset", connections, requests: writers.map(requestOf.createDataset), sql: sql.createDataset },
    { name: "login", label: "login (bcrypt)", connections: settings.loginConnections, requests: logins.map(requestOf.login), sql: sql.login },
    { name: "mix", label: "mix 80/15/5", connections, requests: mixRequests, sql: mixSql },
  ];
}

/** The login requests alone (the storm that runs beside `datasets`). */
export function loginRequests(fixtures: Fixtures): HttpRequest[] {
  return fixtures.loginEmails.slice(0, 200).map(requestOf.login);
}

/** The first request of each kind in a scenario, for a check before the load. */
export function representatives(scenario: Scenario): HttpRequest[] {
  const seen = new Map<string, HttpRequest>();
  for (const request of scenario.requests) if (!seen.has(request.kind)) seen.set(request.kind, request);
  return [...seen.values()];
}
