import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * bcrypt runs in worker threads, so a wave of sign-ins does not stall other requests.
 * Not a timing benchmark: it compares durations of one run against each other. The server
 * runs in this process, so this process's event-loop delay is the server's.
 */
describe("the event loop during a login storm", () => {
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    // A real work factor, so the storm lasts long enough to be seen.
    server = await startServer({ BCRYPT_COST: "11", HASH_WORKERS: "1" });
    user = await createUser(server);
  });
  afterAll(() => server.close());

  const login = () =>
    server.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
      input: { email: user.email, password: user.password },
    });

  it("answers `me` while 20 logins hash, well before the storm ends, and never blocks for a hash", async () => {
    // What one login costs here, hash included.
    const alone = performance.now();
    await login();
    const oneLoginMs = performance.now() - alone;

    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const started = performance.now();
    const storm = Promise.all(Array.from({ length: 20 }, login)).then((responses) => ({ responses, endedAt: performance.now() }));

    await new Promise((resolve) => setTimeout(resolve, 50));
    const asked = performance.now();
    const me = await server.graphql(`{ me { id } }`, {}, { token: user.token });
    const answeredAt = performance.now();
    const { responses, endedAt } = await storm;
    delay.disable();

    expect(me.data.me.id).toBe(user.id);
    expect(responses.every((response) => !response.errors)).toBe(true);
    const stormMs = endedAt - started;
    const meMs = answeredAt - asked;
    // 20 hashes on one worker take seconds here; `me` needs a few milliseconds.
    expect(answeredAt).toBeLessThan(endedAt);
    expect(meMs).toBeLessThan(stormMs / 5);
    // A hash on the event loop would block it for about a login's time at least once.
    console.info(
      `one login ${oneLoginMs.toFixed(0)} ms; storm ${stormMs.toFixed(0)} ms; me ${meMs.toFixed(0)} ms; max event-loop delay ${(delay.max / 1e6).toFixed(0)} ms`,
    );
    expect(delay.max / 1e6).toBeLessThan(oneLoginMs * 0.75);
  });
});
