import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unique } from "./support/factories.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;

/**
 * Client addresses as throttling keys them (TRUST_PROXY=true, so the test picks them with
 * X-Forwarded-For): one key per address however it is spelled, IPv6 by /64, and a header
 * that holds no address counted as the connection's own address.
 */
describe("client addresses", () => {
  let server: TestServer;
  beforeAll(async () => {
    // Three failures per address (each attempt a fresh account, so only the address counts).
    server = await startServer({ TRUST_PROXY: "true", LOGIN_ADDRESS_MAX_FAILURES: "3", LOGIN_WINDOW: "600" });
  });
  afterAll(() => server.close());

  const failFrom = (forwardedFor?: string) =>
    server.graphql(
      LOGIN,
      { input: { email: `${unique("nobody")}@example.com`, password: "wrong password" } },
      forwardedFor === undefined ? {} : { headers: { "x-forwarded-for": forwardedFor } },
    );

  it("counts every spelling of an IPv6 address, and every address of its /64, as one client", async () => {
    expect(errorCode(await failFrom("2001:DB8::1"))).toBe("UNAUTHENTICATED");
    expect(errorCode(await failFrom("2001:db8:0:0:0:0:0:1"))).toBe("UNAUTHENTICATED");
    expect(errorCode(await failFrom("2001:db8::abcd"))).toBe("UNAUTHENTICATED");
    expect(errorCode(await failFrom("2001:0db8:0000:0000:ffff:0000:0000:0001"))).toBe("RATE_LIMITED");
    // The next /64 is someone else.
    expect(errorCode(await failFrom("2001:db8:0:1::1"))).toBe("UNAUTHENTICATED");
  });

  it("counts an IPv4-mapped IPv6 address as its IPv4 address", async () => {
    expect(errorCode(await failFrom("198.51.100.9"))).toBe("UNAUTHENTICATED");
    expect(errorCode(await failFrom("::ffff:198.51.100.9"))).toBe("UNAUTHENTICATED");
    expect(errorCode(await failFrom("::FFFF:c633:6409"))).toBe("UNAUTHENTICATED");
    expect(errorCode(await failFrom("198.51.100.9"))).toBe("RATE_LIMITED");
    expect(errorCode(await failFrom("198.51.100.10"))).toBe("UNAUTHENTICATED");
  });

  it("takes a header that is no address for the connection's own, and never fails on a long one", async () => {
    // Each of these would otherwise be a fresh key with a fresh allowance.
    expect(errorCode(await failFrom("banana"))).toBe("UNAUTHENTICATED");
    expect(errorCode(await failFrom("127.1"))).toBe("UNAUTHENTICATED");
    // 300 characters: more than the throttle table's key column holds.
    const long = await failFrom("1".repeat(300));
    expect(errorCode(long)).toBe("UNAUTHENTICATED");
    expect(long.status).toBe(200);
    // The connection's own address (127.0.0.1) has now failed three times.
    expect(errorCode(await failFrom())).toBe("RATE_LIMITED");
    expect(errorCode(await failFrom("2001:db8:ffff::1"))).toBe("UNAUTHENTICATED");
  });
});
