import { createHash, randomUUID } from "node:crypto";
import { isObjectType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routePolicy } from "../src/policy/route-rules.js";
import { buildUnguardedSchema } from "../src/graphql/schema.js";
import { signArchive, signDownload } from "../src/files/signed-urls.js";
import { createAdmin, createDataset, createUser, unique, type TestUser } from "./support/factories.js";
import { commit, download, tusCreate, tusHead, tusPatch, upload, uploadIdOf } from "./support/files.js";
import { startServer, type GraphQLResponse, type TestServer } from "./support/server.js";
import { createToken, type TestToken } from "./support/tokens.js";

/**
 * Every role on every operation and file route (docs/api.md "Who sees what"), one row per
 * operation, one expected outcome per role: "ok", an error code, or an HTTP status. The
 * table must cover every Query and Mutation field of the schema and every guarded route
 * (the last tests), so a new operation without a row fails here.
 *
 * The roles act on one dataset, D: its owner, an EDITOR and a VIEWER it is shared with, a
 * stranger it is not shared with, an admin, and anonymous. A refused write must leave D as
 * it was. Rows whose allowed outcome changes what others rely on (deleting, ending one's
 * sessions) run on something of their own made for the cell.
 *
 * The token column: personal access tokens of the owner's (READ; WRITE; WRITE limited to
 * another of the owner's datasets, so D is NOT_FOUND to it) and an admin's WRITE token, which
 * has no admin powers (D is NOT_FOUND to it, as to a stranger).
 *
 * The whole table runs three times, D being PRIVATE, UNLISTED and PUBLIC in turn (docs/api.md
 * "Publishing"): `expect` is the outcome for a PRIVATE D, `readable` where it differs for an
 * UNLISTED or PUBLIC one (anyone reads it), `listed` where it differs again for a PUBLIC one.
 */

const PEOPLE = ["anonymous", "owner", "editor", "viewer", "stranger", "admin"] as const;
const TOKENS = ["readToken", "writeToken", "limitedToken", "adminToken"] as const;
const ROLES = [...PEOPLE, ...TOKENS] as const;
type Role = (typeof ROLES)[number];
type Person = (typeof PEOPLE)[number];
type TokenRole = (typeof TOKENS)[number];
type Outcome = string | number;

const VISIBILITIES = ["PRIVATE", "UNLISTED", "PUBLIC"] as const;
type Visibility = (typeof VISIBILITIES)[number];

interface Row {
  /** `Query.x`, `Mutation.x`, or `METHOD route (variant)`. */
  name: string;
  /** D PRIVATE. */
  expect: Record<Role, Outcome>;
  /** D UNLISTED or PUBLIC, when it differs from `expect`. */
  readable?: Record<Role, Outcome>;
  /** D PUBLIC, when it differs from `readable`. */
  listed?: Record<Role, Outcome>;
  /** Makes what the cell needs, before D's state is taken. */
  prepare?: (role: Role) => Promise<string>;
  /** Runs the operation as the role (with what `prepare` made); returns what happened. */
  run: (role: Role, prepared: string) => Promise<Outcome>;
  /** The row changes D when allowed: denied cells must leave it as it was. */
  writesDataset?: boolean;
}

/** anonymous, owner, editor, viewer, stranger, admin. */
const by = (...outcomes: Outcome[]): Record<Person, Outcome> =>
  Object.fromEntries(PEOPLE.map((role, index) => [role, outcomes[index]!])) as Record<Person, Outcome>;
/** The owner's READ token, WRITE token, WRITE token limited to another dataset; the admin's WRITE token. */
const tokens = (...outcomes: Outcome[]): Record<TokenRole, Outcome> =>
  Object.fromEntries(TOKENS.map((role, index) => [role, outcomes[index]!])) as Record<TokenRole, Outcome>;
/** What only a person may do: every token is FORBIDDEN. */
const NO_TOKEN = tokens("FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN");
const ALL_TOKENS = tokens("ok", "ok", "ok", "ok");
const SIGNED_IN = { ...by("UNAUTHENTICATED", "ok", "ok", "ok", "ok", "ok"), ...ALL_TOKENS };
const PERSON_SIGNED_IN = { ...by("UNAUTHENTICATED", "ok", "ok", "ok", "ok", "ok"), ...NO_TOKEN };
const ADMINS = { ...by("UNAUTHENTICATED", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "ok"), ...NO_TOKEN };
const ANYONE = { ...by("ok", "ok", "ok", "ok", "ok", "ok"), ...ALL_TOKENS };
/** What reading D gives when anyone may read it: the limited token alone still finds it NOT_FOUND. */
const READABLE = { ...by("ok", "ok", "ok", "ok", "ok", "ok"), ...tokens("ok", "ok", "NOT_FOUND", "ok") };

const expected = (row: Row, visibility: Visibility) =>
  visibility === "PRIVATE" ? row.expect : visibility === "UNLISTED" ? (row.readable ?? row.expect) : (row.listed ?? row.readable ?? row.expect);

/** D's visibility in the part of the table running now. */
let visibility: Visibility = "PRIVATE";

let server: TestServer;
const actors = {} as Record<Exclude<Person, "anonymous">, TestUser>;
const secrets = {} as Record<TokenRole, TestToken>;
const isToken = (role: Role): role is TokenRole => (TOKENS as readonly string[]).includes(role);
/** The person behind a role: a token's user. */
const personOf = (role: Role): Person => (isToken(role) ? (role === "adminToken" ? "admin" : "owner") : role);
/** D, with version 1 holding table.csv. */
let datasetId: string;
/** Each role's own signed link to D's table.csv (the stranger's made while D was shared with them, then unshared). */
const links = {} as Record<Role, string>;
/** Each role's own signed link to D's version 1 as one ZIP (made as `links` are). */
const archiveLinks = {} as Record<Role, string>;
const bytes = Buffer.from("a,b\n1,2\n");
/** D's tag, and no other dataset's: the catalog row finds D by it. */
const MATRIX_TAG = unique("matrix")
  .toLowerCase()
  .replace(/[^a-z0-9-]/g, "-")
  .slice(0, 32);

const tokenOf = (role: Role) => (isToken(role) ? secrets[role].secret : role === "anonymous" ? undefined : actors[role].token);
const gql = (role: Role, query: string, variables: Record<string, unknown> = {}) => server.graphql(query, variables, { token: tokenOf(role) });

/** "ok", or the one error's code. */
function outcome(response: GraphQLResponse): Outcome {
  if (!response.errors) return "ok";
  expect(response.errors, JSON.stringify(response.errors)).toHaveLength(1);
  return response.errors[0]!.extensions.code as Outcome;
}

const SHARE = `mutation($d: ID!, $u: String!, $r: DatasetRole!) { shareDataset(datasetId: $d, username: $u, role: $r) { role user { id } } }`;
const UNSHARE = `mutation($d: ID!, $u: ID!) { unshareDataset(datasetId: $d, userId: $u) }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`;

async function share(id: string, user: TestUser, role: "VIEWER" | "EDITOR") {
  const response = await server.graphql(SHARE, { d: id, u: user.username, r: role }, { token: actors.owner.token });
  expect(response.errors).toBeUndefined();
}

async function login(user: TestUser) {
  const response = await server.graphql(LOGIN, { input: { email: user.email, password: user.password } });
  expect(response.errors).toBeUndefined();
  return response.data.login as { accessToken: string; refreshToken: string };
}

/** A dataset of the owner's shared with the editor and the viewer as D is, and as visible. */
async function datasetLikeD(): Promise<string> {
  const id = (await createDataset(server, actors.owner, { visibility })).id;
  await share(id, actors.editor, "EDITOR");
  await share(id, actors.viewer, "VIEWER");
  return id;
}

/**
 * A user of the role's standing made for one cell, for operations that end all of one's
 * sessions: the owner of a dataset like D, an editor or viewer of D, a stranger, an admin.
 */
async function disposable(role: Role): Promise<TestUser | undefined> {
  if (isToken(role)) {
    // A fresh user of the token's kind, acting through a token of theirs of the same scope.
    const user = (await disposable(personOf(role)))!;
    const made = await createToken(server, user, { scope: role === "readToken" ? "READ" : "WRITE" });
    return { ...user, token: made.secret };
  }
  if (role === "anonymous") return undefined;
  if (role === "admin") return createAdmin(server);
  const user = await createUser(server);
  if (role === "owner") await createDataset(server, user);
  if (role === "editor") await share(datasetId, user, "EDITOR");
  if (role === "viewer") await share(datasetId, user, "VIEWER");
  return user;
}

/** An unfinished upload of the editor's to D (10 bytes declared, none sent). */
async function editorsUpload(): Promise<string> {
  return uploadIdOf(await tusCreate(server, { token: actors.editor.token, length: 10, metadata: { datasetId } }));
}

const tusDelete = (role: Role, id: string) =>
  fetch(`${server.origin}/uploads/${id}`, {
    method: "DELETE",
    headers: { "tus-resumable": "1.0.0", ...(tokenOf(role) ? { authorization: `Bearer ${tokenOf(role)}` } : {}) },
  });

/** D's version archive, as the role asks for it with their token. */
const archive = async (role: Role, version: number | "latest", method = "GET") => {
  const response = await fetch(`${server.origin}/datasets/${datasetId}/versions/${version}/archive.zip`, {
    method,
    headers: tokenOf(role) ? { authorization: `Bearer ${tokenOf(role)}` } : {},
  });
  // The whole body is read: an allowed archive is sent in full.
  await response.arrayBuffer();
  return response;
};

/** A signed link with its signature spoilt: what anonymous may try. */
const spoilt = (link: string) => link.replace(/signature=[^&]+/, "signature=AAAA");

/**
 * What only D's owner may do (sharing, unsharing another, its visibility): through a WRITE
 * token of theirs too; NOT_FOUND to whoever cannot read D, FORBIDDEN to whoever can.
 */
const OWNER_MANAGES = {
  expect: {
    ...by("UNAUTHENTICATED", "ok", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND", "FORBIDDEN"),
    ...tokens("FORBIDDEN", "ok", "NOT_FOUND", "NOT_FOUND"),
  },
  readable: {
    ...by("UNAUTHENTICATED", "ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"),
    ...tokens("FORBIDDEN", "ok", "NOT_FOUND", "FORBIDDEN"),
  },
};
/** A file's bytes or a version's archive with a credential (anonymous: none at all): the dataset's read rule. */
const BYTES_BY_BEARER = {
  expect: { ...by(401, 200, 200, 200, 404, 200), ...tokens(200, 200, 404, 404) },
  readable: { ...by(200, 200, 200, 200, 200, 200), ...tokens(200, 200, 404, 200) },
};
/**
 * The same through each role's own signed link: anonymous holds one whose signature is spoilt
 * (401 whatever D's visibility); the stranger their own, from when D was shared with them.
 */
const BYTES_BY_LINK = {
  expect: { ...by(401, 200, 200, 200, 404, 200), ...tokens(200, 200, 404, 404) },
  readable: { ...by(401, 200, 200, 200, 200, 200), ...tokens(200, 200, 404, 200) },
};

const ROWS: Row[] = [
  { name: "Query.me", expect: SIGNED_IN, run: async (role) => outcome(await gql(role, `{ me { id } }`)) },
  {
    name: "Query.datasets",
    // With access ALL: is D listed?
    expect: { ...by("UNAUTHENTICATED", "listed", "listed", "listed", "absent", "listed"), ...tokens("listed", "listed", "absent", "absent") },
    run: async (role) => {
      const response = await gql(role, `{ datasets(first: 100, filter: { access: ALL }) { nodes { id } } }`);
      if (response.errors) return outcome(response);
      return response.data.datasets.nodes.some((node: { id: string }) => node.id === datasetId) ? "listed" : "absent";
    },
  },
  {
    name: "Query.dataset",
    // The access it is read with, and whether its collaborators show ("members") or are an empty list.
    expect: {
      ...by("NOT_FOUND", "OWNER members", "EDITOR members", "VIEWER members", "NOT_FOUND", "ADMIN members"),
      ...tokens("OWNER members", "OWNER members", "NOT_FOUND", "NOT_FOUND"),
    },
    readable: {
      ...by("PUBLIC none", "OWNER members", "EDITOR members", "VIEWER members", "PUBLIC none", "ADMIN members"),
      ...tokens("OWNER members", "OWNER members", "NOT_FOUND", "PUBLIC none"),
    },
    run: async (role) => {
      const response = await gql(
        role,
        `query($id: ID!) { dataset(id: $id) { id viewerAccess visibility owner { id username } collaborators { role user { id } } latestVersion { files { path downloadUrl } } } }`,
        { id: datasetId },
      );
      if (response.errors) return outcome(response);
      const { dataset } = response.data;
      expect(dataset.visibility).toBe(visibility);
      expect(dataset.owner.username).toBe(actors.owner.username);
      expect(dataset.latestVersion.files.map((file: { path: string }) => file.path)).toContain("table.csv");
      return `${dataset.viewerAccess} ${dataset.collaborators.length > 0 ? "members" : "none"}`;
    },
  },
  {
    name: "Query.exploreDatasets",
    // Is D in the catalog (and in its count and facets)? Never for a token limited to other datasets.
    expect: { ...by("absent", "absent", "absent", "absent", "absent", "absent"), ...tokens("absent", "absent", "absent", "absent") },
    listed: { ...by("listed", "listed", "listed", "listed", "listed", "listed"), ...tokens("listed", "listed", "absent", "listed") },
    run: async (role) => {
      const response = await gql(
        role,
        `query($tag: String!) { exploreDatasets(filter: { tags: [$tag] }) { totalCount nodes { id } facets { tags { value count } } } }`,
        { tag: MATRIX_TAG },
      );
      if (response.errors) return outcome(response);
      const { totalCount, nodes, facets } = response.data.exploreDatasets;
      const listed = nodes.some((node: { id: string }) => node.id === datasetId);
      expect(totalCount).toBe(listed ? 1 : 0);
      if (listed) expect(facets.tags).toContainEqual({ value: MATRIX_TAG, count: 1 });
      else expect(facets.tags).toEqual([]);
      return listed ? "listed" : "absent";
    },
  },
  {
    // A file's table, its profiles and its rows are the file's: whoever reads the dataset.
    name: "DatasetFile.table, FileTable.columns and FileTable.rows",
    expect: { ...by("NOT_FOUND", "ok", "ok", "ok", "NOT_FOUND", "ok"), ...tokens("ok", "ok", "NOT_FOUND", "NOT_FOUND") },
    readable: READABLE,
    run: async (role) => {
      const query = `query($id: ID!) { dataset(id: $id) { latestVersion { files { path table { rowCount columns { name distinctCount }
        rows(first: 5, where: { column: "a", op: EQ, value: 1 }, orderBy: [{ column: "b", direction: DESC }]) { nodes totalCount } } } } } }`;
      // The table appears once the preview's worker made it (a loaded machine: up to a minute).
      for (const deadline = Date.now() + 60_000; ; ) {
        const response = await gql(role, query, { id: datasetId });
        if (response.errors) return outcome(response);
        // The matrix's commits add files beside it (by-owner.txt, …): table.csv is found by its path.
        const { table } = response.data.dataset.latestVersion.files.find((file: { path: string }) => file.path === "table.csv");
        if (table) {
          expect(table.rows).toEqual({ nodes: [[1, 2]], totalCount: 1 });
          return "ok";
        }
        if (Date.now() > deadline) return "table never READY";
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  },
  {
    // Two versions of D compared: the dataset's read rule.
    name: "Dataset.compareVersions",
    expect: { ...by("NOT_FOUND", "ok", "ok", "ok", "NOT_FOUND", "ok"), ...tokens("ok", "ok", "NOT_FOUND", "NOT_FOUND") },
    readable: READABLE,
    run: async (role) =>
      outcome(await gql(role, `query($id: ID!) { dataset(id: $id) { compareVersions(base: 1, head: 1) { changes { path } } } }`, { id: datasetId })),
  },
  { name: "Query.adminDatasets", expect: ADMINS, run: async (role) => outcome(await gql(role, `{ adminDatasets(first: 1) { totalCount } }`)) },
  { name: "Query.users", expect: ADMINS, run: async (role) => outcome(await gql(role, `{ users(first: 1) { totalCount } }`)) },
  { name: "Query.auditEvents", expect: ADMINS, run: async (role) => outcome(await gql(role, `{ auditEvents(first: 1) { totalCount } }`)) },
  { name: "Query.accessTokens", expect: PERSON_SIGNED_IN, run: async (role) => outcome(await gql(role, `{ accessTokens { id prefix } }`)) },
  {
    name: "Mutation.createAccessToken",
    expect: PERSON_SIGNED_IN,
    run: async (role) => outcome(await gql(role, `mutation { createAccessToken(input: { name: "matrix", scope: READ }) { secret } }`)),
  },
  {
    name: "Mutation.revokeAccessToken",
    expect: PERSON_SIGNED_IN,
    // A token of the role's own person (the stranger's for anonymous), made for the cell.
    prepare: async (role) =>
      (await createToken(server, actors[role === "anonymous" ? "stranger" : (personOf(role) as Exclude<Person, "anonymous">)])).id,
    run: async (role, id) => {
      const response = await gql(role, `mutation($id: ID!) { revokeAccessToken(id: $id) }`, { id });
      const [row] = await server.database.query<{ revoked: boolean }>("select revoked_at is not null as revoked from access_tokens where id = $1", [
        id,
      ]);
      expect(row!.revoked, "revoked exactly when allowed").toBe(!response.errors);
      return outcome(response);
    },
  },
  {
    name: "Mutation.register",
    expect: ANYONE,
    run: async (role) => {
      const name = unique("reg");
      const input = { email: `${name}@example.com`, username: name, password: `pw-${randomUUID()}` };
      return outcome(await gql(role, `mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`, { input }));
    },
  },
  {
    name: "Mutation.login",
    expect: ANYONE,
    run: async (role) => {
      const input = { email: actors.stranger.email, password: actors.stranger.password };
      return outcome(await gql(role, `mutation($input: LoginInput!) { login(input: $input) { user { id } } }`, { input }));
    },
  },
  {
    name: "Mutation.refreshSession",
    expect: ANYONE,
    run: async (role) => {
      const { refreshToken } = await login(actors.stranger);
      return outcome(await gql(role, `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: refreshToken }));
    },
  },
  {
    name: "Mutation.logout",
    expect: PERSON_SIGNED_IN,
    // A second session of the role's own, ended: their token stays good.
    run: async (role) => {
      const person = personOf(role);
      const { refreshToken } = await login(person === "anonymous" ? actors.stranger : actors[person]);
      return outcome(await gql(role, `mutation($t: String!) { logout(refreshToken: $t) }`, { t: refreshToken }));
    },
  },
  {
    name: "Mutation.logoutAll",
    expect: PERSON_SIGNED_IN,
    run: async (role) => outcome(await server.graphql(`mutation { logoutAll }`, {}, { token: (await disposable(role))?.token })),
  },
  {
    name: "Mutation.changePassword",
    expect: PERSON_SIGNED_IN,
    run: async (role) => {
      const user = await disposable(role);
      const query = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }`;
      return outcome(await server.graphql(query, { c: user?.password ?? "whatever it was", n: `pw-${randomUUID()}` }, { token: user?.token }));
    },
  },
  {
    name: "Mutation.createDataset",
    // A token limited to some datasets makes no other.
    expect: { ...SIGNED_IN, ...tokens("FORBIDDEN", "ok", "FORBIDDEN", "ok") },
    run: async (role) => outcome(await gql(role, `mutation { createDataset(input: { name: "made in the matrix" }) { id } }`)),
  },
  {
    name: "Mutation.updateDataset",
    expect: { ...by("UNAUTHENTICATED", "ok", "ok", "FORBIDDEN", "NOT_FOUND", "FORBIDDEN"), ...tokens("FORBIDDEN", "ok", "NOT_FOUND", "NOT_FOUND") },
    readable: { ...by("UNAUTHENTICATED", "ok", "ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"), ...tokens("FORBIDDEN", "ok", "NOT_FOUND", "FORBIDDEN") },
    writesDataset: true,
    run: async (role) =>
      outcome(
        await gql(role, `mutation($id: ID!) { updateDataset(id: $id, input: { description: "changed", tags: ["${MATRIX_TAG}", "x"] }) { id } }`, {
          id: datasetId,
        }),
      ),
  },
  {
    name: "Mutation.updateDataset (visibility)",
    // D's own visibility, so an allowed change leaves it as the part of the table needs it.
    ...OWNER_MANAGES,
    writesDataset: true,
    run: async (role) =>
      outcome(
        await gql(role, `mutation($id: ID!, $v: DatasetVisibility!) { updateDataset(id: $id, input: { visibility: $v }) { visibility } }`, {
          id: datasetId,
          v: visibility,
        }),
      ),
  },
  {
    name: "Mutation.deleteDataset",
    // Deleting is a person's decision, never a script's.
    expect: { ...by("UNAUTHENTICATED", "ok", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND", "FORBIDDEN"), ...NO_TOKEN },
    readable: { ...by("UNAUTHENTICATED", "ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"), ...NO_TOKEN },
    run: async (role) => {
      const id = await datasetLikeD();
      const response = await gql(role, `mutation($id: ID!) { deleteDataset(id: $id) }`, { id });
      const left = await server.database.query("select id from datasets where id = $1", [id]);
      expect(left.length, "the dataset is gone exactly when the delete was allowed").toBe(response.errors ? 1 : 0);
      return outcome(response);
    },
  },
  {
    name: "Mutation.setUserRole",
    expect: ADMINS,
    run: async (role) =>
      outcome(await gql(role, `mutation($u: ID!) { setUserRole(userId: $u, role: USER) { id } }`, { u: (await createUser(server)).id })),
  },
  {
    name: "Mutation.setUserActive",
    expect: ADMINS,
    run: async (role) =>
      outcome(await gql(role, `mutation($u: ID!) { setUserActive(userId: $u, active: true) { id } }`, { u: (await createUser(server)).id })),
  },
  {
    name: "Mutation.commitDatasetVersion",
    expect: { ...by("UNAUTHENTICATED", "ok", "ok", "FORBIDDEN", "NOT_FOUND", "FORBIDDEN"), ...tokens("FORBIDDEN", "ok", "NOT_FOUND", "NOT_FOUND") },
    readable: { ...by("UNAUTHENTICATED", "ok", "ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"), ...tokens("FORBIDDEN", "ok", "NOT_FOUND", "FORBIDDEN") },
    writesDataset: true,
    // An upload of their own where they may make one; otherwise any id (the dataset is refused first).
    prepare: async (role) =>
      role === "owner" || role === "editor" || role === "writeToken" ? upload(server, tokenOf(role)!, datasetId, Buffer.from(role)) : randomUUID(),
    run: async (role, created) => {
      const response = await server.graphql(
        `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number } }`,
        { input: { datasetId, changes: [{ path: `by-${role}.txt`, uploadId: created }] } },
        { token: tokenOf(role) },
      );
      return outcome(response);
    },
  },
  {
    name: "Mutation.shareDataset",
    ...OWNER_MANAGES,
    writesDataset: true,
    run: async (role) => outcome(await gql(role, SHARE, { d: datasetId, u: (await createUser(server)).username, r: "VIEWER" })),
  },
  {
    name: "Mutation.unshareDataset",
    ...OWNER_MANAGES,
    writesDataset: true,
    // Someone else's access (a collaborator made for the cell); leaving is tests/sharing.test.ts.
    prepare: async () => {
      const collaborator = await createUser(server);
      await share(datasetId, collaborator, "VIEWER");
      return collaborator.id;
    },
    run: async (role, collaboratorId) => {
      const response = await gql(role, UNSHARE, { d: datasetId, u: collaboratorId });
      if (!response.errors) expect(response.data.unshareDataset).toBe(true);
      return outcome(response);
    },
  },
  {
    name: "POST /uploads",
    expect: { ...by(401, 201, 201, 403, 404, 403), ...tokens(403, 201, 404, 404) },
    readable: { ...by(401, 201, 201, 403, 403, 403), ...tokens(403, 201, 404, 403) },
    run: async (role) => (await tusCreate(server, { token: tokenOf(role), length: bytes.length, metadata: { datasetId }, body: bytes })).status,
  },
  {
    name: "HEAD /uploads/* (the editor's upload)",
    expect: { ...by(401, 404, 200, 404, 404, 404), ...tokens(403, 404, 404, 404) },
    run: async (role) => (await tusHead(server, tokenOf(role), await editorsUpload())).status,
  },
  {
    name: "PATCH /uploads/* (the editor's upload)",
    expect: { ...by(401, 404, 204, 404, 404, 404), ...tokens(403, 404, 404, 404) },
    run: async (role) => (await tusPatch(server, tokenOf(role), await editorsUpload(), 0, Buffer.from("01234"))).status,
  },
  {
    name: "DELETE /uploads/* (the editor's upload)",
    expect: { ...by(401, 404, 204, 404, 404, 404), ...tokens(403, 404, 404, 404) },
    run: async (role) => {
      const id = await editorsUpload();
      const status = (await tusDelete(role, id)).status;
      const left = await server.database.query("select id from uploads where id = $1", [id]);
      expect(left.length, "the upload is gone exactly when the termination was allowed").toBe(status === 204 ? 0 : 1);
      return status;
    },
  },
  {
    name: "GET /datasets/:datasetId/versions/:version/files/* (bearer)",
    ...BYTES_BY_BEARER,
    run: async (role) => (await download(server, tokenOf(role), datasetId, 1, "table.csv")).status,
  },
  {
    name: "HEAD /datasets/:datasetId/versions/:version/files/* (bearer)",
    ...BYTES_BY_BEARER,
    run: async (role) => (await download(server, tokenOf(role), datasetId, "latest", "table.csv", {}, "HEAD")).status,
  },
  {
    name: "GET /datasets/:datasetId/versions/:version/files/* (signed link)",
    ...BYTES_BY_LINK,
    run: async (role) => (await fetch(links[role])).status,
  },
  {
    name: "HEAD /datasets/:datasetId/versions/:version/files/* (signed link)",
    ...BYTES_BY_LINK,
    run: async (role) => (await fetch(links[role], { method: "HEAD" })).status,
  },
  {
    name: "GET /datasets/:datasetId/versions/:version/archive.zip (bearer)",
    ...BYTES_BY_BEARER,
    run: async (role) => (await archive(role, 1)).status,
  },
  {
    name: "HEAD /datasets/:datasetId/versions/:version/archive.zip (bearer)",
    ...BYTES_BY_BEARER,
    run: async (role) => (await archive(role, "latest", "HEAD")).status,
  },
  {
    name: "GET /datasets/:datasetId/versions/:version/archive.zip (signed link)",
    ...BYTES_BY_LINK,
    run: async (role) => (await fetch(archiveLinks[role])).status,
  },
  {
    name: "HEAD /datasets/:datasetId/versions/:version/archive.zip (signed link)",
    ...BYTES_BY_LINK,
    run: async (role) => (await fetch(archiveLinks[role], { method: "HEAD" })).status,
  },
];

/** What a refused write must not change: D's row and who it is shared with. */
async function snapshotOfD() {
  const [row] = await server.database.query(
    "select name, description, latest_version, updated_at, visibility, license, tags, readme from datasets where id = $1",
    [datasetId],
  );
  const shares = await server.database.query("select user_id, role from dataset_collaborators where dataset_id = $1 order by user_id", [datasetId]);
  return { row, shares };
}

beforeAll(async () => {
  server = await startServer();
  const [owner, editor, viewer, stranger] = await Promise.all([createUser(server), createUser(server), createUser(server), createUser(server)]);
  Object.assign(actors, { owner, editor, viewer, stranger, admin: await createAdmin(server) });
  datasetId = (await createDataset(server, owner, { tags: [MATRIX_TAG] })).id;
  const uploadId = await upload(server, owner.token, datasetId, bytes);
  expect((await commit(server, owner.token, { datasetId, changes: [{ path: "table.csv", uploadId }] })).errors).toBeUndefined();
  await share(datasetId, editor, "EDITOR");
  await share(datasetId, viewer, "VIEWER");
  await share(datasetId, stranger, "VIEWER");
  const FILES = `query($id: ID!) { dataset(id: $id) { files { downloadUrl } } }`;
  for (const role of ["owner", "editor", "viewer", "stranger", "admin"] as const) {
    links[role] = (await server.graphql(FILES, { id: datasetId }, { token: actors[role].token })).data.dataset.files[0].downloadUrl;
  }
  const ARCHIVE = `query($id: ID!) { dataset(id: $id) { version(number: 1) { archiveUrl } } }`;
  for (const role of ["owner", "editor", "viewer", "stranger", "admin"] as const) {
    archiveLinks[role] = (await server.graphql(ARCHIVE, { id: datasetId }, { token: actors[role].token })).data.dataset.version.archiveUrl;
  }
  links.anonymous = spoilt(links.owner);
  const elsewhere = (await createDataset(server, owner)).id;
  Object.assign(secrets, {
    readToken: await createToken(server, owner, { scope: "READ" }),
    writeToken: await createToken(server, owner, { scope: "WRITE" }),
    limitedToken: await createToken(server, owner, { scope: "WRITE", datasetIds: [elsewhere] }),
    adminToken: await createToken(server, actors.admin, { scope: "WRITE" }),
  });
  for (const role of ["readToken", "writeToken"] as const) {
    links[role] = (await server.graphql(FILES, { id: datasetId }, { token: secrets[role].secret })).data.dataset.files[0].downloadUrl;
  }
  // D is NOT_FOUND to these two, so no link to it is made through them: one is signed here
  // with the server's key, for their credential, as a link to another dataset of theirs would be.
  const downloadKey = createHash("sha256").update(`download-url-key:${server.secret}`).digest("base64url");
  for (const role of ["limitedToken", "adminToken"] as const) {
    const user = actors[personOf(role) as "owner" | "admin"];
    const query = signDownload(
      downloadKey,
      { userId: user.id, sessionId: secrets[role].id, tokenVersion: 0, expires: Math.floor(Date.now() / 1000) + 600 },
      { datasetId, version: 1, path: "table.csv" },
    );
    links[role] = `${server.origin}/datasets/${datasetId}/versions/1/files/table.csv?${query}`;
  }
  for (const role of ["readToken", "writeToken"] as const) {
    archiveLinks[role] = (await server.graphql(ARCHIVE, { id: datasetId }, { token: secrets[role].secret })).data.dataset.version.archiveUrl;
  }
  for (const role of ["limitedToken", "adminToken"] as const) {
    const user = actors[personOf(role) as "owner" | "admin"];
    const query = signArchive(
      downloadKey,
      { userId: user.id, sessionId: secrets[role].id, tokenVersion: 0, expires: Math.floor(Date.now() / 1000) + 600 },
      { datasetId, version: 1 },
    );
    archiveLinks[role] = `${server.origin}/datasets/${datasetId}/versions/1/archive.zip?${query}`;
  }
  archiveLinks.anonymous = spoilt(archiveLinks.owner);
  // The stranger holds a link of their own, from when D was shared with them.
  expect((await server.graphql(UNSHARE, { d: datasetId, u: stranger.id }, { token: owner.token })).data.unshareDataset).toBe(true);
}, 180_000); // ten roles, each with its token or session: generous under load
afterAll(() => server.close());

describe.each(VISIBILITIES)("the permission matrix: every role on every operation and file route, D %s", (part) => {
  beforeAll(async () => {
    visibility = part;
    const response = await server.graphql(
      `mutation($id: ID!, $v: DatasetVisibility!) { updateDataset(id: $id, input: { visibility: $v }) { visibility } }`,
      { id: datasetId, v: part },
      { token: actors.owner.token },
    );
    expect(response.data?.updateDataset.visibility).toBe(part);
  });

  it.each(ROWS.map((row) => [row.name, row] as const))(
    "%s",
    async (_name, row) => {
      const seen = {} as Record<Role, Outcome>;
      const outcomes = expected(row, part);
      for (const role of ROLES) {
        const allowed = outcomes[role] === "ok";
        const prepared = (await row.prepare?.(role)) ?? "";
        const before = row.writesDataset && !allowed ? await snapshotOfD() : undefined;
        seen[role] = await row.run(role, prepared);
        if (before) expect(await snapshotOfD(), `${row.name} as ${role} changed D`).toEqual(before);
      }
      expect(seen).toEqual(outcomes);
    },
    120_000,
  );

  it("has a row for every Query and Mutation field of the schema", () => {
    const schema = buildUnguardedSchema();
    const fields = ["Query", "Mutation"].flatMap((root) => {
      const type = schema.getType(root);
      return isObjectType(type) ? Object.keys(type.getFields()).map((field) => `${root}.${field}`) : [];
    });
    const rows = new Set(ROWS.map((row) => row.name));
    expect(fields.filter((field) => !rows.has(field))).toEqual([]);
  });

  it("has rows for every method of every guarded route, downloads with a token and with a signed link", () => {
    const methods: Record<string, string[]> = { upload: ["POST", "HEAD", "PATCH", "DELETE"], download: ["GET", "HEAD"] };
    const expected = Object.entries(routePolicy).flatMap(([route, rule]) => {
      if (rule === "upload") return route === "/uploads" ? ["POST /uploads"] : ["HEAD", "PATCH", "DELETE"].map((method) => `${method} ${route}`);
      if (rule === "download") return methods.download!.flatMap((method) => [`${method} ${route} (bearer)`, `${method} ${route} (signed link)`]);
      return [];
    });
    const rows = ROWS.map((row) => row.name.replace(/ \(the editor's upload\)$/, ""));
    expect(expected.filter((route) => !rows.includes(route))).toEqual([]);
    expect(expected.length).toBeGreaterThanOrEqual(8);
  });
});
