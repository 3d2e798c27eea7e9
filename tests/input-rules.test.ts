import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, DATASET_FIELDS, unique, type TestUser } from "./support/factories.js";
import { startServer, type GraphQLResponse, type TestServer } from "./support/server.js";

/** docs/api.md "Input rules": each refusal is BAD_USER_INPUT naming the field, and writes nothing. */
describe("input rules", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id email username } } }`;
  const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { user { id } } }`;
  const CREATE = `mutation($input: CreateDatasetInput!) { createDataset(input: $input) { ${DATASET_FIELDS} } }`;
  const UPDATE = `mutation($id: ID!, $input: UpdateDatasetInput!) { updateDataset(id: $id, input: $input) { ${DATASET_FIELDS} } }`;
  const READ = `query($id: ID!) { dataset(id: $id) { ${DATASET_FIELDS} } }`;
  const LIST = `query($first: Int, $after: String, $search: String, $orderBy: DatasetOrder) {
    datasets(first: $first, after: $after, filter: { search: $search }, orderBy: $orderBy) {
      totalCount nodes { id } edges { cursor } pageInfo { hasNextPage }
    }
  }`;

  /** Nothing from the database or driver may reach a client. */
  const LEAK = /duplicate key|violates|syntax|pg_|relation/i;
  function expectNoLeak(response: GraphQLResponse) {
    for (const error of response.errors ?? []) {
      expect(error.message).not.toMatch(LEAK);
      expect(JSON.stringify(error.extensions)).not.toMatch(LEAK);
    }
  }

  function expectError(response: GraphQLResponse, code: string, field: string) {
    expectNoLeak(response);
    expect(response.status).toBeLessThan(500);
    expect(response.errors?.map((error) => [error.extensions.code, error.extensions.field])).toEqual([[code, field]]);
    expect(response.data ?? null).toBeNull();
  }
  const expectBadInput = (response: GraphQLResponse, field: string) => expectError(response, "BAD_USER_INPUT", field);

  function expectOk(response: GraphQLResponse) {
    expectNoLeak(response);
    expect(response.errors).toBeUndefined();
  }

  /** A base64url cursor holding `value`, as the server would encode one. */
  const forgeCursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

  /** A syntactically valid address of exactly `length` characters (domain labels of 50). */
  function emailOfLength(length: number): string {
    const local = unique("e").padEnd(64, "x");
    const body = Array.from({ length: length - local.length - 5 }, (_, i) => (i % 51 === 50 ? "." : "d"));
    if (body.at(-1) === ".") body[body.length - 1] = "d";
    return `${local}@${body.join("")}.com`;
  }

  const account = () => {
    const username = unique("acct");
    return { email: `${username}@example.com`, username, password: `pw-${randomUUID()}` };
  };
  type Account = ReturnType<typeof account>;

  const register = (input: Account) => server.graphql(REGISTER, { input });

  /**
   * After a refused register nothing was written: the account cannot sign in, and the
   * email and username it did not break can still be registered.
   */
  async function expectNotRegistered(input: Account, broken: Partial<Account>) {
    const login = await server.graphql(LOGIN, { input: { email: input.email, password: input.password } });
    expect(login.errors).toBeDefined();
    expect(login.data ?? null).toBeNull();
    const fresh = account();
    const again = await register({
      email: "email" in broken ? fresh.email : input.email,
      username: "username" in broken ? fresh.username : input.username,
      password: fresh.password,
    });
    expectOk(again);
  }

  async function totalCount(user: TestUser): Promise<number> {
    const response = await server.graphql(LIST, {}, { token: user.token });
    expectOk(response);
    return response.data.datasets.totalCount;
  }

  const CONTROLS = ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085"];
  const hex = (char: string) => `U+${char.codePointAt(0)!.toString(16).padStart(4, "0")}`;
  /** Bidirectional embeddings, overrides and isolates: "\u202Egnp.exe" reads as "exe.png". */
  const BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"];

  describe("register", () => {
    type Case = [string, (input: Account) => Partial<Account>, string];
    const refused: Case[] = [
      ["email without @", () => ({ email: "not-an-email" }), "input.email"],
      ["email without domain", () => ({ email: "someone@" }), "input.email"],
      ["email with a space", () => ({ email: "some one@example.com" }), "input.email"],
      ["empty email", () => ({ email: "" }), "input.email"],
      ["email of 255 characters", () => ({ email: emailOfLength(255) }), "input.email"],
      ["username of 2 characters", () => ({ username: "ab" }), "input.username"],
      ["username of 33 characters", () => ({ username: unique("u").padEnd(33, "x") }), "input.username"],
      ["username with a space", () => ({ username: `${unique("u")} x` }), "input.username"],
      ["username with @", () => ({ username: `${unique("u")}@x` }), "input.username"],
      ["username with an emoji", () => ({ username: `${unique("u")}📊` }), "input.username"],
      ["password of 7 bytes", () => ({ password: "k3#pq9z" }), "input.password"],
      ["password of 73 ASCII bytes", () => ({ password: "k".repeat(73) }), "input.password"],
      ["password of 75 bytes in 30 characters", () => ({ password: "é€".repeat(15) }), "input.password"],
      ["common password password1", () => ({ password: "password1" }), "input.password"],
      ["common password qwertyuiop", () => ({ password: "qwertyuiop" }), "input.password"],
      ["common password in other case", () => ({ password: "PassWord1" }), "input.password"],
      ["password equal to the username", (input) => ({ password: input.username }), "input.password"],
      ["password equal to the username upper-cased", (input) => ({ password: input.username.toUpperCase() }), "input.password"],
      ["password equal to the email", (input) => ({ password: input.email }), "input.password"],
      ...CONTROLS.flatMap((char): Case[] => [
        [`${hex(char)} in email`, () => ({ email: `a${char}b@example.com` }), "input.email"],
        [`${hex(char)} in username`, () => ({ username: `${unique("u")}${char}` }), "input.username"],
        [`${hex(char)} in password`, () => ({ password: `long pass${char}word 42` }), "input.password"],
      ]),
    ];
    it.each(refused)("refuses %s, writing nothing", async (_name, breakIt, field) => {
      const base = account();
      const broken = breakIt(base);
      const input = { ...base, ...broken };
      expectBadInput(await register(input), field);
      await expectNotRegistered(input, broken);
    });

    it.each<[string, (input: Account) => Partial<Account>]>([
      ["an email of exactly 254 characters", () => ({ email: emailOfLength(254) })],
      ["a username of exactly 3 characters", () => ({ username: randomUUID().slice(0, 3) })],
      ["a username of exactly 32 characters", () => ({ username: unique("u").padEnd(32, "x") })],
      ["a username of every allowed kind of character", () => ({ username: `A-z_0.${randomUUID().slice(0, 8)}` })],
      ["a password of exactly 8 bytes", () => ({ password: "k3#pq9zw" })],
      ["a password of 9 bytes in 3 characters", () => ({ password: "€₤₿" })],
      ["a password of exactly 72 ASCII bytes", () => ({ password: `${randomUUID()}`.padEnd(72, "k") })],
      ["a password of exactly 72 bytes in 24 characters", () => ({ password: "€".repeat(24) })],
    ])("accepts %s, and the account signs in", async (_name, change) => {
      const base = account();
      const input = { ...base, ...change(base) };
      const response = await register(input);
      expectOk(response);
      expect(response.data.register.user.username).toBe(input.username);
      expectOk(await server.graphql(LOGIN, { input: { email: input.email, password: input.password } }));
    });

    it("stores the email lower-case and compares it lower-case", async () => {
      const username = unique("mixed");
      const input = { email: `Mixed.${username}@Example.COM`, username, password: `pw-${randomUUID()}` };
      const response = await register(input);
      expectOk(response);
      const lower = input.email.toLowerCase();
      expect(response.data.register.user.email).toBe(lower);
      for (const email of [lower, input.email, input.email.toUpperCase()]) {
        expectOk(await server.graphql(LOGIN, { input: { email, password: input.password } }));
      }
      const me = await server.graphql(`{ me { email } }`, {}, { token: response.data.register.accessToken });
      expect(me.data).toEqual({ me: { email: lower } });
    });

    it("refuses a username taken in another letter case with CONFLICT on input.username", async () => {
      const first = account();
      first.username = `Case_${first.username}`;
      expectOk(await register(first));
      const second = { ...account(), username: first.username.toLowerCase() };
      expectError(await register(second), "CONFLICT", "input.username");
      const upper = { ...account(), username: first.username.toUpperCase() };
      expectError(await register(upper), "CONFLICT", "input.username");
      await expectNotRegistered(second, { username: second.username });
    });

    it("refuses an email taken in another letter case with CONFLICT on input.email", async () => {
      const first = account();
      expectOk(await register(first));
      const second = { ...account(), email: first.email.toUpperCase() };
      expectError(await register(second), "CONFLICT", "input.email");
      // Nothing written: the first account keeps its password, and the username is still free.
      const login = await server.graphql(LOGIN, { input: { email: first.email, password: second.password } });
      expect(login.errors?.[0]?.extensions.code).toBe("UNAUTHENTICATED");
      expectOk(await register({ ...account(), username: second.username }));
    });
  });

  describe("createDataset", () => {
    const refused: Array<[string, Record<string, unknown>, string]> = [
      ["an empty name", { name: "" }, "input.name"],
      ["a whitespace-only name", { name: "   " }, "input.name"],
      ["a name of 256 characters after trimming", { name: ` ${"n".repeat(256)} ` }, "input.name"],
      ["a name of 256 non-BMP characters", { name: "📊".repeat(256) }, "input.name"],
      ["a description of 10,001 characters", { name: "ok", description: "d".repeat(10_001) }, "input.description"],
      ["a filePath of 501 characters", { name: "ok", filePath: `/${"p".repeat(500)}` }, "input.filePath"],
      ["a carriage return in description", { name: "ok", description: "line\r\nline" }, "input.description"],
      // JSON can carry a lone surrogate; UTF-8 cannot, and the driver would store U+FFFD instead.
      ["a lone UTF-16 surrogate in name", { name: "a\ud800b" }, "input.name"],
      ["a lone UTF-16 surrogate in description", { name: "ok", description: "a\udfffb" }, "input.description"],
      ...CONTROLS.flatMap(
        (char): Array<[string, Record<string, unknown>, string]> => [
          [`${hex(char)} in name`, { name: `bad${char}name` }, "input.name"],
          [`${hex(char)} at the end of name`, { name: `badname${char}` }, "input.name"],
          [`${hex(char)} in description`, { name: "ok", description: `bad${char}text` }, "input.description"],
          [`${hex(char)} in filePath`, { name: "ok", filePath: `/data/${char}.csv` }, "input.filePath"],
        ],
      ),
      ...BIDI.flatMap(
        (char): Array<[string, Record<string, unknown>, string]> => [
          [`the bidirectional control ${hex(char)} in name`, { name: `${char}gnp.exe` }, "input.name"],
          [`the bidirectional control ${hex(char)} in filePath`, { name: "ok", filePath: `/data/${char}vsc.exe` }, "input.filePath"],
        ],
      ),
    ];
    it.each(refused)("refuses %s, writing nothing", async (_name, input, field) => {
      const user = await createUser(server);
      await createDataset(server, user);
      const before = await totalCount(user);
      expectBadInput(await server.graphql(CREATE, { input }, { token: user.token }), field);
      expect(await totalCount(user)).toBe(before);
    });

    it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
      ["a name of 255 characters", { name: "n".repeat(255) }, { name: "n".repeat(255) }],
      ["a name of 255 non-BMP characters", { name: "📊".repeat(255) }, { name: "📊".repeat(255) }],
      ["a name with surrounding spaces, trimmed", { name: `   ${"n".repeat(255)}  ` }, { name: "n".repeat(255) }],
      ["inner spaces kept while trimming", { name: "  two  words " }, { name: "two  words" }],
      ["a description of 10,000 characters", { name: "ok", description: "d".repeat(10_000) }, { description: "d".repeat(10_000) }],
      ["tab and newline in description", { name: "ok", description: "a\tb\nc\n" }, { description: "a\tb\nc\n" }],
      // Multi-line prose mixing scripts may need them; a description is not a name or a path.
      [
        "a bidirectional isolate in description",
        { name: "ok", description: "see \u2067שלום\u2069 here" },
        { description: "see \u2067שלום\u2069 here" },
      ],
      ["right-to-left text in name", { name: "שלום.csv" }, { name: "שלום.csv" }],
      ["a filePath of 500 characters", { name: "ok", filePath: `/${"p".repeat(499)}` }, { filePath: `/${"p".repeat(499)}` }],
    ])("accepts %s", async (_name, input, expected) => {
      const user = await createUser(server);
      const response = await server.graphql(CREATE, { input }, { token: user.token });
      expectOk(response);
      expect(response.data.createDataset).toMatchObject(expected);
      const read = await server.graphql(READ, { id: response.data.createDataset.id }, { token: user.token });
      expect(read.data.dataset).toEqual(response.data.createDataset);
    });
  });

  describe("updateDataset", () => {
    const refused: Array<[string, Record<string, unknown>, string]> = [
      ["an empty input", {}, "input"],
      ["a null name", { name: null }, "input.name"],
      ["an empty name", { name: "" }, "input.name"],
      ["a whitespace-only name", { name: "   " }, "input.name"],
      ["a name of 256 characters", { name: "n".repeat(256) }, "input.name"],
      ["a description of 10,001 characters", { description: "d".repeat(10_001) }, "input.description"],
      ["a filePath of 501 characters", { filePath: "p".repeat(501) }, "input.filePath"],
      ["a good name with a bad description", { name: "fine", description: "bad\u0000" }, "input.description"],
      ...CONTROLS.map((char): [string, Record<string, unknown>, string] => [`${hex(char)} in name`, { name: `x${char}` }, "input.name"]),
      ...CONTROLS.map((char): [string, Record<string, unknown>, string] => [`${hex(char)} in filePath`, { filePath: `x${char}` }, "input.filePath"]),
      ["the right-to-left override in name", { name: "\u202egnp.exe" }, "input.name"],
      ["the first-strong isolate in filePath", { filePath: "a\u2068b" }, "input.filePath"],
    ];
    it.each(refused)("refuses %s, changing nothing", async (_name, input, field) => {
      const user = await createUser(server);
      const dataset = await createDataset(server, user);
      expectBadInput(await server.graphql(UPDATE, { id: dataset.id, input }, { token: user.token }), field);
      const read = await server.graphql(READ, { id: dataset.id }, { token: user.token });
      expect(read.data.dataset).toEqual(dataset);
    });

    it("clears description with null and leaves the rest", async () => {
      const user = await createUser(server);
      const dataset = await createDataset(server, user, { description: "to be cleared" });
      const response = await server.graphql(UPDATE, { id: dataset.id, input: { description: null } }, { token: user.token });
      expectOk(response);
      expect(response.data.updateDataset).toMatchObject({ name: dataset.name, description: null, filePath: dataset.filePath });
    });
  });

  describe("ids, pages and search", () => {
    it.each([
      ["dataset", `query($id: ID!) { dataset(id: $id) { id } }`],
      ["updateDataset", `mutation($id: ID!) { updateDataset(id: $id, input: { name: "x" }) { id } }`],
      ["deleteDataset", `mutation($id: ID!) { deleteDataset(id: $id) }`],
    ])("%s refuses an id that is not a UUID on field id", async (_name, query) => {
      const user = await createUser(server);
      for (const id of ["not-a-uuid", "1", "' OR 1=1 --", `${randomUUID()}x`]) {
        const response = await server.graphql(query, { id }, { token: user.token });
        expectBadInput(response, "id");
        expect(response.errors![0]!.message).toMatch(/^id is not a valid id: ids are UUIDs/);
      }
    });

    it.each([0, -1, 101, 1000])("refuses first: %i", async (first) => {
      const user = await createUser(server);
      expectBadInput(await server.graphql(LIST, { first }, { token: user.token }), "first");
    });

    it.each([1, 100])("accepts first: %i", async (first) => {
      const user = await createUser(server);
      await createDataset(server, user);
      await createDataset(server, user);
      const response = await server.graphql(LIST, { first }, { token: user.token });
      expectOk(response);
      expect(response.data.datasets.nodes).toHaveLength(Math.min(first, 2));
      expect(response.data.datasets.pageInfo.hasNextPage).toBe(first < 2);
    });

    const uuid = "00000000-0000-4000-8000-000000000000";
    it.each<[string, string, string?]>([
      ["abc", "abc"],
      ["!!!", "!!!"],
      ["an empty string", ""],
      ["base64 of a JSON object", forgeCursor({ hello: "world", n: 42 })],
      ["standard base64 with padding", Buffer.from('{"a":1}').toString("base64")],
      ["base64 of a JSON array of numbers", forgeCursor([1, 2, 3])],
      ["a cursor with a non-UUID id", forgeCursor(["CREATED_AT_DESC", "2024-01-01T00:00:00.000Z", "nope"])],
      ["a cursor with an extra part", forgeCursor(["CREATED_AT_DESC", "2024-01-01T00:00:00.000Z", uuid, 1])],
      ["a cursor of an unknown order", forgeCursor(["SIZE_DESC", "2024-01-01T00:00:00.000Z", uuid])],
      ["a cursor with a non-date key", forgeCursor(["CREATED_AT_DESC", "yesterday", uuid])],
      ["a cursor whose key JavaScript reads as a date but SQL does not", forgeCursor(["CREATED_AT_DESC", "1", uuid])],
      ["a cursor with a date out of SQL's range", forgeCursor(["CREATED_AT_DESC", "-271821-04-20T00:00:00.000Z", uuid])],
      ["a name cursor holding a NUL", forgeCursor(["NAME_ASC", "\u0000", uuid]), "NAME_ASC"],
    ])("refuses after: %s, on field after", async (_name, after, orderBy) => {
      const user = await createUser(server);
      await createDataset(server, user);
      expectBadInput(await server.graphql(LIST, { after, orderBy }, { token: user.token }), "after");
    });

    it("refuses a cursor issued for another order", async () => {
      const user = await createUser(server);
      await createDataset(server, user);
      await createDataset(server, user);
      const page = await server.graphql(LIST, { first: 1, orderBy: "NAME_ASC" }, { token: user.token });
      expectOk(page);
      const after = page.data.datasets.edges[0].cursor;
      expectOk(await server.graphql(LIST, { first: 1, after, orderBy: "NAME_ASC" }, { token: user.token }));
      expectBadInput(await server.graphql(LIST, { after, orderBy: "CREATED_AT_DESC" }, { token: user.token }), "after");
    });

    it("refuses a search over 200 characters on filter.search, and accepts 200", async () => {
      const user = await createUser(server);
      expectBadInput(await server.graphql(LIST, { search: "s".repeat(201) }, { token: user.token }), "filter.search");
      expectBadInput(await server.graphql(LIST, { search: "a\u0000b" }, { token: user.token }), "filter.search");
      const ok = await server.graphql(LIST, { search: "s".repeat(200) }, { token: user.token });
      expectOk(ok);
      expect(ok.data.datasets.totalCount).toBe(0);
    });
  });
});
