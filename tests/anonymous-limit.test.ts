import { describe, expect, it } from "vitest";
import { AnonymousLimit } from "../src/auth/anonymous-limit.js";
import { ClientError } from "../src/common/errors.js";

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function refusal(consume: () => void): ClientError | undefined {
  try {
    consume();
    return undefined;
  } catch (error) {
    if (error instanceof ClientError) return error;
    throw error;
  }
}

/** The per-instance anonymous limit (the HTTP side is in publishing.test.ts). */
describe("AnonymousLimit", () => {
  it("allows the limit in a minute, refuses the next with RATE_LIMITED and the seconds left, and starts afresh when the minute ends", () => {
    const time = clock();
    const limit = new AnonymousLimit(3, 100, time.now);
    for (let i = 0; i < 3; i++) expect(refusal(() => limit.consume("203.0.113.1"))).toBeUndefined();
    time.advance(20_000);
    const refused = refusal(() => limit.consume("203.0.113.1"));
    expect(refused?.extensions.code).toBe("RATE_LIMITED");
    expect(refused?.extensions.retryAfter).toBe(40);
    // Other addresses have their own count.
    expect(refusal(() => limit.consume("203.0.113.2"))).toBeUndefined();
    time.advance(40_000);
    expect(refusal(() => limit.consume("203.0.113.1"))).toBeUndefined();
  });

  it("counts an IPv6 address by its /64", () => {
    const limit = new AnonymousLimit(2, 100, clock().now);
    limit.consume("2001:db8::1");
    limit.consume("2001:db8::ffff:2");
    expect(refusal(() => limit.consume("2001:db8::3"))?.extensions.code).toBe("RATE_LIMITED");
    expect(refusal(() => limit.consume("2001:db8:0:1::1"))).toBeUndefined();
  });

  it("keeps at most its bound of addresses, dropping ended windows first and then the oldest", () => {
    const time = clock();
    const limit = new AnonymousLimit(1, 3, time.now);
    for (const address of ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) limit.consume(address);
    expect(limit.size).toBe(3);
    // A fourth address while all three windows are open: the oldest (…1) is forgotten.
    limit.consume("198.51.100.4");
    expect(limit.size).toBe(3);
    expect(refusal(() => limit.consume("198.51.100.2"))?.extensions.code).toBe("RATE_LIMITED");
    expect(refusal(() => limit.consume("198.51.100.1"))).toBeUndefined();
    // A minute on, every window has ended: they go as the next request comes.
    time.advance(60_000);
    limit.consume("198.51.100.9");
    expect(limit.size).toBe(1);
  });
});
