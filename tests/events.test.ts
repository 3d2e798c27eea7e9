import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expiredTokenOf } from "./support/expired-tokens.js";
import { DATASET_EVENTS_CHANNEL } from "../src/events/bus.js";
import { createAdmin, createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { commitFiles, sha256 } from "./support/files.js";
import WebSocket from "ws";
import { DATASET_EVENTS, LiveClient, type LiveSubscription, wsUrl } from "./support/live.js";
import { ENGINE } from "./support/database.js";
import { startServerProcess } from "./support/process.js";
import { startServer, type TestServer, testEnvironment } from "./support/server.js";

/**
 * Live events over graphql-ws, through the real server and database: who gets which event,
 * the limits, and the end of a subscription when its session or access goes.
 *
 * No sleeps: to show that a subscriber did NOT get an event, a later event it may see is
 * sent as a fence. Events reach each subscription in commit order, so once the fence has
 * arrived, anything before it would have too.
 */

const LIMITS = {
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: "3",
  WS_MAX_SUBSCRIPTIONS_PER_USER: "4",
  WS_MAX_MESSAGE_SIZE: "8KiB",
  WS_INIT_TIMEOUT: "1",
  WS_IDLE_TIMEOUT: "2",
  WS_PING_INTERVAL: "1",
};

const closeOf = (socket: WebSocket) =>
  new Promise<{ code: number; reason: string }>((resolve) => socket.on("close", (code, reason) => resolve({ code, reason: String(reason) })));

/** The events subscription with the paths of a PREVIEW_READY. */
const EVENTS_WITH_PATHS = `subscription Events($datasetId: ID) {
  datasetEvents(datasetId: $datasetId) { type datasetId at paths dataset { id name } version { number fileCount } }
}`;

describe("live events (graphql-ws on /graphql)", () => {
  let server: TestServer;
  const clients: LiveClient[] = [];
  const connect = (user: TestUser) => {
    const client = LiveClient.as(server.url, user.token);
    clients.push(client);
    return client;
  };
  const rename = async (user: TestUser, id: string, name: string) => {
    const response = await server.graphql(
      `mutation($id: ID!, $name: String!) { updateDataset(id: $id, input: { name: $name }) { id } }`,
      { id, name },
      { token: user.token },
    );
    expect(response.errors).toBeUndefined();
  };
  /** Sends a notification on the events channel as a writer of another branch would (pinned payload). */
  const notify = (payload: Record<string, unknown>) =>
    server.database.query("select pg_notify($1, $2)", [
      DATASET_EVENTS_CHANNEL,
      JSON.stringify({ datasetId: null, version: null, userId: null, sha256: null, at: new Date().toISOString(), ...payload }),
    ]);
  /**
   * Resolves once `subscription` is in place on the server (graphql-ws does not say when):
   * an UPDATED of a dataset it may see is announced until one arrives, then one more with an
   * `at` of its own, read up to, so that the next event read is a new one.
   */
  let probes = 0;
  const inPlace = async (subscription: LiveSubscription, datasetId: string) => {
    const probe = () => new Date(Date.UTC(2000, 0, 1) + ++probes).toISOString();
    do await notify({ type: "UPDATED", datasetId, at: probe() });
    while (!(await subscription.arrivesWithin(200)));
    const last = probe();
    await notify({ type: "UPDATED", datasetId, at: last });
    await subscription.skipUntil((event) => event.at === last);
  };
  /** Polls until no preview of the dataset's latest version is PENDING (at most 60 s: a loaded machine). */
  const previewsSettled = async (user: TestUser, datasetId: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const response = await server.graphql(
        `query($id: ID!) { dataset(id: $id) { latestVersion { files { preview { status } } } } }`,
        { id: datasetId },
        { token: user.token },
      );
      const statuses: string[] = response.data.dataset.latestVersion.files.map((file: { preview: { status: string } }) => file.preview.status);
      if (!statuses.includes("PENDING")) return;
      if (Date.now() > deadline) throw new Error("previews still PENDING after 60 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  /** A fence: `user`'s own dataset renamed, and the subscription's next event is exactly that. */
  const fence = async (subscription: LiveSubscription, user: TestUser, datasetId: string) => {
    const name = unique("fence");
    await rename(user, datasetId, name);
    expect(await subscription.nextEvent()).toMatchObject({ type: "UPDATED", datasetId, dataset: { name } });
  };

  beforeAll(async () => {
    server = await startServer(LIMITS);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await server.close();
  });

  it("refuses connection_init without a token, or with a bad one, with 4403 and the reason", async () => {
    const anonymous = new LiveClient(server.url, {});
    clients.push(anonymous);
    expect(await anonymous.closed()).toMatchObject({ code: 4403, reason: expect.stringContaining("authorization") });
    const forged = new LiveClient(server.url, { authorization: "Bearer not-a-token" });
    clients.push(forged);
    expect(await forged.closed()).toMatchObject({ code: 4403, reason: expect.stringContaining("is invalid") });
  });

  it("says which: an expired token (refresh it), a revoked one (sign in again)", async () => {
    const user = await createUser(server);
    const expired = new LiveClient(server.url, { authorization: `Bearer ${await expiredTokenOf(server, user.token)}` });
    clients.push(expired);
    expect(await expired.closed()).toMatchObject({ code: 4403, reason: expect.stringContaining("has expired: refresh") });

    const signedOut = await createUser(server);
    expect((await server.graphql("mutation { logoutAll }", {}, { token: signedOut.token })).errors).toBeUndefined();
    const revoked = new LiveClient(server.url, { authorization: `Bearer ${signedOut.token}` });
    clients.push(revoked);
    expect(await revoked.closed()).toMatchObject({ code: 4403, reason: expect.stringContaining("has been revoked") });
  });

  it("one dataset: the owner gets UPDATED, VERSION_COMMITTED and DELETED, then the subscription completes; a stranger is NOT_FOUND", async () => {
    const owner = await createUser(server);
    const stranger = await createUser(server);
    const dataset = await createDataset(server, owner);
    const live = connect(owner);
    const events = live.subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    await inPlace(events, dataset.id);
    const refused = connect(stranger).subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    expect((await refused.next()).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(await refused.finished).toBe("complete");

    await rename(owner, dataset.id, "Renamed");
    expect(await events.nextEvent()).toMatchObject({
      type: "UPDATED",
      datasetId: dataset.id,
      dataset: { id: dataset.id, name: "Renamed" },
      version: null,
    });
    await commitFiles(server, owner.token, dataset.id, { "a.csv": Buffer.from("x,y\n1,2\n") });
    expect(await events.nextEvent()).toMatchObject({ type: "VERSION_COMMITTED", dataset: { id: dataset.id }, version: { number: 1, fileCount: 1 } });
    const deleted = await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, { token: owner.token });
    expect(deleted.errors).toBeUndefined();
    const gone = await events.nextEvent();
    expect(gone).toMatchObject({ type: "DELETED", datasetId: dataset.id, dataset: null, version: null });
    expect(Date.parse(gone.at)).not.toBeNaN();
    expect(await events.finished).toBe("complete");
  });

  it("all datasets: each event reaches those who may read its dataset (owner, admin), never a stranger, DELETED included", async () => {
    const owner = await createUser(server);
    const stranger = await createUser(server);
    const admin = await createAdmin(server);
    const existing = await createDataset(server, owner);
    const strangers = await createDataset(server, stranger);
    const adminsOwn = await createDataset(server, admin);
    const mine = connect(owner).subscribe(DATASET_EVENTS);
    const theirs = connect(stranger).subscribe(DATASET_EVENTS);
    const admins = connect(admin).subscribe(DATASET_EVENTS);
    await inPlace(mine, existing.id);
    await inPlace(theirs, strangers.id);
    await inPlace(admins, adminsOwn.id);

    await rename(owner, existing.id, "Seen by owner and admin");
    const created = await createDataset(server, owner);
    await commitFiles(server, owner.token, created.id, { "b.txt": Buffer.from("b") });
    await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: existing.id }, { token: owner.token });
    for (const subscription of [mine, admins]) {
      expect(await subscription.nextEvent()).toMatchObject({ type: "UPDATED", datasetId: existing.id, dataset: { name: "Seen by owner and admin" } });
      expect(await subscription.nextEvent()).toMatchObject({ type: "VERSION_COMMITTED", datasetId: created.id, version: { number: 1 } });
      // Known from when it subscribed (the viewer's datasets then), though it had no event of it before.
      expect(await subscription.nextEvent()).toMatchObject({ type: "DELETED", datasetId: existing.id, dataset: null });
    }
    await fence(theirs, stranger, strangers.id);
    expect(theirs.unread).toEqual([]);
  });

  it("a subscriber who can no longer read the dataset gets nothing more: a one-dataset subscription ends with NOT_FOUND", async () => {
    const owner = await createUser(server);
    const other = await createUser(server);
    const dataset = await createDataset(server, owner);
    const mineStill = await createDataset(server, owner);
    const one = connect(owner).subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    const all = connect(owner).subscribe(DATASET_EVENTS);
    await inPlace(one, dataset.id);
    await inPlace(all, mineStill.id);
    // Access goes without any API for it yet (sharing will unshare): the dataset changes hands.
    await server.database.query("update datasets set user_id = $2 where id = $1", [dataset.id, other.id]);
    await notify({ type: "UPDATED", datasetId: dataset.id });
    const lost = await one.next();
    expect(lost.data).toBeNull();
    expect(lost.errors?.map((error) => error.extensions?.code)).toEqual(["NOT_FOUND"]);
    expect(await one.finished).toBe("complete");
    // The all-datasets subscription goes on, without that dataset's events (nor its DELETED).
    await notify({ type: "DELETED", datasetId: dataset.id });
    await fence(all, owner, mineStill.id);
    expect(all.unread).toEqual([]);
  });

  it("SHARED and UNSHARED (the pinned payload) are checked like any event: only readers get them", async () => {
    const owner = await createUser(server);
    const collaborator = await createUser(server);
    const dataset = await createDataset(server, owner);
    const collaboratorsOwn = await createDataset(server, collaborator);
    const ownerEvents = connect(owner).subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    const collaboratorEvents = connect(collaborator).subscribe(DATASET_EVENTS);
    await inPlace(ownerEvents, dataset.id);
    await inPlace(collaboratorEvents, collaboratorsOwn.id);
    await notify({ type: "SHARED", datasetId: dataset.id, userId: collaborator.id });
    await notify({ type: "UNSHARED", datasetId: dataset.id, userId: collaborator.id });
    expect(await ownerEvents.nextEvent()).toMatchObject({ type: "SHARED", datasetId: dataset.id, dataset: { id: dataset.id } });
    expect(await ownerEvents.nextEvent()).toMatchObject({ type: "UNSHARED", datasetId: dataset.id });
    // Without a sharing API the collaborator cannot read it: neither event reaches them.
    await fence(collaboratorEvents, collaborator, collaboratorsOwn.id);
    expect(collaboratorEvents.unread).toEqual([]);
  });

  it("with real shares: a collaborator hears SHARED and the dataset's events; once unshared, their subscription ends and nothing more reaches them", async () => {
    const owner = await createUser(server);
    const collaborator = await createUser(server);
    const dataset = await createDataset(server, owner);
    const collaboratorsOwn = await createDataset(server, collaborator);
    const share = (role: string) =>
      server.graphql(
        `mutation($id: ID!, $username: String!, $role: DatasetRole!) { shareDataset(datasetId: $id, username: $username, role: $role) { role } }`,
        { id: dataset.id, username: collaborator.username, role },
        { token: owner.token },
      );
    const unshare = () =>
      server.graphql(
        `mutation($id: ID!, $userId: ID!) { unshareDataset(datasetId: $id, userId: $userId) }`,
        { id: dataset.id, userId: collaborator.id },
        { token: owner.token },
      );
    const everything = connect(collaborator).subscribe(DATASET_EVENTS);
    await inPlace(everything, collaboratorsOwn.id);

    expect((await share("VIEWER")).errors).toBeUndefined();
    expect(await everything.nextEvent()).toMatchObject({ type: "SHARED", datasetId: dataset.id, dataset: { id: dataset.id } });
    const one = connect(collaborator).subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    await inPlace(one, dataset.id);
    await rename(owner, dataset.id, "shared and renamed");
    expect(await one.nextEvent()).toMatchObject({ type: "UPDATED", dataset: { name: "shared and renamed" } });
    // (The all-datasets subscription heard inPlace's probes of the dataset too: read past them.)
    await everything.skipUntil((event) => event.dataset?.name === "shared and renamed");

    expect((await unshare()).data).toEqual({ unshareDataset: true });
    const lost = await one.next();
    expect(lost.errors?.map((error) => error.extensions?.code)).toEqual(["NOT_FOUND"]);
    expect(await one.finished).toBe("complete");
    // The UNSHARED itself is not theirs to read any more, nor anything after it.
    await rename(owner, dataset.id, "after the unshare");
    await fence(everything, collaborator, collaboratorsOwn.id);
    expect(everything.unread).toEqual([]);

    // Shared and unshared a moment before an event: the event finds no access, and goes nowhere.
    expect((await share("EDITOR")).errors).toBeUndefined();
    expect((await unshare()).data).toEqual({ unshareDataset: true });
    await rename(owner, dataset.id, "shared a moment ago");
    const name = unique("fence");
    await rename(collaborator, collaboratorsOwn.id, name);
    // Its SHARED may have been checked before the unshare committed: only that may come first.
    let event = await everything.nextEvent();
    while (event.type === "SHARED") event = await everything.nextEvent();
    expect(event).toMatchObject({ type: "UPDATED", datasetId: collaboratorsOwn.id, dataset: { name } });
  });

  it("PREVIEW_READY (one dataset's profile) reaches that dataset's subscribers with the version, not another dataset holding the same bytes", async () => {
    const owner = await createUser(server);
    const stranger = await createUser(server);
    const dataset = await createDataset(server, owner);
    const strangers = await createDataset(server, stranger);
    const bytes = Buffer.from(`id,value\n1,${unique()}\n`);
    await commitFiles(server, owner.token, dataset.id, { "data.csv": bytes });
    await commitFiles(server, owner.token, dataset.id, { "other.txt": Buffer.from("2") });
    await commitFiles(server, stranger.token, strangers.id, { "same.csv": bytes });
    // The workers' own announcements of these two profiles go out before anyone subscribes.
    await previewsSettled(owner, dataset.id);
    await previewsSettled(stranger, strangers.id);
    const one = connect(owner).subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    const all = connect(stranger).subscribe(DATASET_EVENTS);
    await inPlace(one, dataset.id);
    await inPlace(all, strangers.id);
    await notify({ type: "PREVIEW_READY", datasetId: dataset.id, version: 2, sha256: sha256(bytes) });
    expect(await one.nextEvent()).toMatchObject({ type: "PREVIEW_READY", datasetId: dataset.id, version: { number: 2 } });
    await fence(all, stranger, strangers.id);
    expect(all.unread).toEqual([]);
  });

  it("PREVIEW_READY names the files: from the worker the first time, at commit for content the dataset had profiled before", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const events = connect(owner).subscribe(EVENTS_WITH_PATHS, { datasetId: dataset.id });
    await inPlace(events, dataset.id);
    const bytes = Buffer.from(`id,value\n1,${unique()}\n`);

    await commitFiles(server, owner.token, dataset.id, { "first.csv": bytes, "notes.txt": Buffer.from("not a table") });
    expect(await events.nextEvent()).toMatchObject({ type: "VERSION_COMMITTED", version: { number: 1 }, paths: null });
    expect(await events.nextEvent()).toMatchObject({ type: "PREVIEW_READY", version: { number: 1 }, paths: ["first.csv"] });

    // The same bytes again, under another name: profiled already (READY at commit), so the
    // commit itself announces it, after its VERSION_COMMITTED, naming both paths of version 2.
    await commitFiles(server, owner.token, dataset.id, { "copy.csv": bytes }, 1);
    expect(await events.nextEvent()).toMatchObject({ type: "VERSION_COMMITTED", version: { number: 2 } });
    expect(await events.nextEvent()).toMatchObject({ type: "PREVIEW_READY", version: { number: 2 }, paths: ["copy.csv", "first.csv"] });
    const preview = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { files { path preview { status } } } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(preview.data.dataset.latestVersion.files).toContainEqual({ path: "copy.csv", preview: { status: "READY" } });
    await fence(events, owner, dataset.id);
  });

  it("ignores a notification that is not a well-formed event", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const events = connect(owner).subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    await inPlace(events, dataset.id);
    await server.database.query("select pg_notify($1, $2)", [DATASET_EVENTS_CHANNEL, "not json"]);
    await notify({ type: "UPDATED", datasetId: "not-a-uuid" });
    await notify({ type: "VERSION_COMMITTED", datasetId: dataset.id });
    // A preview's announcement names its dataset and version (the shape before previews were per dataset does not).
    await notify({ type: "PREVIEW_READY", sha256: sha256("content") });
    await notify({ type: "PREVIEW_READY", datasetId: dataset.id, sha256: sha256("content") });
    await fence(events, owner, dataset.id);
    expect(events.unread).toEqual([]);
  });

  it("ends the connection with 4403 when its session is revoked (logoutAll) or its user deactivated", async () => {
    const user = await createUser(server);
    const dataset = await createDataset(server, user);
    const live = connect(user);
    const events = live.subscribe(DATASET_EVENTS, { datasetId: dataset.id });
    await inPlace(events, dataset.id);
    const revoked = await server.graphql(`mutation { logoutAll }`, {}, { token: user.token });
    expect(revoked.errors).toBeUndefined();
    expect(await live.closed()).toMatchObject({ code: 4403, reason: expect.stringContaining("session has ended") });

    const admin = await createAdmin(server);
    const deactivated = await createUser(server);
    const theirs = await createDataset(server, deactivated);
    const second = connect(deactivated);
    await inPlace(second.subscribe(DATASET_EVENTS), theirs.id);
    const done = await server.graphql(
      `mutation($id: ID!) { setUserActive(userId: $id, active: false) { id } }`,
      { id: deactivated.id },
      { token: admin.token },
    );
    expect(done.errors).toBeUndefined();
    expect((await second.closed()).code).toBe(4403);
  });

  it("applies the same limits as HTTP: depth, cost, validation; only subscriptions; and over HTTP a subscription is refused", async () => {
    const user = await createUser(server);
    const live = connect(user);
    const code = async (query: string) => {
      const subscription = live.subscribe(query);
      const outcome = await Promise.race([subscription.finished, new Promise((resolve) => setTimeout(() => resolve("not refused"), 10_000))]);
      const errors = (outcome as { error: Array<{ extensions: Record<string, unknown>; message: string }> }).error;
      expect(Array.isArray(errors), JSON.stringify(outcome)).toBe(true);
      expect(JSON.stringify(errors)).not.toMatch(/stack|select |at .*\.ts/);
      return errors[0]!.extensions;
    };
    expect(await code(`subscription { datasetEvents { ${"dataset { ".repeat(12)}id${" }".repeat(12)} } }`)).toMatchObject({
      code: "GRAPHQL_VALIDATION_FAILED",
      limit: "MAX_DEPTH",
    });
    const pages = ["a", "b", "c"].map((alias) => `${alias}: versions(first: 100) { nodes { files { path } } }`).join(" ");
    expect(await code(`subscription { datasetEvents { dataset { ${pages} } } }`)).toMatchObject({
      code: "GRAPHQL_VALIDATION_FAILED",
      limit: "MAX_COST",
    });
    expect(await code(`subscription { datasetEvents { nope } }`)).toMatchObject({ code: "GRAPHQL_VALIDATION_FAILED" });
    expect(await code(`subscription { datasetEvents(`)).toMatchObject({ code: "GRAPHQL_PARSE_FAILED" });
    expect(await code(`{ me { id } }`)).toMatchObject({ code: "BAD_REQUEST" });

    const overHttp = await server.graphql(`subscription { datasetEvents { type } }`, {}, { token: user.token });
    expect(overHttp.status).toBe(400);
    expect(overHttp.errors?.[0]?.extensions?.code).toBe("BAD_REQUEST");
  });

  it("refuses subscriptions past the limits per connection and per user, with the setting named", async () => {
    const user = await createUser(server);
    const dataset = await createDataset(server, user);
    const first = connect(user);
    const open = [first.subscribe(DATASET_EVENTS), first.subscribe(DATASET_EVENTS, { datasetId: dataset.id }), first.subscribe(DATASET_EVENTS)];
    for (const subscription of open) await inPlace(subscription, dataset.id);
    const refusal = async (subscription: LiveSubscription) => {
      const outcome = (await subscription.finished) as { error: Array<{ message: string; extensions: Record<string, unknown> }> };
      return outcome.error[0]!;
    };
    expect(await refusal(first.subscribe(DATASET_EVENTS))).toMatchObject({
      message: "At most 3 subscriptions may be open on one connection",
      extensions: { code: "REQUEST_TOO_EXPENSIVE", limit: "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION" },
    });
    const second = connect(user);
    await inPlace(second.subscribe(DATASET_EVENTS), dataset.id);
    expect(await refusal(second.subscribe(DATASET_EVENTS))).toMatchObject({
      extensions: { code: "REQUEST_TOO_EXPENSIVE", limit: "WS_MAX_SUBSCRIPTIONS_PER_USER", maxSubscriptions: 4 },
    });
    // One ends, and its place is free again (once the server has taken in the client's complete).
    open[0]!.dispose();
    let accepted = false;
    for (let attempt = 0; attempt < 50 && !accepted; attempt += 1) {
      const again = second.subscribe(DATASET_EVENTS, { datasetId: dataset.id });
      await again.arrivesWithin(200);
      accepted = !again.ended;
    }
    expect(accepted).toBe(true);
  });

  it("closes a connection whose message is over the size limit (1009), or that sends no connection_init in time (4408)", async () => {
    const user = await createUser(server);
    const live = connect(user);
    await live.connected();
    live.subscribe(`subscription { datasetEvents { type ${"datasetId ".repeat(1000)} } }`);
    expect((await live.closed()).code).toBe(1009);

    const silent = new WebSocket(wsUrl(server.url), "graphql-transport-ws");
    expect(await closeOf(silent)).toEqual({ code: 4408, reason: "Connection initialisation timeout" });
  });

  it("closes a connection without subscriptions after WS_IDLE_TIMEOUT (1000), drops one that answers no ping, and refuses a foreign browser origin", async () => {
    const user = await createUser(server);
    // The three at once: each waits for a timer of the server's.
    const idle = connect(user);
    const idleClosed = idle.closed();

    // A peer that no longer answers pings (autoPong off), subscribed so that it is not idle: dropped, no close frame.
    const deaf = new WebSocket(wsUrl(server.url), "graphql-transport-ws", { autoPong: false });
    deaf.on("open", () => deaf.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${user.token}` } })));
    deaf.on("message", (data) => {
      if (JSON.parse(String(data)).type !== "connection_ack") return;
      deaf.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: "subscription { datasetEvents { type } }" } }));
    });
    const deafClosed = closeOf(deaf);

    const foreign = new WebSocket(wsUrl(server.url), "graphql-transport-ws", { headers: { origin: "https://elsewhere.example" } });
    const status = await new Promise<number | undefined>((resolve) => {
      foreign.on("unexpected-response", (_request, response) => resolve(response.statusCode));
      foreign.on("open", () => resolve(101));
      foreign.on("error", () => {});
    });
    expect(status).toBe(403);
    expect(await idleClosed).toMatchObject({ code: 1000, reason: expect.stringContaining("Idle") });
    expect(idle.acknowledged).toBe(true);
    expect((await deafClosed).code).toBe(1006);
  });

  it.runIf(ENGINE === "postgres")(
    "crosses instances: a change or a revocation made through one server reaches the subscribers of another process",
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), "events-b-"));
      const other = await startServerProcess({
        ...testEnvironment(),
        LOG_LEVEL: "info",
        DATABASE_URL: server.databaseUrl!,
        JWT_SECRET: server.secret,
        DATA_DIR: dataDir,
      });
      try {
        const owner = await createUser(server);
        const stranger = await createUser(server);
        const dataset = await createDataset(server, owner);
        const strangers = await createDataset(server, stranger);
        const onB = LiveClient.as(other.url, owner.token);
        const strangerOnB = LiveClient.as(other.url, stranger.token);
        clients.push(onB, strangerOnB);
        const events = onB.subscribe(DATASET_EVENTS, { datasetId: dataset.id });
        const theirs = strangerOnB.subscribe(DATASET_EVENTS);
        await inPlace(events, dataset.id);
        await inPlace(theirs, strangers.id);
        // Through instance A (this process): B hears of it by NOTIFY, reads the row, and sends it.
        await rename(owner, dataset.id, "Changed on A");
        await commitFiles(server, owner.token, dataset.id, { "x.csv": Buffer.from("x\n1\n") });
        expect(await events.nextEvent()).toMatchObject({ type: "UPDATED", dataset: { name: "Changed on A" } });
        expect(await events.nextEvent()).toMatchObject({ type: "VERSION_COMMITTED", version: { number: 1 } });
        await fence(theirs, stranger, strangers.id);
        expect(theirs.unread).toEqual([]);
        // A revocation through A ends the stranger's connection to B.
        expect((await server.graphql(`mutation { logoutAll }`, {}, { token: stranger.token })).errors).toBeUndefined();
        expect(await strangerOnB.closed()).toMatchObject({ code: 4403 });
        // B stops: its sockets close with 1001, and its clients would reconnect elsewhere.
        expect(await other.stop()).toBe(0);
        expect((await onB.closed()).code).toBe(1001);
      } finally {
        if (other.child.exitCode === null) await other.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
