import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, DATASET_FIELDS, unique, USER_FIELDS, type TestUser } from "./support/factories.js";
import { errorCode, startServer, type GraphQLResponse, type TestServer } from "./support/server.js";

/** docs/api.md "Who sees what", row by row, for anonymous, the owner, another user and an admin. */

const ME = `{ me { ${USER_FIELDS} } }`;
const DATASET = `query($id: ID!) { dataset(id: $id) { ${DATASET_FIELDS} } }`;
const DATASET_OWNER = `query($id: ID!) { dataset(id: $id) { id owner { ${USER_FIELDS} } } }`;
const LIST = `query($search: String) { datasets(first: 100, filter: { search: $search }) { totalCount nodes { id owner { id email } } } }`;
const ADMIN_LIST = `query($ownerId: ID, $search: String) {
  adminDatasets(first: 100, filter: { ownerId: $ownerId, search: $search }) { totalCount nodes { id owner { id email } } } }`;
const CREATE = `mutation($input: CreateDatasetInput!) { createDataset(input: $input) { id owner { id email } } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateDatasetInput!) { updateDataset(id: $id, input: $input) { ${DATASET_FIELDS} } }`;
const DELETE = `mutation($id: ID!) { deleteDataset(id: $id) }`;
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { ${USER_FIELDS} } } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken user { ${USER_FIELDS} } } }`;

const CHANGE = { name: "changed by someone else", description: "changed" };

/** The other user's write attempts: each must be NOT_FOUND and leave the dataset as it was. */
const FOREIGN_WRITES = [
  { operation: "updateDataset", query: UPDATE, variables: (id: string) => ({ id, input: CHANGE }) },
  { operation: "deleteDataset", query: DELETE, variables: (id: string) => ({ id }) },
];

describe("authorization (docs/api.md: Who sees what)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  /** The request failed as a whole with exactly one error of `code`. */
  function expectError(response: GraphQLResponse, code: string) {
    expect(response.errors).toHaveLength(1);
    expect(errorCode(response)).toBe(code);
    expect(response.data ?? null).toBeNull();
  }

  async function ok(query: string, variables: Record<string, unknown>, user: TestUser) {
    const response = await server.graphql(query, variables, { token: user.token });
    expect(response.errors).toBeUndefined();
    return response.data;
  }

  const readDataset = async (reader: TestUser, id: string) => (await ok(DATASET, { id }, reader)).dataset;

  describe("anonymous", () => {
    const DENIED = [
      { operation: "me", query: ME, variables: () => ({}) },
      { operation: "datasets", query: LIST, variables: () => ({}) },
      { operation: "dataset", query: DATASET, variables: (id: string) => ({ id }) },
      { operation: "adminDatasets", query: ADMIN_LIST, variables: () => ({}) },
      { operation: "createDataset", query: CREATE, variables: (_id: string, name: string) => ({ input: { name } }) },
      ...FOREIGN_WRITES,
    ];

    it.each(DENIED)("is UNAUTHENTICATED on $operation, and nothing changes", async ({ query, variables }) => {
      const [owner, admin] = [await createUser(server), await createAdmin(server)];
      const dataset = await createDataset(server, owner);
      const name = unique("anonymous");
      expectError(await server.graphql(query, variables(dataset.id, name)), "UNAUTHENTICATED");
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      expect((await ok(ADMIN_LIST, { search: name }, admin)).adminDatasets.totalCount).toBe(0);
    });

    it.each(["no token", "a user's token", "an admin's token"])("may register and log in with %s", async (holder) => {
      const bearer = holder === "no token" ? undefined : holder === "a user's token" ? await createUser(server) : await createAdmin(server);
      const input = { email: `${unique("reg")}@example.com`, username: unique("reg"), password: `pw-${randomUUID()}` };
      const registered = await server.graphql(REGISTER, { input }, { token: bearer?.token });
      expect(registered.errors).toBeUndefined();
      expect(registered.data.register.user).toMatchObject({ email: input.email, username: input.username, role: "USER" });
      const login = await server.graphql(LOGIN, { input: { email: input.email, password: input.password } }, { token: bearer?.token });
      expect(login.errors).toBeUndefined();
      expect(login.data.login.user).toEqual(registered.data.register.user);
      const me = await server.graphql(ME, {}, { token: login.data.login.accessToken });
      expect(me.data.me).toEqual(registered.data.register.user);
    });
  });

  describe("a user", () => {
    it("reads, updates and deletes their own dataset", async () => {
      const owner = await createUser(server);
      const dataset = await createDataset(server, owner);
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      const updated = (await ok(UPDATE, { id: dataset.id, input: { name: "renamed" } }, owner)).updateDataset;
      expect(updated).toMatchObject({ id: dataset.id, name: "renamed", description: dataset.description });
      expect((await ok(DELETE, { id: dataset.id }, owner)).deleteDataset).toBe(dataset.id);
      expectError(await server.graphql(DATASET, { id: dataset.id }, { token: owner.token }), "NOT_FOUND");
    });

    it("sees only their own datasets in datasets (totalCount and nodes)", async () => {
      const [user, other, admin] = [await createUser(server), await createUser(server), await createAdmin(server)];
      const tag = unique("tag");
      const own = [await createDataset(server, user, { name: `${tag} a` }), await createDataset(server, user, { name: `${tag} b` })];
      await createDataset(server, other, { name: `${tag} c` });
      await createDataset(server, admin, { name: `${tag} d` });
      for (const search of [null, tag]) {
        const { datasets } = await ok(LIST, { search }, user);
        expect(datasets.totalCount).toBe(2);
        expect(datasets.nodes.map((node: { id: string }) => node.id).sort()).toEqual(own.map((d) => d.id).sort());
      }
    });

    it("gets NOT_FOUND for dataset(id) of another user's dataset", async () => {
      const [owner, other] = [await createUser(server), await createUser(server)];
      const dataset = await createDataset(server, owner);
      expectError(await server.graphql(DATASET, { id: dataset.id }, { token: other.token }), "NOT_FOUND");
    });

    it.each(FOREIGN_WRITES)("gets NOT_FOUND for $operation of another user's dataset, and nothing changes", async ({ query, variables }) => {
      const [owner, other, admin] = [await createUser(server), await createUser(server), await createAdmin(server)];
      const dataset = await createDataset(server, owner);
      expectError(await server.graphql(query, variables(dataset.id), { token: other.token }), "NOT_FOUND");
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      expect(await readDataset(admin, dataset.id)).toEqual(dataset);
    });

    it("is FORBIDDEN from adminDatasets, even filtered to their own id", async () => {
      const user = await createUser(server);
      await createDataset(server, user);
      expectError(await server.graphql(ADMIN_LIST, {}, { token: user.token }), "FORBIDDEN");
      expectError(await server.graphql(ADMIN_LIST, { ownerId: user.id }, { token: user.token }), "FORBIDDEN");
    });
  });

  describe("an admin", () => {
    it("sees every dataset in datasets, other users' included", async () => {
      const [admin, first, second] = [await createAdmin(server), await createUser(server), await createUser(server)];
      const tag = unique("tag");
      const made = [
        await createDataset(server, admin, { name: `${tag} own` }),
        await createDataset(server, first, { name: `${tag} first` }),
        await createDataset(server, second, { name: `${tag} second` }),
      ];
      const { datasets } = await ok(LIST, { search: tag }, admin);
      expect(datasets.totalCount).toBe(3);
      expect(datasets.nodes.map((node: { id: string }) => node.id).sort()).toEqual(made.map((d) => d.id).sort());
      const totals = await ok(`{ datasets { totalCount } adminDatasets { totalCount } }`, {}, admin);
      expect(totals.datasets.totalCount).toBe(totals.adminDatasets.totalCount);
    });

    it("reads any user's dataset with dataset(id)", async () => {
      const [admin, owner] = [await createAdmin(server), await createUser(server)];
      const dataset = await createDataset(server, owner);
      expect(await readDataset(admin, dataset.id)).toEqual(dataset);
    });

    it("lists datasets with adminDatasets, filtered by ownerId", async () => {
      const [admin, owner, other] = [await createAdmin(server), await createUser(server), await createUser(server)];
      const own = [await createDataset(server, owner), await createDataset(server, owner)];
      await createDataset(server, other);
      const { adminDatasets } = await ok(ADMIN_LIST, { ownerId: owner.id }, admin);
      expect(adminDatasets.totalCount).toBe(2);
      const expected = own.map((d) => ({ id: d.id, owner: { id: owner.id, email: owner.email } }));
      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      expect([...adminDatasets.nodes].sort(byId)).toEqual(expected.sort(byId));
    });

    // An admin may read every dataset, so a write to one not theirs is FORBIDDEN, not NOT_FOUND.
    it.each(FOREIGN_WRITES)("is FORBIDDEN from $operation of another user's dataset, and nothing changes", async ({ query, variables }) => {
      const [admin, owner] = [await createAdmin(server), await createUser(server)];
      const dataset = await createDataset(server, owner);
      expectError(await server.graphql(query, variables(dataset.id), { token: admin.token }), "FORBIDDEN");
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      expect(await readDataset(admin, dataset.id)).toEqual(dataset);
    });

    it("updates and deletes their own dataset", async () => {
      const admin = await createAdmin(server);
      const dataset = await createDataset(server, admin);
      const updated = (await ok(UPDATE, { id: dataset.id, input: { description: "new" } }, admin)).updateDataset;
      expect(updated).toMatchObject({ id: dataset.id, name: dataset.name, description: "new" });
      expect((await ok(DELETE, { id: dataset.id }, admin)).deleteDataset).toBe(dataset.id);
      expectError(await server.graphql(DATASET, { id: dataset.id }, { token: admin.token }), "NOT_FOUND");
    });
  });

  describe("Dataset.owner and User.email", () => {
    it("a user sees the owner, email included, of their own datasets", async () => {
      const user = await createUser(server);
      const me = (await ok(ME, {}, user)).me;
      const created = (await ok(CREATE, { input: { name: unique("mine") } }, user)).createDataset;
      expect(created.owner).toEqual({ id: user.id, email: user.email });
      expect((await ok(DATASET_OWNER, { id: created.id }, user)).dataset.owner).toEqual(me);
      expect((await ok(LIST, {}, user)).datasets.nodes).toEqual([created]);
    });

    it("a user sees their own email through me and in the register and login payloads", async () => {
      const input = { email: `${unique("self")}@example.com`, username: unique("self"), password: `pw-${randomUUID()}` };
      const registered = await server.graphql(REGISTER, { input });
      expect(registered.data.register.user.email).toBe(input.email);
      const login = await server.graphql(LOGIN, { input: { email: input.email, password: input.password } });
      expect(login.data.login.user.email).toBe(input.email);
      const me = await server.graphql(ME, {}, { token: login.data.login.accessToken });
      expect(me.data.me).toMatchObject({ id: registered.data.register.user.id, email: input.email });
    });

    it("an admin sees the owner, email included, of any dataset", async () => {
      const [admin, owner] = [await createAdmin(server), await createUser(server)];
      const dataset = await createDataset(server, owner, { name: unique("theirs") });
      const single = (await ok(DATASET_OWNER, { id: dataset.id }, admin)).dataset;
      expect(single.owner).toMatchObject({ id: owner.id, email: owner.email, username: owner.username, role: "USER" });
      const listed = (await ok(LIST, { search: dataset.name }, admin)).datasets.nodes;
      expect(listed).toEqual([{ id: dataset.id, owner: { id: owner.id, email: owner.email } }]);
      const admined = (await ok(ADMIN_LIST, { search: dataset.name }, admin)).adminDatasets.nodes;
      expect(admined).toEqual([{ id: dataset.id, owner: { id: owner.id, email: owner.email } }]);
    });
  });

  describe("NOT_FOUND for another's dataset is indistinguishable from a missing one", () => {
    const CASES = [
      { who: "a user", operation: "dataset", query: DATASET, variables: (id: string) => ({ id }) },
      ...FOREIGN_WRITES.map((write) => ({ who: "a user", ...write })),
    ];

    it.each(CASES)("$who on $operation", async ({ who, query, variables }) => {
      const owner = await createUser(server);
      const caller = who === "an admin" ? await createAdmin(server) : await createUser(server);
      const dataset = await createDataset(server, owner);
      const shape = (response: GraphQLResponse) => ({
        data: response.data ?? null,
        code: errorCode(response),
        message: response.errors?.[0]?.message,
        path: response.errors?.[0]?.path,
      });
      const foreign = shape(await server.graphql(query, variables(dataset.id), { token: caller.token }));
      const missing = shape(await server.graphql(query, variables(randomUUID()), { token: caller.token }));
      expect(foreign.code).toBe("NOT_FOUND");
      expect(foreign).toEqual(missing);
    });
  });

  describe("roles at registration", () => {
    it("RegisterInput has no role: passing one is a validation error and creates nobody", async () => {
      const introspection = await server.graphql(`{ __type(name: "RegisterInput") { inputFields { name } } }`);
      const fields = introspection.data.__type.inputFields.map((field: { name: string }) => field.name);
      expect(fields.sort()).toEqual(["email", "password", "username"]);

      const input = { email: `${unique("role")}@example.com`, username: unique("role"), password: `pw-${randomUUID()}` };
      const inline = await server.graphql(
        `mutation { register(input: { email: "${input.email}", username: "${input.username}", password: "${input.password}", role: ADMIN }) { user { id } } }`,
      );
      expect(errorCode(inline)).toBe("GRAPHQL_VALIDATION_FAILED");
      expect(inline.data).toBeUndefined();
      const viaVariables = await server.graphql(REGISTER, { input: { ...input, role: "ADMIN" } });
      expect(viaVariables.errors).toHaveLength(1);
      expect(viaVariables.data).toBeUndefined();
      // graphql-js refuses an unknown input field in variables while coercing them (Apollo: BAD_USER_INPUT).
      expect(errorCode(viaVariables)).toBe("BAD_USER_INPUT");
      expectError(await server.graphql(LOGIN, { input: { email: input.email, password: input.password } }), "UNAUTHENTICATED");
    });

    it("a registered user has role USER and no admin access", async () => {
      const user = await createUser(server);
      expect(user.role).toBe("USER");
      expect((await ok(ME, {}, user)).me.role).toBe("USER");
      expectError(await server.graphql(ADMIN_LIST, {}, { token: user.token }), "FORBIDDEN");
    });
  });
});
