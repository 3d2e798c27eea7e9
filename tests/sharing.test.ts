import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Subscription } from "../src/db/database.js";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { commit, commitFiles, download, tusCreate, tusHead, tusPatch, upload, uploadIdOf } from "./support/files.js";
import { errorCode, startServer, type GraphQLResponse, type TestServer, type UntypedData } from "./support/server.js";

/**
 * Sharing a dataset (docs/api.md "Sharing and live events"): what the roles see and do
 * beyond the permission matrix (tests/permission-matrix.test.ts): the lists by access, the
 * collaborators and viewerAccess, the share and unshare rules and their errors, audit
 * events, the NOTIFY each change sends, and access that goes on the very next request.
 */

const SHARE = `mutation($d: ID!, $u: String!, $r: DatasetRole!) {
  shareDataset(datasetId: $d, username: $u, role: $r) { role addedAt user { id username } addedBy { id } } }`;
const UNSHARE = `mutation($d: ID!, $u: ID!) { unshareDataset(datasetId: $d, userId: $u) }`;
const DATASET = `query($id: ID!) { dataset(id: $id) { id viewerAccess owner { id username } collaborators { role addedAt user { id username } addedBy { id } } } }`;
const LIST = `query($access: DatasetAccessFilter, $first: Int, $after: String, $order: DatasetOrder, $search: String) {
  datasets(first: $first, after: $after, orderBy: $order, filter: { access: $access, search: $search }) {
    totalCount nodes { id viewerAccess } pageInfo { hasNextPage endCursor } } }`;

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

function ok(response: GraphQLResponse) {
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data;
}
const as = (user: TestUser) => ({ token: user.token });
const shareAs = (owner: TestUser, datasetId: string, username: string, role: "VIEWER" | "EDITOR") =>
  server.graphql(SHARE, { d: datasetId, u: username, r: role }, as(owner));
const unshareAs = (actor: TestUser, datasetId: string, userId: string) => server.graphql(UNSHARE, { d: datasetId, u: userId }, as(actor));
const auditOf = (datasetId: string) =>
  server.database.query<{ type: string; actor_id: string; details: Record<string, unknown> }>(
    "select type, actor_id, details from audit_events where subject_id = $1 and type like 'dataset.%shar%' order by at, id",
    [datasetId],
  );

describe("lists by access", () => {
  let user: TestUser;
  let other: TestUser;
  const own: string[] = [];
  const shared: string[] = [];

  beforeAll(async () => {
    [user, other] = [await createUser(server), await createUser(server)];
    for (let index = 0; index < 3; index += 1) own.push((await createDataset(server, user, { name: `mine ${index}` })).id);
    for (let index = 0; index < 3; index += 1) {
      const id = (await createDataset(server, other, { name: `theirs ${index}` })).id;
      shared.push(id);
      ok(await shareAs(other, id, user.username, index === 0 ? "EDITOR" : "VIEWER"));
    }
    // Shared with someone else only: in none of the user's lists.
    ok(await shareAs(other, (await createDataset(server, other)).id, (await createUser(server)).username, "VIEWER"));
  });

  /** Every page of a list, two at a time, with the totalCount each page says. */
  async function walk(viewer: TestUser, access: string | null, order = "CREATED_AT_DESC") {
    const ids: string[] = [];
    const counts = new Set<number>();
    let after: string | null = null;
    for (;;) {
      const { datasets }: UntypedData = ok(await server.graphql(LIST, { access, first: 2, after, order }, as(viewer)));
      ids.push(...datasets.nodes.map((node: { id: string }) => node.id));
      counts.add(datasets.totalCount);
      if (!datasets.pageInfo.hasNextPage) return { ids, counts: [...counts] };
      after = datasets.pageInfo.endCursor;
    }
  }

  it.each([
    ["OWNED (the default)", null, () => own],
    ["OWNED", "OWNED", () => own],
    ["SHARED", "SHARED", () => shared],
    ["ALL", "ALL", () => [...own, ...shared]],
  ])("%s: every page, no repeats, the right totalCount, in each order", async (_label, access, expected) => {
    for (const order of ["CREATED_AT_DESC", "NAME_ASC"]) {
      const { ids, counts } = await walk(user, access as string | null, order);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual([...expected()].sort());
      expect(counts).toEqual([expected().length]);
    }
  });

  it("says the viewer's access on each node, and searches within the access asked for", async () => {
    const { datasets } = ok(await server.graphql(LIST, { access: "ALL", first: 100 }, as(user)));
    const access = Object.fromEntries(datasets.nodes.map((node: { id: string; viewerAccess: string }) => [node.id, node.viewerAccess]));
    expect(access).toEqual({
      ...Object.fromEntries(own.map((id) => [id, "OWNER"])),
      [shared[0]!]: "EDITOR",
      [shared[1]!]: "VIEWER",
      [shared[2]!]: "VIEWER",
    });
    const searched = ok(await server.graphql(LIST, { access: "SHARED", search: "theirs 1" }, as(user))).datasets;
    expect(searched.nodes.map((node: { id: string }) => node.id)).toEqual([shared[1]]);
    expect(searched.totalCount).toBe(1);
  });

  it("lists every dataset for an admin under OWNED and ALL (as before sharing), and only those shared with them under SHARED", async () => {
    const admin = await createAdmin(server);
    const sharedWithAdmin = (await createDataset(server, other)).id;
    ok(await shareAs(other, sharedWithAdmin, admin.username, "EDITOR"));
    const total = ok(await server.graphql(`{ adminDatasets { totalCount } }`, {}, as(admin))).adminDatasets.totalCount;
    for (const access of [null, "OWNED", "ALL"]) {
      expect(ok(await server.graphql(LIST, { access }, as(admin))).datasets.totalCount).toBe(total);
    }
    const { datasets } = ok(await server.graphql(LIST, { access: "SHARED" }, as(admin)));
    expect(datasets.nodes).toEqual([{ id: sharedWithAdmin, viewerAccess: "EDITOR" }]);
  });
});

describe("dataset(id), collaborators and viewerAccess", () => {
  it("shows the owner, the collaborators (not the owner, not admins) and each reader's own access", async () => {
    const [owner, editor, viewer, admin] = [await createUser(server), await createUser(server), await createUser(server), await createAdmin(server)];
    const { id } = await createDataset(server, owner);
    const editorShare = ok(await shareAs(owner, id, editor.username, "EDITOR")).shareDataset;
    expect(editorShare).toMatchObject({ role: "EDITOR", user: { id: editor.id, username: editor.username }, addedBy: { id: owner.id } });
    ok(await shareAs(owner, id, viewer.username.toUpperCase(), "VIEWER"));
    const collaborators = [
      { role: "EDITOR", addedAt: editorShare.addedAt, user: { id: editor.id, username: editor.username }, addedBy: { id: owner.id } },
      { role: "VIEWER", addedAt: expect.any(String), user: { id: viewer.id, username: viewer.username }, addedBy: { id: owner.id } },
    ];
    for (const [reader, access] of [
      [owner, "OWNER"],
      [editor, "EDITOR"],
      [viewer, "VIEWER"],
      [admin, "ADMIN"],
    ] as const) {
      const { dataset } = ok(await server.graphql(DATASET, { id }, as(reader)));
      expect(dataset).toEqual({ id, viewerAccess: access, owner: { id: owner.id, username: owner.username }, collaborators });
    }
    // Collaborators see each other's names, not their email (only themselves and admins do).
    const emails = await server.graphql(`query($id: ID!) { dataset(id: $id) { collaborators { user { email } } } }`, { id }, as(viewer));
    expect(emails.errors?.map((error) => error.extensions.code)).toEqual(["FORBIDDEN"]);
    // Nor whether the owner or another collaborator is an admin.
    const roles = await server.graphql(`query($id: ID!) { dataset(id: $id) { owner { role } collaborators { user { role } } } }`, { id }, as(viewer));
    expect(roles.errors?.map((error) => error.extensions.code)).toContain("FORBIDDEN");
  });

  it("lets an admin who was made an editor commit (EDITOR before ADMIN), and one who was not, not", async () => {
    const [owner, admin, otherAdmin] = [await createUser(server), await createAdmin(server), await createAdmin(server)];
    const { id } = await createDataset(server, owner);
    ok(await shareAs(owner, id, admin.username, "EDITOR"));
    expect(ok(await server.graphql(DATASET, { id }, as(admin))).dataset.viewerAccess).toBe("EDITOR");
    expect((await commitFiles(server, admin.token, id, { "a.txt": Buffer.from("a") })).number).toBe(1);
    expect((await tusCreate(server, { token: otherAdmin.token, length: 1, metadata: { datasetId: id } })).status).toBe(403);
  });
});

describe("shareDataset", () => {
  let owner: TestUser;
  let friend: TestUser;
  let datasetId: string;
  beforeAll(async () => {
    [owner, friend] = [await createUser(server), await createUser(server)];
    datasetId = (await createDataset(server, owner)).id;
  });

  it("shares, changes the role (keeping when and by whom), and changes nothing when the role is the same, with audit events", async () => {
    const first = ok(await shareAs(owner, datasetId, friend.username, "VIEWER")).shareDataset;
    const changed = ok(await shareAs(owner, datasetId, friend.username, "EDITOR")).shareDataset;
    expect(changed).toEqual({ ...first, role: "EDITOR" });
    expect(ok(await shareAs(owner, datasetId, friend.username, "EDITOR")).shareDataset).toEqual(changed);
    expect(await auditOf(datasetId)).toEqual([
      { type: "dataset.shared", actor_id: owner.id, details: { userId: friend.id, role: "VIEWER" } },
      { type: "dataset.share_changed", actor_id: owner.id, details: { userId: friend.id, from: "VIEWER", to: "EDITOR" } },
    ]);
  });

  it("refuses yourself, an unknown and a deactivated username alike, and a malformed one, as BAD_USER_INPUT on username, writing nothing", async () => {
    const admin = await createAdmin(server);
    const deactivated = await createUser(server);
    ok(await server.graphql(`mutation($u: ID!) { setUserActive(userId: $u, active: false) { id } }`, { u: deactivated.id }, as(admin)));
    const refusals = [];
    for (const username of [owner.username, `nobody_${randomUUID().slice(0, 8)}`, deactivated.username, "no spaces allowed"]) {
      const response = await shareAs(owner, datasetId, username, "VIEWER");
      expect(errorCode(response)).toBe("BAD_USER_INPUT");
      expect(response.errors![0]!.extensions.field).toBe("username");
      refusals.push(response.errors![0]!.message);
    }
    // Unknown and deactivated: the same answer, word for word.
    expect(refusals[2]).toBe(refusals[1]);
    const rows = await server.database.query("select user_id from dataset_collaborators where dataset_id = $1 and user_id = any($2)", [
      datasetId,
      [owner.id, deactivated.id],
    ]);
    expect(rows).toEqual([]);
  });

  it("is NOT_FOUND on a dataset that is not there, and on one you may not read", async () => {
    expect(errorCode(await shareAs(owner, randomUUID(), friend.username, "VIEWER"))).toBe("NOT_FOUND");
    const stranger = await createUser(server);
    expect(errorCode(await shareAs(stranger, datasetId, friend.username, "VIEWER"))).toBe("NOT_FOUND");
  });

  it("shares a dataset with at most 200 users: CONFLICT beyond, a role change of one of them still goes", async () => {
    const { id } = await createDataset(server, owner);
    // 200 collaborators written directly: the limit, not 200 registrations, is under test.
    await server.database.query(
      `with made as (
         insert into users (email, username, password_hash)
         select 'limit' || n || $2 || '@example.com', 'limit' || n || $2, 'not a hash' from generate_series(1, 200) n
         returning id)
       insert into dataset_collaborators (dataset_id, user_id, role, added_by) select $1, id, 'VIEWER', $3 from made`,
      [id, randomUUID().slice(0, 8), owner.id],
    );
    const refused = await shareAs(owner, id, friend.username, "VIEWER");
    expect(errorCode(refused)).toBe("CONFLICT");
    expect(refused.errors![0]!.extensions.field).toBe("datasetId");
    const [one] = await server.database.query<{ username: string }>(
      "select u.username from dataset_collaborators c join users u on u.id = c.user_id where c.dataset_id = $1 limit 1",
      [id],
    );
    expect(ok(await shareAs(owner, id, one!.username, "EDITOR")).shareDataset.role).toBe("EDITOR");
  });

  it("goes with the dataset: deleting it removes its shares", async () => {
    const { id } = await createDataset(server, owner);
    ok(await shareAs(owner, id, friend.username, "EDITOR"));
    ok(await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id }, as(owner)));
    expect(await server.database.query("select 1 from dataset_collaborators where dataset_id = $1", [id])).toEqual([]);
  });
});

describe("unshareDataset", () => {
  it("lets a collaborator leave (then the dataset is NOT_FOUND for them), the owner remove anyone, and says false for no share", async () => {
    const [owner, leaver, removed, admin] = [await createUser(server), await createUser(server), await createUser(server), await createAdmin(server)];
    const { id } = await createDataset(server, owner);
    ok(await shareAs(owner, id, leaver.username, "EDITOR"));
    ok(await shareAs(owner, id, removed.username, "VIEWER"));

    expect(ok(await unshareAs(leaver, id, leaver.id)).unshareDataset).toBe(true);
    expect(errorCode(await server.graphql(DATASET, { id }, as(leaver)))).toBe("NOT_FOUND");
    expect(errorCode(await unshareAs(leaver, id, leaver.id))).toBe("NOT_FOUND");

    expect(ok(await unshareAs(owner, id, removed.id)).unshareDataset).toBe(true);
    expect(ok(await unshareAs(owner, id, removed.id)).unshareDataset).toBe(false);
    expect(ok(await unshareAs(owner, id, randomUUID())).unshareDataset).toBe(false);

    // The owner's access is ownership; an admin's comes with the role: neither can be given up here.
    expect(errorCode(await unshareAs(owner, id, owner.id))).toBe("BAD_USER_INPUT");
    expect(errorCode(await unshareAs(admin, id, admin.id))).toBe("FORBIDDEN");
    expect(errorCode(await unshareAs(owner, id, "not-an-id"))).toBe("BAD_USER_INPUT");

    expect(await auditOf(id)).toEqual([
      expect.objectContaining({ type: "dataset.shared" }),
      expect.objectContaining({ type: "dataset.shared" }),
      { type: "dataset.unshared", actor_id: leaver.id, details: { userId: leaver.id, role: "EDITOR", left: true } },
      { type: "dataset.unshared", actor_id: owner.id, details: { userId: removed.id, role: "VIEWER", left: false } },
    ]);
  });
});

describe("losing access takes effect on the very next request", () => {
  it("ends a viewer's reads, bearer downloads and signed links at once", async () => {
    const [owner, viewer] = [await createUser(server), await createUser(server)];
    const { id } = await createDataset(server, owner);
    await commitFiles(server, owner.token, id, { "data.csv": Buffer.from("x\n1\n") });
    ok(await shareAs(owner, id, viewer.username, "VIEWER"));
    const { dataset } = ok(await server.graphql(`query($id: ID!) { dataset(id: $id) { files { downloadUrl } } }`, { id }, as(viewer)));
    const link: string = dataset.files[0].downloadUrl;
    expect((await fetch(link)).status).toBe(200);
    expect((await download(server, viewer.token, id, 1, "data.csv")).status).toBe(200);

    ok(await unshareAs(owner, id, viewer.id));
    expect(errorCode(await server.graphql(DATASET, { id }, as(viewer)))).toBe("NOT_FOUND");
    expect((await fetch(link)).status).toBe(404);
    expect((await download(server, viewer.token, id, 1, "data.csv")).status).toBe(404);
  });

  it("stops an editor's uploads and commits when the role goes down to VIEWER (403) and when the share goes (404); their own upload they may still terminate", async () => {
    const [owner, editor] = [await createUser(server), await createUser(server)];
    const { id } = await createDataset(server, owner);
    ok(await shareAs(owner, id, editor.username, "EDITOR"));
    const unfinished = uploadIdOf(await tusCreate(server, { token: editor.token, length: 4, metadata: { datasetId: id } }));
    expect((await tusPatch(server, editor.token, unfinished, 0, Buffer.from("ab"))).status).toBe(204);
    const finished = await upload(server, editor.token, id, Buffer.from("done"));

    ok(await shareAs(owner, id, editor.username, "VIEWER"));
    expect((await tusHead(server, editor.token, unfinished)).status).toBe(403);
    expect((await tusPatch(server, editor.token, unfinished, 2, Buffer.from("cd"))).status).toBe(403);
    expect((await tusCreate(server, { token: editor.token, length: 1, metadata: { datasetId: id } })).status).toBe(403);
    expect(errorCode(await commit(server, editor.token, { datasetId: id, changes: [{ path: "done.txt", uploadId: finished }] }))).toBe("FORBIDDEN");
    expect(errorCode(await server.graphql(`mutation($id: ID!) { updateDataset(id: $id, input: { name: "no" }) { id } }`, { id }, as(editor)))).toBe(
      "FORBIDDEN",
    );

    ok(await unshareAs(owner, id, editor.id));
    expect((await tusHead(server, editor.token, unfinished)).status).toBe(404);
    expect((await tusPatch(server, editor.token, unfinished, 2, Buffer.from("cd"))).status).toBe(404);
    expect(errorCode(await commit(server, editor.token, { datasetId: id, changes: [{ path: "done.txt", uploadId: finished }] }))).toBe("NOT_FOUND");
    const terminated = await fetch(`${server.origin}/uploads/${unfinished}`, {
      method: "DELETE",
      headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${editor.token}` },
    });
    expect(terminated.status).toBe(204);
    expect(await server.database.query("select 1 from dataset_versions where dataset_id = $1", [id])).toEqual([]);
  });
});

describe("live events: a NOTIFY on dataset_events in the transaction of each change", () => {
  it("sends the pinned payload for a share, a role change and an unshare, and nothing for a change that changes nothing or is refused", async () => {
    const [owner, friend, stranger] = [await createUser(server), await createUser(server), await createUser(server)];
    const { id } = await createDataset(server, owner);
    const payloads: unknown[] = [];
    let listening: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      listening = resolve;
    });
    const subscription: Subscription = await server.database.listen("dataset_events", {
      notification: (payload) => {
        // The server's own probes that prove notifications arrive share the channel (src/events/listen-proof.ts).
        if (payload.startsWith("probe:")) return;
        const event = JSON.parse(payload);
        if (event.datasetId === id) payloads.push(event);
      },
      listening: () => listening(),
      lost: () => {},
    });
    try {
      await ready;
      ok(await shareAs(owner, id, friend.username, "VIEWER"));
      ok(await shareAs(owner, id, friend.username, "VIEWER"));
      expect(errorCode(await shareAs(stranger, id, friend.username, "EDITOR"))).toBe("NOT_FOUND");
      ok(await shareAs(owner, id, friend.username, "EDITOR"));
      ok(await unshareAs(owner, id, friend.id));
      ok(await unshareAs(owner, id, friend.id));
      // A marker after the rest: once it arrives, every earlier notification has (commit order).
      ok(await shareAs(owner, id, stranger.username, "VIEWER"));
      // Generous: NOTIFY reaches a listener in milliseconds, but a busy CI machine (two suites side by
      // side) once took longer than expect.poll's default second.
      await expect.poll(() => payloads.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(4);
    } finally {
      await subscription.close();
    }
    const event = (type: string, userId: string) => ({ type, datasetId: id, version: null, userId, sha256: null, at: expect.any(String) });
    expect(payloads).toEqual([event("SHARED", friend.id), event("SHARED", friend.id), event("UNSHARED", friend.id), event("SHARED", stranger.id)]);
    for (const payload of payloads as Array<{ at: string }>) expect(new Date(payload.at).toISOString()).toBe(payload.at);
  });
});
