import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { commitFiles, download } from "./support/files.js";
import { DATASET_EVENTS, LiveClient, type LiveSubscription } from "./support/live.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer } from "./support/server.js";

/**
 * Publishing (docs/api.md "Publishing"): a dataset's visibility and card through HTTP. Who
 * reaches what for every role and visibility is the permission matrix; here, the card's
 * input rules, the README kept as text, the audit event, and that making a dataset private
 * again cuts every anonymous and visibility-only path on the very next request.
 */

const DATASET = `query($id: ID!) {
  dataset(id: $id) {
    id visibility license tags readme viewerAccess
    owner { username }
    collaborators { role }
    latestVersion { files { path downloadUrl } }
  }
}`;
const UPDATE = `mutation($id: ID!, $input: UpdateDatasetInput!) { updateDataset(id: $id, input: $input) { id visibility license tags readme } }`;
const CREATE = `mutation($input: CreateDatasetInput!) { createDataset(input: $input) { id visibility license tags readme } }`;
const EXPLORE = `query($tag: String!) { exploreDatasets(filter: { tags: [$tag] }) { totalCount nodes { id } } }`;

let server: TestServer;
const clients: LiveClient[] = [];

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await server.close();
});

const ok = (response: GraphQLResponse) => {
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data;
};
const update = (user: TestUser, id: string, input: Record<string, unknown>) => server.graphql(UPDATE, { id, input }, { token: user.token });
const rowOf = async (id: string) =>
  (await server.database.query("select visibility, license, tags, readme, description, updated_at from datasets where id = $1", [id]))[0];
const share = async (owner: TestUser, id: string, user: TestUser, role: "VIEWER" | "EDITOR") =>
  ok(
    await server.graphql(
      `mutation($d: ID!, $u: String!, $r: DatasetRole!) { shareDataset(datasetId: $d, username: $u, role: $r) { role } }`,
      { d: id, u: user.username, r: role },
      { token: owner.token },
    ),
  );
/** A tag no other test's datasets hold, to find one dataset in the catalog. */
const uniqueTag = () => unique("t").toLowerCase().replace(/_/g, "-").slice(0, 32);

describe("visibility", () => {
  it("is PRIVATE by default, set by the owner on create and update; anonymous readers then read it as PUBLIC", async () => {
    const owner = await createUser(server);
    const made = await createDataset(server, owner);
    expect(made).toMatchObject({ visibility: "PRIVATE", license: null, tags: [], readme: null });
    expect(errorCode(await server.graphql(DATASET, { id: made.id }))).toBe("NOT_FOUND");

    for (const visibility of ["UNLISTED", "PUBLIC"] as const) {
      expect(ok(await update(owner, made.id, { visibility })).updateDataset.visibility).toBe(visibility);
      const { dataset } = ok(await server.graphql(DATASET, { id: made.id }));
      expect(dataset).toMatchObject({ visibility, viewerAccess: "PUBLIC", owner: { username: owner.username } });
    }
    const created = ok(await server.graphql(CREATE, { input: { name: "born public", visibility: "PUBLIC" } }, { token: owner.token }));
    expect(created.createDataset.visibility).toBe("PUBLIC");
  });

  it("shows a reader who reads only through visibility no collaborators and no owner's email", async () => {
    const [owner, collaborator, stranger] = [await createUser(server), await createUser(server), await createUser(server)];
    const { id } = await createDataset(server, owner, { visibility: "PUBLIC" });
    await share(owner, id, collaborator, "VIEWER");
    expect(ok(await server.graphql(DATASET, { id }, { token: collaborator.token })).dataset.collaborators).toEqual([{ role: "VIEWER" }]);
    for (const token of [stranger.token, undefined]) {
      expect(ok(await server.graphql(DATASET, { id }, { token })).dataset).toMatchObject({ viewerAccess: "PUBLIC", collaborators: [] });
      expect(errorCode(await server.graphql(`query($id: ID!) { dataset(id: $id) { owner { email } } }`, { id }, { token }))).toBe("FORBIDDEN");
    }
  });

  it("is the owner's alone to change: an editor is FORBIDDEN and nothing is written, even with other fields they may change", async () => {
    const [owner, editor] = [await createUser(server), await createUser(server)];
    const { id } = await createDataset(server, owner);
    await share(owner, id, editor, "EDITOR");
    const before = await rowOf(id);
    const response = await update(editor, id, { visibility: "PUBLIC", tags: ["x"] });
    expect(errorCode(response)).toBe("FORBIDDEN");
    expect(await rowOf(id)).toEqual(before);
    // The card is theirs to change.
    expect(ok(await update(editor, id, { license: "CC-BY-4.0", tags: ["x"], readme: "# Hi" })).updateDataset).toMatchObject({
      visibility: "PRIVATE",
      license: "CC-BY-4.0",
      tags: ["x"],
      readme: "# Hi",
    });
  });

  it("is audited as dataset.visibility_changed with before and after, once per real change", async () => {
    const owner = await createUser(server);
    const { id } = await createDataset(server, owner);
    expect(ok(await update(owner, id, { visibility: "UNLISTED" })).updateDataset.visibility).toBe("UNLISTED");
    expect(ok(await update(owner, id, { visibility: "UNLISTED" })).updateDataset.visibility).toBe("UNLISTED");
    expect(ok(await update(owner, id, { visibility: "PRIVATE", description: "back" })).updateDataset.visibility).toBe("PRIVATE");
    const events = await server.database.query<{ actor_id: string; details: unknown }>(
      "select actor_id, details from audit_events where type = 'dataset.visibility_changed' and subject_id = $1 order by at",
      [id],
    );
    expect(events).toEqual([
      { actor_id: owner.id, details: { before: "PRIVATE", after: "UNLISTED" } },
      { actor_id: owner.id, details: { before: "UNLISTED", after: "PRIVATE" } },
    ]);
  });
});

describe("the card's input rules", () => {
  let owner: TestUser;
  let id: string;
  beforeAll(async () => {
    owner = await createUser(server);
    id = (await createDataset(server, owner, { license: "MIT", tags: ["kept"], readme: "kept" })).id;
  });

  it("takes SPDX ids in any case and stores the list's spelling; tags lower-cased; null clears", async () => {
    expect(ok(await update(owner, id, { license: "cc-by-4.0", tags: ["Climate", "open-data"] })).updateDataset).toMatchObject({
      license: "CC-BY-4.0",
      tags: ["climate", "open-data"],
    });
    expect(ok(await update(owner, id, { license: "ODbL-1.0" })).updateDataset.license).toBe("ODbL-1.0");
    expect(ok(await update(owner, id, { license: null, tags: null, readme: null })).updateDataset).toMatchObject({
      license: null,
      tags: [],
      readme: null,
    });
    expect(ok(await update(owner, id, { license: "MIT", tags: ["kept"], readme: "kept" })).updateDataset.license).toBe("MIT");
  });

  const BAD: Array<[string, Record<string, unknown>, string]> = [
    ["an unknown licence", { license: "My-Own-Licence" }, "input.license"],
    ["a deprecated licence id", { license: "GPL-2.0" }, "input.license"],
    ["a malformed tag", { tags: ["ok", "not ok"] }, "input.tags[1]"],
    ["a tag of 33 characters", { tags: ["a".repeat(33)] }, "input.tags[0]"],
    ["an empty tag", { tags: [""] }, "input.tags[0]"],
    ["a duplicate tag (after lowering)", { tags: ["dup", "DUP"] }, "input.tags"],
    ["21 tags", { tags: Array.from({ length: 21 }, (_, at) => `t${at}`) }, "input.tags"],
    ["a README of 100,001 characters", { readme: "x".repeat(100_001) }, "input.readme"],
    ["a README with a control character", { readme: "a\u0000b" }, "input.readme"],
    ["a null visibility", { visibility: null }, "input.visibility"],
  ];

  it.each(BAD)("refuses %s as BAD_USER_INPUT naming the field, writing nothing", async (_what, input, field) => {
    const before = await rowOf(id);
    const updated = await update(owner, id, { description: "should not be written", ...input });
    expect(errorCode(updated)).toBe("BAD_USER_INPUT");
    expect(updated.errors![0]!.extensions.field).toBe(field);
    expect(await rowOf(id)).toEqual(before);
    if (field === "input.visibility") return;
    const name = unique("refused");
    const created = await server.graphql(CREATE, { input: { name, ...input } }, { token: owner.token });
    expect(errorCode(created)).toBe("BAD_USER_INPUT");
    expect(created.errors![0]!.extensions.field).toBe(field);
    expect(await server.database.query("select id from datasets where name = $1", [name])).toEqual([]);
  });

  it("takes 20 tags and a README of exactly 100,000 characters", async () => {
    const tags = Array.from({ length: 20 }, (_, at) => `tag-${at}`);
    const readme = "y".repeat(100_000);
    const { updateDataset } = ok(await update(owner, id, { tags, readme }));
    expect(updateDataset.tags).toEqual(tags);
    expect(updateDataset.readme).toHaveLength(100_000);
  });

  it("returns the README's Markdown exactly as stored, never rendered: HTML in it stays text", async () => {
    const readme = '# Title\n\n<script>alert("x")</script>\n\n[link](javascript:alert(1)) <img src=x onerror=alert(1)>\n\t**bold** &amp; _it_\n';
    ok(await update(owner, id, { readme, visibility: "PUBLIC" }));
    for (const token of [owner.token, undefined]) {
      const response = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query: `query($id: ID!) { dataset(id: $id) { readme } }`, variables: { id } }),
      });
      // JSON, not HTML, and the text as it was sent: no tag added, none removed, nothing escaped into entities.
      expect(response.headers.get("content-type")).toMatch(/^application\/(graphql-response\+)?json/);
      const body = (await response.json()) as { data: { dataset: { readme: string } } };
      expect(body.data.dataset.readme).toBe(readme);
    }
    ok(await update(owner, id, { visibility: "PRIVATE" }));
  });
});

describe("making a dataset private again", () => {
  it("cuts, on the next request, anonymous reads, downloads and plain links, signed links of visibility-only readers, the catalog and their events", async () => {
    const [owner, stranger] = [await createUser(server), await createUser(server)];
    const tag = uniqueTag();
    const { id } = await createDataset(server, owner, { visibility: "PUBLIC", tags: [tag] });
    const strangersOwn = await createDataset(server, stranger);
    await commitFiles(server, owner.token, id, { "data.csv": Buffer.from("a,b\n1,2\n") });

    // Public: everyone reads, downloads, and finds it.
    const anonymousUrl: string = ok(await server.graphql(DATASET, { id })).dataset.latestVersion.files[0].downloadUrl;
    expect(anonymousUrl).not.toContain("signature=");
    const strangersLink: string = ok(await server.graphql(DATASET, { id }, { token: stranger.token })).dataset.latestVersion.files[0].downloadUrl;
    expect(strangersLink).toContain("signature=");
    expect((await fetch(anonymousUrl)).status).toBe(200);
    expect(await (await download(server, undefined, id, "latest", "data.csv")).text()).toBe("a,b\n1,2\n");
    expect((await fetch(strangersLink)).status).toBe(200);
    expect((await download(server, stranger.token, id, 1, "data.csv")).status).toBe(200);
    expect(ok(await server.graphql(EXPLORE, { tag })).exploreDatasets).toEqual({ totalCount: 1, nodes: [{ id }] });

    // The stranger listens to it by id (hears it), and to every dataset (hears only their own).
    const live = LiveClient.as(server.url, stranger.token);
    clients.push(live);
    const one = live.subscribe(DATASET_EVENTS, { datasetId: id });
    const everything = live.subscribe(DATASET_EVENTS);
    await heardRename(one, owner, id);
    await heardRename(everything, stranger, strangersOwn.id);
    expect(everything.unread).toEqual([]);
    const renamed = unique("public rename");
    ok(await update(owner, id, { description: renamed }));
    const fence = unique("fence");
    ok(await update(stranger, strangersOwn.id, { name: fence }));
    expect(await everything.nextEvent()).toMatchObject({ datasetId: strangersOwn.id, dataset: { name: fence } });

    ok(await update(owner, id, { visibility: "PRIVATE" }));

    expect(errorCode(await server.graphql(DATASET, { id }))).toBe("NOT_FOUND");
    expect(errorCode(await server.graphql(DATASET, { id }, { token: stranger.token }))).toBe("NOT_FOUND");
    expect((await fetch(anonymousUrl)).status).toBe(401);
    expect((await download(server, undefined, id, "latest", "data.csv")).status).toBe(401);
    expect((await fetch(strangersLink)).status).toBe(404);
    expect((await download(server, stranger.token, id, 1, "data.csv")).status).toBe(404);
    expect(ok(await server.graphql(EXPLORE, { tag })).exploreDatasets).toEqual({ totalCount: 0, nodes: [] });
    // The owner still reads and downloads it.
    expect((await download(server, owner.token, id, 1, "data.csv")).status).toBe(200);

    // The one-dataset subscription ends with NOT_FOUND (after, at most, the events before it).
    for (;;) {
      const result = await one.next();
      if (result.errors) {
        expect(result.errors.map((error) => error.extensions?.code)).toEqual(["NOT_FOUND"]);
        break;
      }
    }
    expect(await one.finished).toBe("complete");
  });

  it("UNLISTED is read by anyone with the id, but listed nowhere: not in the catalog, nor in a stranger's lists", async () => {
    const [owner, stranger] = [await createUser(server), await createUser(server)];
    const tag = uniqueTag();
    const { id } = await createDataset(server, owner, { visibility: "UNLISTED", tags: [tag] });
    expect(ok(await server.graphql(DATASET, { id })).dataset.visibility).toBe("UNLISTED");
    expect(ok(await server.graphql(EXPLORE, { tag })).exploreDatasets.totalCount).toBe(0);
    const lists = ok(await server.graphql(`{ datasets(first: 100, filter: { access: ALL }) { totalCount } }`, {}, { token: stranger.token }));
    expect(lists.datasets.totalCount).toBe(0);
  });
});

/** Renames `id` (as `user`) until `subscription` hears it: the subscription is then in place; reads up to the last rename. */
async function heardRename(subscription: LiveSubscription, user: TestUser, id: string): Promise<void> {
  let name: string;
  do {
    name = unique("probe");
    ok(await update(user, id, { name }));
  } while (!(await subscription.arrivesWithin(500)));
  const last = name;
  await subscription.skipUntil((event) => event.dataset?.name === last);
}

describe("the anonymous rate limit", () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startServer({ ANONYMOUS_MAX_PER_ADDRESS: "5" });
  });
  afterAll(() => limited.close());

  it("refuses anonymous GraphQL and downloads past the limit with RATE_LIMITED, 429 and Retry-After; signed-in users go on", async () => {
    const owner = await createUser(limited);
    const { id } = await createDataset(limited, owner, { visibility: "PUBLIC" });
    await commitFiles(limited, owner.token, id, { "data.csv": Buffer.from("a\n1\n") });
    const explore = () => limited.graphql(`{ exploreDatasets { totalCount } }`);
    // (createUser's register and login were anonymous requests too.)
    const seen: number[] = [];
    let refused: GraphQLResponse | undefined;
    for (let sent = 0; sent < 20 && !refused; sent++) {
      const response = await explore();
      seen.push(response.status);
      if (response.errors) refused = response;
    }
    expect(refused, `statuses: ${seen.join(" ")}`).toBeDefined();
    expect(refused!.status).toBe(429);
    expect(errorCode(refused!)).toBe("RATE_LIMITED");
    const retryAfter = Number(refused!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused!.errors![0]!.extensions.retryAfter).toBe(retryAfter);

    const downloadRefused = await download(limited, undefined, id, 1, "data.csv");
    expect(downloadRefused.status).toBe(429);
    expect(Number(downloadRefused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    // A signed-in user is not counted against the address's anonymous limit.
    expect(ok(await limited.graphql(`{ exploreDatasets { totalCount } }`, {}, { token: owner.token })).exploreDatasets.totalCount).toBe(1);
    expect((await download(limited, owner.token, id, 1, "data.csv")).status).toBe(200);
  });
});
