import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unique } from "./support/factories.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`;

/** The unique indexes, not a check-then-insert, decide who wins a race. */
describe("racing registrations", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("lets exactly one of 20 simultaneous registrations of one email win; the rest are CONFLICT", async () => {
    const name = unique("race");
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        server.graphql(REGISTER, {
          // Letter case differs between racers: still one address.
          input: {
            email: index % 2 ? `${name}@example.com` : `${name.toUpperCase()}@EXAMPLE.COM`,
            username: `${name}_${index}`,
            password: "a long enough secret",
          },
        }),
      ),
    );
    const winners = responses.filter((response) => !response.errors);
    const losers = responses.filter((response) => response.errors);
    expect(winners).toHaveLength(1);
    expect(losers.map(errorCode)).toEqual(Array(19).fill("CONFLICT"));
    expect(new Set(losers.map((response) => response.errors![0]!.extensions.field))).toEqual(new Set(["input.email"]));
    expect(responses.every((response) => response.status === 200)).toBe(true);
  });

  it("lets exactly one of 20 simultaneous registrations of one username (any case) win", async () => {
    const name = unique("race");
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        server.graphql(REGISTER, {
          input: { email: `${name}.${index}@example.com`, username: index % 2 ? name : name.toUpperCase(), password: "a long enough secret" },
        }),
      ),
    );
    expect(responses.filter((response) => !response.errors)).toHaveLength(1);
    const losers = responses.filter((response) => response.errors);
    expect(losers.map(errorCode)).toEqual(Array(19).fill("CONFLICT"));
    expect(new Set(losers.map((response) => response.errors![0]!.extensions.field))).toEqual(new Set(["input.username"]));
  });
});
