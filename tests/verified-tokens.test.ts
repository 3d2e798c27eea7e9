import { describe, expect, it } from "vitest";
import { createVerifiedTokens } from "../src/auth/verified-tokens.js";

const claims = (userId: string) => ({ userId, tokenVersion: 0, sessionId: "s" });

/** The cache of verified tokens: never past a token's expiry, never past its capacity. */
describe("verified-token cache", () => {
  it("forgets a token at its expiry", () => {
    let now = 1_000_000;
    const cache = createVerifiedTokens(10, () => now);
    cache.set("t", claims("a"), 1_000 + 60); // expires at 1,060 s
    expect(cache.get("t")).toEqual(claims("a"));
    now = 1_059_999;
    expect(cache.get("t")).toEqual(claims("a"));
    now = 1_060_000;
    expect(cache.get("t")).toBeUndefined();
  });

  it("evicts the oldest token when full", () => {
    const cache = createVerifiedTokens(2, () => 0);
    cache.set("a", claims("a"), 100);
    cache.set("b", claims("b"), 100);
    cache.set("c", claims("c"), 100);
    expect([cache.get("a"), cache.get("b")?.userId, cache.get("c")?.userId]).toEqual([undefined, "b", "c"]);
  });
});
