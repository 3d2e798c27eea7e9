import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AdminDatasetsDocument,
  CreateDatasetDocument,
  DatasetDocument,
  DatasetsDocument,
  DeleteDatasetDocument,
  LoginDocument,
  MeDocument,
  RegisterDocument,
  UpdateDatasetDocument,
} from "../client/generated/graphql.js";
import { createAdmin, createDataset, createUser, unique, type TestUser } from "./support/factories.js";
import { errorCode, startServer, type GraphQLResponse, type TestServer } from "./support/server.js";

/**
 * docs/api.md "Who sees what", row by row, for anonymous, the owner, another user and an
 * admin, through the client's own operations (client/operations). Raw strings only where no
 * client operation selects what is checked (a dataset owner's email) or for what the
 * contract refuses (a role at registration).
 */

/** A field of the user the client's `UserFields` fragment selects, for raw strings that must read the same. */
const USER_FIELDS = "__typename id username email role active createdAt updatedAt";
const DATASET_OWNER = `query($id: ID!) { dataset(id: $id) { id owner { ${USER_FIELDS} } } }`;
const LIST_OWNERS = `query($search: String) { datasets(first: 100, filter: { search: $search }) { totalCount nodes { id owner { id email } } } }`;
const CREATE_WITH_OWNER = `mutation($input: CreateDatasetInput!) { createDataset(input: $input) { id owner { id email } } }`;

const CHANGE = { name: "changed by someone else", description: "changed" };

/** One request of a row of the table: `token` is the caller's (none: anonymous). */
type Attempt = (token: string | undefined, datasetId: string, name: string) => Promise<GraphQLResponse<unknown>>;

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

  function expectOk<Data>(response: GraphQLResponse<Data>): Data {
    expect(response.errors).toBeUndefined();
    expect(response.data).toBeTruthy();
    return response.data!;
  }

  /** A dataset's own fields as `reader` reads them (`owner` left out). */
  const readDataset = async (reader: TestUser, id: string) => {
    const { owner: _owner, ...fields } = expectOk(await server.graphql(DatasetDocument, { id }, { token: reader.token })).dataset;
    return fields;
  };
  const listIds = async (reader: TestUser, search: string | null) => {
    const { datasets } = expectOk(await server.graphql(DatasetsDocument, { first: 100, filter: { search } }, { token: reader.token }));
    return { totalCount: datasets.totalCount, ids: datasets.edges.map((edge) => edge.node.id).sort() };
  };
  const adminList = (token: string | undefined, filter: { ownerId?: string; search?: string } = {}) =>
    server.graphql(AdminDatasetsDocument, { first: 100, filter }, { token });

  const readAttempt: Attempt = (token, id) => server.graphql(DatasetDocument, { id }, { token });
  /** The other user's write attempts: each must be NOT_FOUND and leave the dataset as it was. */
  const FOREIGN_WRITES: Array<{ operation: string; attempt: Attempt }> = [
    { operation: "updateDataset", attempt: (token, id) => server.graphql(UpdateDatasetDocument, { id, input: CHANGE }, { token }) },
    { operation: "deleteDataset", attempt: (token, id) => server.graphql(DeleteDatasetDocument, { id }, { token }) },
  ];

  describe("anonymous", () => {
    const DENIED: Array<{ operation: string; attempt: Attempt }> = [
      { operation: "me", attempt: (token) => server.graphql(MeDocument, {}, { token }) },
      { operation: "datasets", attempt: (token) => server.graphql(DatasetsDocument, {}, { token }) },
      { operation: "adminDatasets", attempt: (token) => adminList(token) },
      { operation: "createDataset", attempt: (token, _id, name) => server.graphql(CreateDatasetDocument, { input: { name } }, { token }) },
      ...FOREIGN_WRITES,
    ];

    it.each(DENIED)("is UNAUTHENTICATED on $operation, and nothing changes", async ({ attempt }) => {
      const [owner, admin] = [await createUser(server), await createAdmin(server)];
      const dataset = await createDataset(server, owner);
      const name = unique("anonymous");
      expectError(await attempt(undefined, dataset.id, name), "UNAUTHENTICATED");
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      expect(expectOk(await adminList(admin.token, { search: name })).adminDatasets.totalCount).toBe(0);
    });

    it("is NOT_FOUND on a private dataset, exactly as on one that does not exist", async () => {
      const dataset = await createDataset(server, await createUser(server));
      expectError(await readAttempt(undefined, dataset.id, ""), "NOT_FOUND");
      expectError(await readAttempt(undefined, randomUUID(), ""), "NOT_FOUND");
    });

    it.each(["no token", "a user's token", "an admin's token"])("may register and log in with %s", async (holder) => {
      const bearer = holder === "no token" ? undefined : holder === "a user's token" ? await createUser(server) : await createAdmin(server);
      const input = { email: `${unique("reg")}@example.com`, username: unique("reg"), password: `pw-${randomUUID()}` };
      const { register } = expectOk(await server.graphql(RegisterDocument, { input }, { token: bearer?.token }));
      expect(register.user).toMatchObject({ email: input.email, username: input.username, role: "USER" });
      const { login } = expectOk(
        await server.graphql(LoginDocument, { input: { email: input.email, password: input.password } }, { token: bearer?.token }),
      );
      expect(login.user).toEqual(register.user);
      const { me } = expectOk(await server.graphql(MeDocument, {}, { token: login.accessToken }));
      expect(me).toEqual(register.user);
    });
  });

  describe("a user", () => {
    it("reads, updates and deletes their own dataset", async () => {
      const owner = await createUser(server);
      const dataset = await createDataset(server, owner);
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      const { updateDataset } = expectOk(
        await server.graphql(UpdateDatasetDocument, { id: dataset.id, input: { name: "renamed" } }, { token: owner.token }),
      );
      expect(updateDataset).toMatchObject({ id: dataset.id, name: "renamed", description: dataset.description });
      expect(expectOk(await server.graphql(DeleteDatasetDocument, { id: dataset.id }, { token: owner.token })).deleteDataset).toBe(dataset.id);
      expectError(await readAttempt(owner.token, dataset.id, ""), "NOT_FOUND");
    });

    it("sees only their own datasets in datasets (totalCount and nodes)", async () => {
      const [user, other, admin] = [await createUser(server), await createUser(server), await createAdmin(server)];
      const tag = unique("tag");
      const own = [await createDataset(server, user, { name: `${tag} a` }), await createDataset(server, user, { name: `${tag} b` })];
      await createDataset(server, other, { name: `${tag} c` });
      await createDataset(server, admin, { name: `${tag} d` });
      for (const search of [null, tag]) {
        expect(await listIds(user, search)).toEqual({ totalCount: 2, ids: own.map((d) => d.id).sort() });
      }
    });

    it("gets NOT_FOUND for dataset(id) of another user's dataset", async () => {
      const [owner, other] = [await createUser(server), await createUser(server)];
      const dataset = await createDataset(server, owner);
      expectError(await readAttempt(other.token, dataset.id, ""), "NOT_FOUND");
    });

    it.each(FOREIGN_WRITES)("gets NOT_FOUND for $operation of another user's dataset, and nothing changes", async ({ attempt }) => {
      const [owner, other, admin] = [await createUser(server), await createUser(server), await createAdmin(server)];
      const dataset = await createDataset(server, owner);
      expectError(await attempt(other.token, dataset.id, ""), "NOT_FOUND");
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      expect(await readDataset(admin, dataset.id)).toEqual(dataset);
    });

    it("is FORBIDDEN from adminDatasets, even filtered to their own id", async () => {
      const user = await createUser(server);
      await createDataset(server, user);
      expectError(await adminList(user.token), "FORBIDDEN");
      expectError(await adminList(user.token, { ownerId: user.id }), "FORBIDDEN");
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
      expect(await listIds(admin, tag)).toEqual({ totalCount: 3, ids: made.map((d) => d.id).sort() });
      const totals = expectOk(await server.graphql(`{ datasets { totalCount } adminDatasets { totalCount } }`, {}, { token: admin.token }));
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
      const { adminDatasets } = expectOk(await adminList(admin.token, { ownerId: owner.id }));
      expect(adminDatasets.totalCount).toBe(2);
      const expected = own.map((d) => ({ ...d, owner: { __typename: "User", id: owner.id, username: owner.username, email: owner.email } }));
      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      expect([...adminDatasets.nodes].sort(byId)).toEqual(expected.sort(byId));
    });

    // An admin may read every dataset, so a write to one not theirs is FORBIDDEN, not NOT_FOUND.
    it.each(FOREIGN_WRITES)("is FORBIDDEN from $operation of another user's dataset, and nothing changes", async ({ attempt }) => {
      const [admin, owner] = [await createAdmin(server), await createUser(server)];
      const dataset = await createDataset(server, owner);
      expectError(await attempt(admin.token, dataset.id, ""), "FORBIDDEN");
      expect(await readDataset(owner, dataset.id)).toEqual(dataset);
      expect(await readDataset(admin, dataset.id)).toEqual(dataset);
    });

    it("updates and deletes their own dataset", async () => {
      const admin = await createAdmin(server);
      const dataset = await createDataset(server, admin);
      const { updateDataset } = expectOk(
        await server.graphql(UpdateDatasetDocument, { id: dataset.id, input: { description: "new" } }, { token: admin.token }),
      );
      expect(updateDataset).toMatchObject({ id: dataset.id, name: dataset.name, description: "new" });
      expect(expectOk(await server.graphql(DeleteDatasetDocument, { id: dataset.id }, { token: admin.token })).deleteDataset).toBe(dataset.id);
      expectError(await readAttempt(admin.token, dataset.id, ""), "NOT_FOUND");
    });
  });

  describe("Dataset.owner and User.email", () => {
    it("a user sees the owner, email included, of their own datasets", async () => {
      const user = await createUser(server);
      const { me } = expectOk(await server.graphql(MeDocument, {}, { token: user.token }));
      const { createDataset: created } = expectOk(
        await server.graphql(CREATE_WITH_OWNER, { input: { name: unique("mine") } }, { token: user.token }),
      );
      expect(created.owner).toEqual({ id: user.id, email: user.email });
      expect(expectOk(await server.graphql(DATASET_OWNER, { id: created.id }, { token: user.token })).dataset.owner).toEqual(me);
      expect(expectOk(await server.graphql(LIST_OWNERS, {}, { token: user.token })).datasets.nodes).toEqual([created]);
    });

    it("a user sees their own email through me and in the register and login payloads", async () => {
      const input = { email: `${unique("self")}@example.com`, username: unique("self"), password: `pw-${randomUUID()}` };
      const { register } = expectOk(await server.graphql(RegisterDocument, { input }));
      expect(register.user.email).toBe(input.email);
      const { login } = expectOk(await server.graphql(LoginDocument, { input: { email: input.email, password: input.password } }));
      expect(login.user.email).toBe(input.email);
      const { me } = expectOk(await server.graphql(MeDocument, {}, { token: login.accessToken }));
      expect(me).toMatchObject({ id: register.user.id, email: input.email });
    });

    it("an admin sees the owner, email included, of any dataset", async () => {
      const [admin, owner] = [await createAdmin(server), await createUser(server)];
      const dataset = await createDataset(server, owner, { name: unique("theirs") });
      const single = expectOk(await server.graphql(DATASET_OWNER, { id: dataset.id }, { token: admin.token })).dataset;
      expect(single.owner).toMatchObject({ id: owner.id, email: owner.email, username: owner.username, role: "USER" });
      const listed = expectOk(await server.graphql(LIST_OWNERS, { search: dataset.name }, { token: admin.token })).datasets.nodes;
      expect(listed).toEqual([{ id: dataset.id, owner: { id: owner.id, email: owner.email } }]);
      const admined = expectOk(await adminList(admin.token, { search: dataset.name })).adminDatasets.nodes;
      expect(admined).toEqual([{ ...dataset, owner: { __typename: "User", id: owner.id, username: owner.username, email: owner.email } }]);
    });
  });

  describe("NOT_FOUND for another's dataset is indistinguishable from a missing one", () => {
    const CASES = [{ who: "a user", operation: "dataset", attempt: readAttempt }, ...FOREIGN_WRITES.map((write) => ({ who: "a user", ...write }))];

    it.each(CASES)("$who on $operation", async ({ who, attempt }) => {
      const owner = await createUser(server);
      const caller = who === "an admin" ? await createAdmin(server) : await createUser(server);
      const dataset = await createDataset(server, owner);
      const shape = (response: GraphQLResponse<unknown>) => ({
        data: response.data ?? null,
        code: errorCode(response),
        message: response.errors?.[0]?.message,
        path: response.errors?.[0]?.path,
      });
      const foreign = shape(await attempt(caller.token, dataset.id, ""));
      const missing = shape(await attempt(caller.token, randomUUID(), ""));
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
      // Raw: the client's Register document's variables have no role, so no typed call can send one.
      const viaVariables = await server.graphql(`mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
        input: { ...input, role: "ADMIN" },
      });
      expect(viaVariables.errors).toHaveLength(1);
      expect(viaVariables.data).toBeUndefined();
      // graphql-js refuses an unknown input field in variables while coercing them (Apollo: BAD_USER_INPUT).
      expect(errorCode(viaVariables)).toBe("BAD_USER_INPUT");
      expectError(await server.graphql(LoginDocument, { input: { email: input.email, password: input.password } }), "UNAUTHENTICATED");
    });

    it("a registered user has role USER and no admin access", async () => {
      const user = await createUser(server);
      expect(user.role).toBe("USER");
      expect(expectOk(await server.graphql(MeDocument, {}, { token: user.token })).me.role).toBe("USER");
      expectError(await adminList(user.token), "FORBIDDEN");
    });
  });
});
