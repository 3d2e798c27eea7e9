/**
 * The scenarios: each one's GraphQL requests (prebuilt, spread over many users' tokens) and
 * its SQL floor, the statements the server runs for one such request, in the same order and
 * with the same dependencies, taken from the server's own SQL constants (src/…/sql.ts).
 */
import { createAuditLog } from "../src/audit/events.js";
import { createThrottle } from "../src/auth/throttle.js";
import type { Queryable } from "../src/db/database.js";
import * as datasetSql from "../src/datasets/sql.js";
import { containsPattern } from "../src/search.js";
import { hashRefreshToken, newRefreshToken } from "../src/sessions/refresh-tokens.js";
import * as sessionSql from "../src/sessions/sql.js";
import * as userSql from "../src/users/sql.js";
import type { Actor, Fixtures } from "./database.js";
import { PASSWORD } from "./database.js";
import type { HttpRequest } from "./load.js";

export type ScenarioName = "typename" | "me" | "datasets" | "search" | "adminDatasets" | "createDataset" | "login" | "mix";

/** Statements straight to the pool; `transaction` runs BEGIN … COMMIT on one connection. */
export interface SqlDb extends Queryable {
  transaction(work: (tx: Queryable) => Promise<void>): Promise<void>;
}

/** One request's worth of SQL, run on `db` (which counts the statements); `i` picks the user. */
export type SqlWork = (db: SqlDb, i: number) => Promise<void>;

export interface Scenario {
  name: ScenarioName;
  /** As shown in the table. */
  label: string;
  connections: number;
  requests: HttpRequest[];
  /** The SQL floor; absent where there is no SQL (`{ __typename }`). */
  sql?: SqlWork;
}

export const SEARCH_WORD = "weather";
const PAGE = 20;
/** What the server asks for: one row more than the page, to know whether there is a next page. */
const PAGE_LIMIT = PAGE + 1;
/** The client address every request has (loopback); the throttles key on it. */
const CLIENT_ADDRESS = "127.0.0.1";
const REFRESH_TOKEN_TTL_SECONDS = 30 * 86_400;
/** The server's throttle settings in the benchmark (bench/processes.ts raises the limits). */
const THROTTLE = {
  loginMaxFailures: 1000,
  addressMaxFailures: 100_000,
  loginWindowSeconds: 900,
  accountMaxFailures: 100_000,
  accountWindowSeconds: 86400,
  registerPerAddressPerHour: 100_000,
  refreshPerAddressPerMinute: 100_000,
  writesPerUserPerMinute: 1_000_000,
};

export const DOCUMENTS = {
  typename: "{ __typename }",
  me: "query Me { me { id username email role } }",
  datasets: "query Datasets { datasets(first: 20) { totalCount nodes { id name } } }",
  search: "query SearchDatasets($search: String) { datasets(first: 20, filter: { search: $search }) { totalCount nodes { id name } } }",
  adminDatasets: "query AdminDatasets { adminDatasets(first: 20) { nodes { id name owner { id username } } } }",
  createDataset: "mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { id name createdAt } }",
  login: "mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id username } } }",
} as const;

const NEW_DATASET = { name: "Bench dataset", description: "Made by the benchmark", filePath: "/data/bench/upload.csv" };

function graphql(query: string, variables: Record<string, unknown> | undefined, token: string | undefined, kind: string): HttpRequest {
  return {
    kind,
    path: "/graphql",
    body: JSON.stringify(variables ? { query, variables } : { query }),
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  };
}

const requestOf = {
  typename: () => graphql(DOCUMENTS.typename, undefined, undefined, "typename"),
  me: (actor: Actor) => graphql(DOCUMENTS.me, undefined, actor.token, "me"),
  datasets: (actor: Actor) => graphql(DOCUMENTS.datasets, undefined, actor.token, "datasets"),
  search: (actor: Actor) => graphql(DOCUMENTS.search, { search: SEARCH_WORD }, actor.token, "search"),
  adminDatasets: (actor: Actor) => graphql(DOCUMENTS.adminDatasets, undefined, actor.token, "adminDatasets"),
  createDataset: (actor: Actor) => graphql(DOCUMENTS.createDataset, { input: NEW_DATASET }, actor.token, "createDataset"),
  login: (email: string) => graphql(DOCUMENTS.login, { input: { email, password: PASSWORD } }, undefined, "login"),
};

// ---------------------------------------------------------------------------------------
// The SQL of each scenario, as the server runs it

const pick = <T>(items: readonly T[], i: number): T => items[i % items.length]!;

/*
 * No viewer check: the server answers it from its viewer cache once a session has been seen
 * (src/auth/viewer-cache.ts), which every session has been after the warm-up.
 */

/**
 * The page, with the count when `totalCount` is selected and the owners when they are
 * selected and not the viewer, all in one statement: src/datasets/resolvers.ts.
 */
async function datasetPage(db: Queryable, ownerId: string | null, search: string | null, extras: datasetSql.ListExtras) {
  const pattern = containsPattern(search);
  const scope = ownerId === null ? "all" : "owner";
  const list = datasetSql.datasetList("CREATED_AT_DESC", { ...extras, scope, search: pattern !== null, after: false }, PAGE_LIMIT);
  await db.query(list.text, list.params({ subject: ownerId, pattern, afterKey: null, afterId: null, limit: PAGE_LIMIT }));
}

function sqlOf(fixtures: Fixtures) {
  // `me` runs no SQL once the viewer is cached: nothing to floor, nothing in the mix.
  const me: SqlWork = async () => {};
  const datasets: SqlWork = async (db, i) => {
    const actor = pick(fixtures.readers, i);
    await datasetPage(db, actor.userId, null, { totalCount: true, owners: false });
  };
  const search: SqlWork = async (db, i) => {
    const actor = pick(fixtures.readers, i);
    await datasetPage(db, actor.userId, SEARCH_WORD, { totalCount: true, owners: false });
  };
  const adminDatasets: SqlWork = async (db) => {
    await datasetPage(db, null, null, { totalCount: false, owners: true });
  };
  const createDataset: SqlWork = async (db, i) => {
    const actor = pick(fixtures.writers, i);
    await db.query(datasetSql.INSERT_DATASET.text, [actor.userId, NEW_DATASET.name, NEW_DATASET.description, NEW_DATASET.filePath]);
  };
  /**
   * src/auth/resolvers.ts's login without the bcrypt comparison: the throttle counts, the
   * credentials, the throttle reset, then the session and its audit event in a transaction.
   */
  const login: SqlWork = async (db, i) => {
    const email = pick(fixtures.loginEmails, i);
    const throttle = createThrottle(db, THROTTLE);
    await throttle.loginAttempt(email, CLIENT_ADDRESS);
    const [user] = await db.query<{ id: string }>(userSql.USER_CREDENTIALS_BY_EMAIL, [email]);
    await throttle.loginSucceeded(email, CLIENT_ADDRESS);
    await db.transaction(async (tx) => {
      const [session] = await tx.query<{ sessionId: string }>(sessionSql.CREATE_SESSION, [
        user!.id,
        hashRefreshToken(newRefreshToken()),
        REFRESH_TOKEN_TTL_SECONDS,
      ]);
      await createAuditLog().record(tx, { type: "login.succeeded", actorId: user!.id, subjectId: session!.sessionId });
    });
  };
  return { me, datasets, search, adminDatasets, createDataset, login };
}

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
  const sql = sqlOf(fixtures);
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

/** `me` alone, over the readers' tokens (the files part asks it during uploads). */
export function meRequests(fixtures: Fixtures): HttpRequest[] {
  return fixtures.readers.map(requestOf.me);
}

/** The first request of each kind in a scenario, for a check before the load. */
export function representatives(scenario: Scenario): HttpRequest[] {
  const seen = new Map<string, HttpRequest>();
  for (const request of scenario.requests) if (!seen.has(request.kind)) seen.set(request.kind, request);
  return [...seen.values()];
}
