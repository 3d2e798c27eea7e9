import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweep } from "../src/jobs/sweeper.js";
import { createAdmin, createUser, type TestUser, unique } from "./support/factories.js";
import { errorCode, startServer, type TestServer, type GraphQLResponse } from "./support/server.js";

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;
const AUDIT = `
  query($filter: AuditEventFilter, $after: String) {
    auditEvents(first: 100, filter: $filter, after: $after) {
      nodes { type at details }
      pageInfo { hasNextPage endCursor }
    }
  }`;

const DAY_MS = 86_400_000;

/**
 * What anonymous requests leave in the database stays bounded: a throttled client is
 * recorded once per window, throttle counters go when their window ends, and the audit
 * trail keeps AUDIT_RETENTION_DAYS. The sweeper's timer runs every 5 minutes; the tests
 * run one sweep themselves, as of a chosen time.
 */
describe("retention", () => {
  let server: TestServer;
  let admin: TestUser;
  beforeAll(async () => {
    server = await startServer({
      TRUST_PROXY: "true",
      LOGIN_MAX_FAILURES: "2",
      LOGIN_ADDRESS_MAX_FAILURES: "4",
      LOGIN_WINDOW: "600",
      AUDIT_RETENTION_DAYS: "30",
    });
    admin = await createAdmin(server);
  });
  afterAll(() => server.close());

  const from = (address: string) => ({ headers: { "x-forwarded-for": address } });
  const login = (email: string, password: string, address: string) => server.graphql(LOGIN, { input: { email, password } }, from(address));

  /** Every audit event of `type`, newest first. */
  async function events(type: string): Promise<Array<{ type: string; at: string; details: Record<string, unknown> }>> {
    const all = [];
    let after: string | null = null;
    for (;;) {
      const response: GraphQLResponse = await server.graphql(AUDIT, { filter: { type }, after }, { token: admin.token });
      expect(response.errors).toBeUndefined();
      all.push(...response.data.auditEvents.nodes);
      if (!response.data.auditEvents.pageInfo.hasNextPage) return all;
      after = response.data.auditEvents.pageInfo.endCursor;
    }
  }

  it("records a throttled account once per limit and window, however often it is tried", async () => {
    const victim = await createUser(server);
    for (let attempt = 0; attempt < 2; attempt += 1) await login(victim.email, "wrong password", "203.0.113.1");
    for (let attempt = 0; attempt < 10; attempt += 1) {
      expect(errorCode(await login(victim.email, "wrong password", "203.0.113.1"))).toBe("RATE_LIMITED");
    }
    // The account at this address was refused from the 3rd attempt; the address itself,
    // which counts every attempt, from the 5th. One event each, newest first.
    const throttled = (await events("login.throttled")).filter((event) => event.details.email === victim.email);
    expect(throttled.map((event) => event.details)).toEqual([
      { email: victim.email, limits: ["address"] },
      { email: victim.email, limits: ["account-address"] },
    ]);
  });

  it("records a throttled address once per window, and adds no counters for the accounts it names once refused", async () => {
    const countersNow = async () => (await server.database.query<{ count: number }>("select count(*)::int as count from rate_limits"))[0]!.count;
    const before = await countersNow();
    const emails = Array.from({ length: 14 }, () => `${unique("fresh")}@example.com`);
    const codes = [];
    for (const email of emails) codes.push(errorCode(await login(email, "wrong password", "203.0.113.2")));
    expect(codes).toEqual([...Array(4).fill("UNAUTHENTICATED"), ...Array(10).fill("RATE_LIMITED")]);
    const throttled = (await events("login.throttled")).filter((event) => emails.includes(String(event.details.email)));
    expect(throttled.map((event) => event.details)).toEqual([{ email: emails[4], limits: ["address"] }]);
    // The address's counter, and for each of the 4 accounts tried before it was refused,
    // the account's and the account-at-this-address's: none for the 10 refused. Requests with
    // no credential are counted in the instance's memory (auth/anonymous-limit.ts), not here.
    expect((await countersNow()) - before).toBe(1 + 4 * 2);
  });

  it("deletes throttle counters of every kind once their window has ended, and only then", async () => {
    await login(`${unique("fresh")}@example.com`, "wrong password", "203.0.113.3");
    await server.graphql(`mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: "x".repeat(43) }, from("203.0.113.3"));
    await createUser(server);
    const counters = async () => (await server.database.query<{ key: string }>("select key from rate_limits")).map((row) => row.key.split(":")[0]);
    expect(new Set(await counters())).toEqual(
      new Set(["login-address", "login-account", "login-account-address", "refresh-address", "register-address"]),
    );

    // Now: every window is still open.
    const before = (await counters()).length;
    expect((await sweep(server.database, 30)).counters).toBe(0);
    expect(await counters()).toHaveLength(before);
    // Two days on, the longest window (a day, the account's hard cap) has ended.
    expect((await sweep(server.database, 30, new Date(Date.now() + 2 * DAY_MS))).counters).toBe(before);
    expect(await counters()).toEqual([]);
    // And throttling starts afresh for those it forgot.
    expect(errorCode(await login(`${unique("fresh")}@example.com`, "wrong password", "203.0.113.2"))).toBe("UNAUTHENTICATED");
  });

  it("deletes audit events older than AUDIT_RETENTION_DAYS, and keeps the rest; 0 keeps them all", async () => {
    const marker = unique("old");
    const insert = (daysAgo: number) =>
      server.database.query(`insert into audit_events (type, details, at) values ('login.failed', $1::jsonb, now() - make_interval(days => $2))`, [
        JSON.stringify({ email: `${marker}@example.com`, daysAgo }),
        daysAgo,
      ]);
    await insert(31);
    await insert(29);
    await insert(3650);
    const kept = async () =>
      (await events("login.failed")).filter((event) => event.details.email === `${marker}@example.com`).map((event) => event.details.daysAgo);

    expect(await kept()).toEqual([29, 31, 3650]);
    expect((await sweep(server.database, 0)).auditEvents).toBe(0);
    expect(await kept()).toEqual([29, 31, 3650]);
    expect((await sweep(server.database, server.config.auditRetentionDays)).auditEvents).toBe(2);
    expect(await kept()).toEqual([29]);
  });
});
