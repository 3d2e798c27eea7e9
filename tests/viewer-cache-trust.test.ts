import { describe, expect, it } from "vitest";
import { ENTRY_MAX_AGE_MS, ViewerCache } from "../src/auth/viewer-cache.js";
import type { UserRow } from "../src/users/rows.js";

/**
 * The cache's own rules, on a clock the test moves: trust ends when its window does, with no
 * timer involved (a stalled event loop must not stretch it), and no entry outlives its age.
 */
const USER: UserRow = {
  id: "00000000-0000-4000-8000-000000000001",
  username: "ada",
  email: "ada@example.com",
  role: "USER",
  active: true,
  tokenVersion: 0,
  createdAt: "1970-01-01T00:00:00.000Z",
  updatedAt: "1970-01-01T00:00:00.000Z",
};

function cacheAt(start = 1000) {
  let time = start;
  const cache = new ViewerCache(10, () => time);
  return { cache, advance: (ms: number) => (time += ms), now: () => time };
}

describe("the viewer cache's trust and age", () => {
  it("answers nothing before a proof, and nothing once the proof's window has passed", async () => {
    const { cache, advance, now } = cacheAt();
    cache.remember("s1", USER, 0);
    expect(cache.get("s1")).toBeUndefined(); // never trusted: not even stored
    cache.trustUntil(now() + 3000);
    cache.remember("s1", USER, await snapshotOf(cache));
    expect(cache.get("s1")).toEqual(USER);
    advance(2999);
    expect(cache.get("s1")).toEqual(USER);
    advance(2);
    expect(cache.get("s1")).toBeUndefined();
    // A later proof brings trust back, but not what was held before the gap.
    cache.trustUntil(now() + 3000);
    expect(cache.get("s1")).toBeUndefined();
  });

  it("keeps no entry longer than its maximum age", async () => {
    const { cache, advance } = cacheAt();
    cache.trustUntil(Number.POSITIVE_INFINITY);
    cache.remember("s1", USER, await snapshotOf(cache));
    advance(ENTRY_MAX_AGE_MS - 1);
    expect(cache.get("s1")).toEqual(USER);
    advance(2);
    expect(cache.get("s1")).toBeUndefined();
  });

  it("does not store a read that began before a forget", async () => {
    const { cache } = cacheAt();
    cache.trustUntil(Number.POSITIVE_INFINITY);
    const before = await snapshotOf(cache);
    cache.forgetUser(USER.id);
    cache.remember("s1", USER, before);
    expect(cache.get("s1")).toBeUndefined();
  });

  it("forgets every session of a user, and drops the oldest entry when full", async () => {
    const { cache } = cacheAt();
    cache.trustUntil(Number.POSITIVE_INFINITY);
    for (let index = 0; index < 12; index += 1) cache.remember(`s${index}`, USER, await snapshotOf(cache));
    expect(cache.size).toBe(10);
    expect(cache.get("s0")).toBeUndefined();
    expect(cache.get("s11")).toEqual(USER);
    cache.forgetUser(USER.id);
    expect(cache.size).toBe(0);
  });
});

/** The generation a read would note before it starts (as `readOnce` hands it over). */
function snapshotOf(cache: ViewerCache): Promise<number> {
  let noted = -1;
  return cache
    .readOnce(`probe-${Math.random()}`, async (snapshot) => {
      noted = snapshot;
      return USER;
    })
    .then(() => noted);
}
