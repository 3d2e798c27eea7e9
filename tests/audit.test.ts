import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditLog } from "../src/audit/events.js";
import { createMetrics } from "../src/observability/metrics.js";
import { createAdmin, createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { errorCode, startServer, type TestServer, type GraphQLResponse } from "./support/server.js";

const AUDIT = `
  query($first: Int, $after: String, $filter: AuditEventFilter) {
    auditEvents(first: $first, after: $after, filter: $filter) {
      totalCount
      nodes { id type subjectId at details actor { id email } }
      pageInfo { hasNextPage endCursor }
    }
  }`;

interface Event {
  id: string;
  type: string;
  subjectId: string | null;
  at: string;
  details: Record<string, unknown>;
  actor: { id: string; email: string } | null;
}

/** The audit trail: written with the change it describes, read by admins only. */
describe("audit trail", () => {
  let server: TestServer;
  let admin: TestUser;
  beforeAll(async () => {
    server = await startServer({ LOGIN_MAX_FAILURES: "2" });
    admin = await createAdmin(server);
  });
  afterAll(() => server.close());

  async function events(filter: Record<string, unknown>, first = 100): Promise<Event[]> {
    const response = await server.graphql(AUDIT, { first, filter }, { token: admin.token });
    expect(response.errors).toBeUndefined();
    return response.data.auditEvents.nodes;
  }
  const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`;

  it("records sign-ins, failures, throttling, logout, logoutAll and password changes", async () => {
    const user = await createUser(server);
    const session = (await server.graphql(LOGIN, { input: { email: user.email, password: user.password } })).data.login;
    await server.graphql(`mutation($t: String!) { logout(refreshToken: $t) }`, { t: session.refreshToken }, { token: session.accessToken });
    const changed = await server.graphql(
      `mutation($c: String!) { changePassword(currentPassword: $c, newPassword: "a fresh passphrase") { accessToken } }`,
      { c: user.password },
      { token: user.token },
    );
    expect(changed.errors).toBeUndefined();
    await server.graphql(`mutation { logoutAll }`, {}, { token: changed.data.changePassword.accessToken });
    await server.graphql(LOGIN, { input: { email: user.email, password: "wrong password" } });
    await server.graphql(LOGIN, { input: { email: user.email, password: "wrong password" } });
    expect(errorCode(await server.graphql(LOGIN, { input: { email: user.email, password: "a fresh passphrase" } }))).toBe("RATE_LIMITED");

    const mine = (await events({ actorId: user.id })).map((event) => event.type).reverse();
    expect(mine).toEqual(["user.registered", "login.succeeded", "session.logout", "password.changed", "session.logout_all"]);
    const failures = (await events({ type: "login.failed" })).filter((event) => event.subjectId === user.id);
    expect(failures).toHaveLength(2);
    expect(failures[0]!.details).toEqual({ email: user.email });
    expect(failures[0]!.actor).toBeNull();
    const throttled = (await events({ type: "login.throttled" })).filter((event) => event.details.email === user.email);
    expect(throttled).toHaveLength(1);
  });

  it("records dataset changes with what changed, and role and active changes with who made them", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    await server.graphql(
      `mutation($id: ID!) { updateDataset(id: $id, input: { name: "renamed", filePath: null }) { id } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, { token: owner.token });
    const onDataset = (await events({ actorId: owner.id })).filter((event) => event.subjectId === dataset.id).reverse();
    expect(onDataset.map((event) => [event.type, event.details])).toEqual([
      ["dataset.created", {}],
      ["dataset.updated", { fields: ["filePath", "name"] }],
      ["dataset.deleted", { name: "renamed" }],
    ]);

    await server.graphql(`mutation($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id } }`, { id: owner.id }, { token: admin.token });
    await server.graphql(`mutation($id: ID!) { setUserActive(userId: $id, active: false) { id } }`, { id: owner.id }, { token: admin.token });
    const byAdmin = (await events({ actorId: admin.id })).filter((event) => event.subjectId === owner.id).reverse();
    expect(byAdmin.map((event) => [event.type, event.details, event.actor?.id])).toEqual([
      ["user.role_changed", { from: "USER", to: "ADMIN" }, admin.id],
      ["user.active_changed", { from: true, to: false }, admin.id],
    ]);
  });

  it("records a refresh token's reuse", async () => {
    const reuse = await startServer({ REFRESH_REUSE_INTERVAL: "0" }, undefined, server);
    try {
      const user = await createUser(reuse);
      const session = (await reuse.graphql(LOGIN, { input: { email: user.email, password: user.password } })).data.login;
      await reuse.graphql(`mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: session.refreshToken });
      await reuse.graphql(`mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: session.refreshToken });
      const reused = await events({ type: "session.refresh_token_reused", actorId: user.id });
      expect(reused).toHaveLength(1);
    } finally {
      await reuse.close();
    }
  });

  it("writes no event for a change that did not happen", async () => {
    const owner = await createUser(server);
    const other = await createUser(server);
    const dataset = await createDataset(server, owner);
    await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, { token: other.token });
    expect((await events({ actorId: other.id })).map((event) => event.type)).toEqual(["user.registered"]);
    // Twenty racing registrations of one email: one user, one event.
    const name = unique("race");
    await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        server.graphql(`mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
          input: { email: `${name}@example.com`, username: `${name}_${index}`, password: "a long enough secret" },
        }),
      ),
    );
    const registered = (await events({ type: "user.registered" }, 100)).filter((event) => event.actor?.email === `${name}@example.com`);
    expect(registered).toHaveLength(1);
  });

  it("writes and counts an event with its change: after the commit, and not at all when the change rolls back", async () => {
    // No request rolls back after its event is written (each event is its change's last
    // statement), so the audit log is driven here directly, on the server's database.
    const metrics = createMetrics(() => undefined);
    const audit = createAuditLog(metrics);
    const counted = async () =>
      (await metrics.registry.getSingleMetric("audit_events_total")!.get()).values.find((value) => value.labels.type === "dataset.deleted")?.value ??
      0;
    const written = async (marker: string) => server.database.query(`select type from audit_events where details->>'marker' = $1`, [marker]);
    const event = (marker: string) => ({ type: "dataset.deleted" as const, actorId: null, subjectId: null, details: { marker } });

    const rolledBack = unique("rolled-back");
    const failure = server.database.transaction(async (tx) => {
      await audit.record(tx, event(rolledBack));
      throw new Error("the change failed after its event was written");
    });
    await expect(failure).rejects.toThrow("the change failed after its event was written");
    expect(await written(rolledBack)).toEqual([]);
    expect(await counted()).toBe(0);

    const committed = unique("committed");
    await server.database.transaction(async (tx) => {
      await audit.record(tx, event(committed));
      expect(await counted(), "counted before the commit").toBe(0);
    });
    expect(await written(committed)).toEqual([{ type: "dataset.deleted" }]);
    expect(await counted()).toBe(1);
  });

  it("filters by time and pages with no gap or repeat", async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const user = await createUser(server);
    for (let index = 0; index < 5; index += 1) await createDataset(server, user);
    const recent = await events({ since, actorId: user.id });
    expect(recent).toHaveLength(6);
    expect(await events({ since: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const response: GraphQLResponse = await server.graphql(AUDIT, { first: 2, after, filter: { actorId: user.id } }, { token: admin.token });
      seen.push(...response.data.auditEvents.nodes.map((event: Event) => event.id));
      if (!response.data.auditEvents.pageInfo.hasNextPage) break;
      after = response.data.auditEvents.pageInfo.endCursor;
    }
    expect(seen).toEqual(recent.map((event) => event.id));
  });

  it("is for admins only", async () => {
    const user = await createUser(server);
    expect(errorCode(await server.graphql(AUDIT, {}))).toBe("UNAUTHENTICATED");
    expect(errorCode(await server.graphql(AUDIT, {}, { token: user.token }))).toBe("FORBIDDEN");
  });

  it("counts each event type in /metrics", async () => {
    const text = await (await fetch(`${new URL(server.url).origin}/metrics`)).text();
    expect(text).toMatch(/audit_events_total\{type="user\.registered"\} [1-9]/);
    expect(text).toMatch(/audit_events_total\{type="dataset\.created"\} [1-9]/);
    expect(text).toMatch(/audit_events_total\{type="login\.failed"\} [1-9]/);
  });
});
