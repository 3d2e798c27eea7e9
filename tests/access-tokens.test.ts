import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { commit, download, tusCreate, upload } from "./support/files.js";
import { DATASET_EVENTS, LiveClient } from "./support/live.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";
import { CREATE_TOKEN, createToken, REVOKE_TOKEN, revokeToken } from "./support/tokens.js";

/**
 * Personal access tokens (issue 22), through HTTP: made and listed by a person, used as
 * `Authorization: Bearer dpat_…` on /graphql, tus, downloads and graphql-ws, within its
 * scope and dataset list, never with admin powers or a person's powers over sessions and
 * tokens, and refused with 401 from the very next request once revoked, expired or its
 * user deactivated. The permission matrix has the token column for every field and route.
 */

let server: TestServer;
let owner: TestUser;
let admin: TestUser;

const ME = `{ me { id } }`;
const me = (secret: string) => server.graphql(ME, {}, { token: secret });
const LIST = `{ accessTokens { id name scope prefix createdAt expiresAt lastUsedAt datasets { id } } }`;

async function auditOf(type: string, actorId: string) {
  const response = await server.graphql(
    `query($f: AuditEventFilter) { auditEvents(first: 50, filter: $f) { nodes { type subjectId details actor { id } } } }`,
    { f: { type, actorId } },
    { token: admin.token },
  );
  expect(response.errors).toBeUndefined();
  return response.data.auditEvents.nodes as Array<{ type: string; subjectId: string; details: Record<string, unknown> }>;
}

beforeAll(async () => {
  server = await startServer();
  [owner, admin] = await Promise.all([createUser(server), createAdmin(server)]);
}, 180_000);
afterAll(() => server.close());

describe("making, listing and revoking tokens", () => {
  it("returns a dpat_ secret of 256 bits once, stores only its hash, and lists the token without it", async () => {
    const response = await server.graphql(CREATE_TOKEN, { input: { name: "nightly job", scope: "READ", expiresInDays: 30 } }, { token: owner.token });
    expect(response.errors).toBeUndefined();
    const { secret, token } = response.data.createAccessToken;
    expect(secret).toMatch(/^dpat_[A-Za-z0-9_-]{43}$/);
    expect(token).toMatchObject({ name: "nightly job", scope: "READ", prefix: secret.slice(0, 12), lastUsedAt: null, datasets: null });
    const days = (Date.parse(token.expiresAt) - Date.parse(token.createdAt)) / 86_400_000;
    expect(days).toBeCloseTo(30, 3);

    const [row] = await server.database.query<Record<string, unknown>>("select * from access_tokens where id = $1", [token.id]);
    expect(JSON.stringify(row)).not.toContain(secret.slice(12));

    const listed = await server.graphql(LIST, {}, { token: owner.token });
    expect(listed.data.accessTokens.map((item: { id: string }) => item.id)).toContain(token.id);
    expect(JSON.stringify(listed)).not.toContain(secret);
    const [created] = await auditOf("token.created", owner.id);
    expect(created).toMatchObject({ subjectId: expect.any(String), details: expect.objectContaining({ scope: expect.any(String) }) });
  });

  it("refuses bad input with the field, and writes nothing", async () => {
    const before = await server.database.query("select id from access_tokens");
    const other = await createDataset(server, await createUser(server));
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: "", scope: "READ" }, "input.name"],
      [{ name: "x".repeat(101), scope: "READ" }, "input.name"],
      [{ name: "ok", scope: "READ", expiresInDays: 0 }, "input.expiresInDays"],
      [{ name: "ok", scope: "READ", expiresInDays: 366 }, "input.expiresInDays"],
      [{ name: "ok", scope: "READ", datasetIds: [] }, "input.datasetIds"],
      [{ name: "ok", scope: "READ", datasetIds: ["not-an-id"] }, "input.datasetIds[0]"],
      // Another user's private dataset: the same refusal as an absent one.
      [{ name: "ok", scope: "READ", datasetIds: [other.id] }, "input.datasetIds[0]"],
      [{ name: "ok", scope: "READ", datasetIds: ["00000000-0000-4000-8000-000000000000"] }, "input.datasetIds[0]"],
    ];
    for (const [input, field] of cases) {
      const response = await server.graphql(CREATE_TOKEN, { input }, { token: owner.token });
      expect(errorCode(response), JSON.stringify(input)).toBe("BAD_USER_INPUT");
      expect(response.errors![0]!.extensions.field).toBe(field);
    }
    expect(await server.database.query("select id from access_tokens")).toHaveLength(before.length);
  });

  it("an admin's token cannot name a dataset its admin reads only as an admin", async () => {
    const dataset = await createDataset(server, await createUser(server));
    const response = await server.graphql(CREATE_TOKEN, { input: { name: "x", scope: "READ", datasetIds: [dataset.id] } }, { token: admin.token });
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
  });

  it("is revoked by its owner or an admin; anyone else finds no such token", async () => {
    const stranger = await createUser(server);
    const mine = await createToken(server, owner);
    expect(errorCode(await server.graphql(REVOKE_TOKEN, { id: mine.id }, { token: stranger.token }))).toBe("NOT_FOUND");
    expect((await me(mine.secret)).errors).toBeUndefined();
    await revokeToken(server, admin, mine.id);
    const again = await server.graphql(REVOKE_TOKEN, { id: mine.id }, { token: owner.token });
    expect(again.data.revokeAccessToken).toBe(false);
    const [revoked] = await auditOf("token.revoked", admin.id);
    expect(revoked).toMatchObject({ subjectId: mine.id, details: { userId: owner.id } });
    expect((await server.graphql(LIST, {}, { token: owner.token })).data.accessTokens.map((item: { id: string }) => item.id)).not.toContain(mine.id);
  });
});

describe("using a token", () => {
  it("stands for its user on /graphql, and stamps lastUsedAt at most once a minute", async () => {
    const token = await createToken(server, owner, { scope: "READ" });
    const response = await me(token.secret);
    expect(response.errors).toBeUndefined();
    expect(response.data.me.id).toBe(owner.id);
    const stamped = async () =>
      (await server.database.query<{ at: string | null }>("select last_used_at::text as at from access_tokens where id = $1", [token.id]))[0]!.at;
    const first = await stamped();
    expect(first).not.toBeNull();
    await me(token.secret);
    expect(await stamped()).toBe(first);
  });

  it("WRITE: creates a dataset, uploads with tus, commits and downloads, each audited with the token's id", async () => {
    const token = await createToken(server, owner, { scope: "WRITE" });
    const created = await server.graphql(`mutation { createDataset(input: { name: "by a script" }) { id } }`, {}, { token: token.secret });
    expect(created.errors).toBeUndefined();
    const datasetId = created.data.createDataset.id as string;
    const uploadId = await upload(server, token.secret, datasetId, Buffer.from("a,b\n1,2\n"));
    const committed = await commit(server, token.secret, { datasetId, changes: [{ path: "t.csv", uploadId }] });
    expect(committed.errors).toBeUndefined();
    const bytes = await download(server, token.secret, datasetId, 1, "t.csv");
    expect(bytes.status).toBe(200);
    expect(await bytes.text()).toBe("a,b\n1,2\n");
    for (const type of ["dataset.created", "upload.created", "upload.completed", "version.committed"]) {
      const events = await auditOf(type, owner.id);
      expect(
        events.some((event) => event.details?.tokenId === token.id),
        type,
      ).toBe(true);
    }
  });

  it("READ: reads and downloads, and every write is FORBIDDEN with nothing written", async () => {
    const dataset = await createDataset(server, owner);
    const uploadId = await upload(server, owner.token, dataset.id, Buffer.from("x"));
    expect((await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: "x.txt", uploadId }] })).errors).toBeUndefined();
    const token = await createToken(server, owner, { scope: "READ" });
    expect((await server.graphql(`query($id: ID!) { dataset(id: $id) { id } }`, { id: dataset.id }, { token: token.secret })).errors).toBeUndefined();
    expect((await download(server, token.secret, dataset.id, 1, "x.txt")).status).toBe(200);
    const update = `mutation($id: ID!) { updateDataset(id: $id, input: { name: "changed" }) { id } }`;
    expect(errorCode(await server.graphql(update, { id: dataset.id }, { token: token.secret }))).toBe("FORBIDDEN");
    expect(errorCode(await server.graphql(`mutation { createDataset(input: { name: "no" }) { id } }`, {}, { token: token.secret }))).toBe(
      "FORBIDDEN",
    );
    expect((await tusCreate(server, { token: token.secret, length: 1, metadata: { datasetId: dataset.id }, body: Buffer.from("y") })).status).toBe(
      403,
    );
    const [row] = await server.database.query<{ name: string }>("select name from datasets where id = $1", [dataset.id]);
    expect(row!.name).toBe(dataset.name);
  });

  it("limited to some datasets: others are NOT_FOUND, lists hold only those, and it makes no dataset", async () => {
    const [mine, other] = [await createDataset(server, owner), await createDataset(server, owner)];
    const token = await createToken(server, owner, { scope: "WRITE", datasetIds: [mine.id] });
    const one = `query($id: ID!) { dataset(id: $id) { id } }`;
    expect((await server.graphql(one, { id: mine.id }, { token: token.secret })).errors).toBeUndefined();
    expect(errorCode(await server.graphql(one, { id: other.id }, { token: token.secret }))).toBe("NOT_FOUND");
    const listed = await server.graphql(`{ datasets(first: 100, filter: { access: ALL }) { totalCount nodes { id } } }`, {}, { token: token.secret });
    expect(listed.data.datasets).toEqual({ totalCount: 1, nodes: [{ id: mine.id }] });
    expect((await tusCreate(server, { token: token.secret, length: 1, metadata: { datasetId: other.id }, body: Buffer.from("y") })).status).toBe(404);
    expect(errorCode(await server.graphql(`mutation { createDataset(input: { name: "no" }) { id } }`, {}, { token: token.secret }))).toBe(
      "FORBIDDEN",
    );
    const shown = await server.graphql(LIST, {}, { token: owner.token });
    const entry = shown.data.accessTokens.find((item: { id: string }) => item.id === token.id);
    expect(entry.datasets).toEqual([{ id: mine.id }]);
  });

  it("limited to some datasets: live events of the others never reach it", async () => {
    const [mine, other] = [await createDataset(server, owner), await createDataset(server, owner)];
    const token = await createToken(server, owner, { scope: "READ", datasetIds: [mine.id] });
    const live = LiveClient.as(server.url, token.secret);
    await live.connected();
    const refused = live.subscribe(DATASET_EVENTS, { datasetId: other.id });
    const all = live.subscribe(DATASET_EVENTS, {});
    const rename = (id: string, name: string) =>
      server.graphql(
        `mutation($id: ID!, $n: String!) { updateDataset(id: $id, input: { name: $n }) { id } }`,
        { id, n: name },
        { token: owner.token },
      );
    // Until the subscription is in place, a change of the listed dataset may go unheard: try again.
    for (let attempt = 0; !(await all.arrivesWithin(500)); attempt += 1) await rename(mine.id, `settling ${attempt}`);
    await rename(other.id, "not for the token");
    await rename(mine.id, "the last change");
    const seen: string[] = [];
    for (;;) {
      const event = await all.nextEvent();
      seen.push(event.datasetId);
      if (event.dataset?.name === "the last change") break;
    }
    expect(seen).not.toContain(other.id);
    expect((await refused.next()).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    await live.dispose();
  });

  it("an admin's token has no admin powers", async () => {
    const token = await createToken(server, admin, { scope: "WRITE" });
    const someone = await createDataset(server, await createUser(server));
    expect(errorCode(await server.graphql(`{ users(first: 1) { totalCount } }`, {}, { token: token.secret }))).toBe("FORBIDDEN");
    expect(errorCode(await server.graphql(`{ auditEvents(first: 1) { totalCount } }`, {}, { token: token.secret }))).toBe("FORBIDDEN");
    expect(errorCode(await server.graphql(`query($id: ID!) { dataset(id: $id) { id } }`, { id: someone.id }, { token: token.secret }))).toBe(
      "NOT_FOUND",
    );
    expect((await download(server, token.secret, someone.id, "latest", "x")).status).toBe(404);
  });

  it("never does what only a person should: tokens, password, sessions", async () => {
    const token = await createToken(server, owner, { scope: "WRITE" });
    const operations = [
      [CREATE_TOKEN, { input: { name: "child", scope: "WRITE" } }],
      [LIST, {}],
      [REVOKE_TOKEN, { id: token.id }],
      [`mutation { logoutAll }`, {}],
      [
        `mutation($c: String!) { changePassword(currentPassword: $c, newPassword: "another long password 123") { accessToken } }`,
        { c: owner.password },
      ],
      [`mutation { logout(refreshToken: "whatever") }`, {}],
    ] as const;
    for (const [query, variables] of operations) {
      expect(errorCode(await server.graphql(query, variables as Record<string, unknown>, { token: token.secret })), query).toBe("FORBIDDEN");
    }
    expect((await me(token.secret)).errors).toBeUndefined();
    expect(await server.database.query("select id from access_tokens where user_id = $1 and revoked_at is null", [owner.id])).not.toHaveLength(0);
  });
});

describe("refusals: 401 on every route, from the very next request", () => {
  const refusedEverywhere = async (secret: string, datasetId: string) => {
    const graphql = await me(secret);
    expect(graphql.status).toBe(401);
    expect(errorCode(graphql)).toBe("UNAUTHENTICATED");
    expect((await tusCreate(server, { token: secret, length: 1, metadata: { datasetId } })).status).toBe(401);
    expect((await download(server, secret, datasetId, 1, "f.txt")).status).toBe(401);
    const live = LiveClient.as(server.url, secret);
    expect((await live.closed()).code).toBe(4403);
    await live.dispose();
  };

  it("unknown and malformed secrets", async () => {
    const dataset = await createDataset(server, owner);
    await refusedEverywhere(`dpat_${"A".repeat(43)}`, dataset.id);
    await refusedEverywhere("dpat_short", dataset.id);
  });

  it("revoked: requests, signed links made through it, and open subscriptions end", async () => {
    const dataset = await createDataset(server, owner);
    const uploadId = await upload(server, owner.token, dataset.id, Buffer.from("f"));
    expect((await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: "f.txt", uploadId }] })).errors).toBeUndefined();
    const token = await createToken(server, owner, { scope: "READ" });
    const files = await server.graphql(`query($id: ID!) { dataset(id: $id) { files { downloadUrl } } }`, { id: dataset.id }, { token: token.secret });
    const link = files.data.dataset.files[0].downloadUrl as string;
    expect((await fetch(link)).status).toBe(200);
    const live = LiveClient.as(server.url, token.secret);
    await live.connected();
    live.subscribe(DATASET_EVENTS, { datasetId: dataset.id });

    await revokeToken(server, owner, token.id);
    await refusedEverywhere(token.secret, dataset.id);
    expect((await fetch(link)).status).toBe(401);
    expect((await live.closed()).code).toBe(4403);
    await live.dispose();
  });

  it("expired, and its user deactivated", async () => {
    const dataset = await createDataset(server, owner);
    const expiring = await createToken(server, owner, { expiresInDays: 1 });
    // Expiring 2 s from now (the API's shortest is a day), set before its first use: the instance
    // learns the expiry with the token and refuses it once the time has passed, with no
    // announcement (time alone ends it) and no statement to tell it.
    await server.database.query("update access_tokens set expires_at = now() + interval '2 seconds' where id = $1", [expiring.id]);
    expect((await me(expiring.secret)).errors).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await refusedEverywhere(expiring.secret, dataset.id);

    const user = await createUser(server);
    const theirs = await createToken(server, user);
    expect((await me(theirs.secret)).errors).toBeUndefined();
    const deactivate = `mutation($id: ID!, $a: Boolean!) { setUserActive(userId: $id, active: $a) { id } }`;
    expect((await server.graphql(deactivate, { id: user.id, a: false }, { token: admin.token })).errors).toBeUndefined();
    expect((await me(theirs.secret)).status).toBe(401);
    // Reactivated: the token stays ended, as their sessions do (a leaked secret is a reason to deactivate).
    expect((await server.graphql(deactivate, { id: user.id, a: true }, { token: admin.token })).errors).toBeUndefined();
    expect((await me(theirs.secret)).status).toBe(401);
  });

  it("expiring: an open subscription through it ends at the expiry, with no announcement to wait for", async () => {
    const dataset = await createDataset(server, owner);
    const token = await createToken(server, owner, { expiresInDays: 1 });
    // Expiring 3 s from now (an expiry cannot be set closer through the API): no row changes when it passes.
    await server.database.query("update access_tokens set expires_at = now() + interval '3 seconds' where id = $1", [token.id]);
    const live = LiveClient.as(server.url, token.secret);
    await live.connected();
    live.subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    const started = Date.now();
    expect((await live.closed()).code).toBe(4403);
    // Well before the 60 s periodic recheck (a busy machine leaves a wide margin).
    expect(Date.now() - started).toBeLessThan(30_000);
    await live.dispose();
    expect((await me(token.secret)).status).toBe(401);
  });

  it("logoutAll and changePassword end sessions, not tokens", async () => {
    const user = await createUser(server);
    const token = await createToken(server, user);
    expect((await server.graphql(`mutation { logoutAll }`, {}, { token: user.token })).errors).toBeUndefined();
    expect((await me(user.token)).status).toBe(401);
    expect((await me(token.secret)).errors).toBeUndefined();
  });
});

describe("guessing secrets", () => {
  let guarded: TestServer;
  beforeAll(async () => {
    guarded = await startServer({ LOGIN_ADDRESS_MAX_FAILURES: "3" });
  }, 180_000);
  afterAll(() => guarded.close());

  it("counts wrong secrets against the address like failed sign-ins: then RATE_LIMITED, even for a right one", async () => {
    const user = await createUser(guarded);
    const token = await createToken(guarded, user);
    const wrong = `dpat_${"B".repeat(43)}`;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(errorCode(await guarded.graphql(ME, {}, { token: wrong }))).toBe("UNAUTHENTICATED");
    }
    const refused = await guarded.graphql(ME, {}, { token: `dpat_${"C".repeat(43)}` });
    expect(refused.status).toBe(429);
    expect(errorCode(refused)).toBe("RATE_LIMITED");
    // The address is stopped before any secret is looked up: a right one (never seen here) too.
    expect(errorCode(await guarded.graphql(ME, {}, { token: token.secret }))).toBe("RATE_LIMITED");
    // A download with a guessed secret is refused the same way, as HTTP.
    expect((await download(guarded, wrong, "00000000-0000-4000-8000-000000000000", 1, "x")).status).toBe(429);
  });
});
