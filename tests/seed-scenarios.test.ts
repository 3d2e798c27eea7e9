import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, DATASET_FIELDS } from "./support/factories.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

/** The five scenarios of the service this API replaces: the floor it must stand on. */
describe("seed scenarios", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`;
  const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;

  it("refuses a duplicate email, in any letter case, with CONFLICT", async () => {
    const user = await createUser(server);
    const again = await server.graphql(REGISTER, {
      input: { email: user.email.toUpperCase(), username: `${user.username}_2`, password: "another fine password" },
    });
    expect(errorCode(again)).toBe("CONFLICT");
    expect(again.errors![0]!.extensions.field).toBe("input.email");
  });

  it("refuses a wrong password with UNAUTHENTICATED, the same as an unknown email", async () => {
    const user = await createUser(server);
    const wrongPassword = await server.graphql(LOGIN, { input: { email: user.email, password: "not the password" } });
    const unknownEmail = await server.graphql(LOGIN, { input: { email: `nobody.${user.email}`, password: "not the password" } });
    expect(errorCode(wrongPassword)).toBe("UNAUTHENTICATED");
    expect(errorCode(unknownEmail)).toBe("UNAUTHENTICATED");
    expect(wrongPassword.errors![0]!.message).toBe(unknownEmail.errors![0]!.message);
    expect(wrongPassword.data).toBeNull();
  });

  it("refuses a request without a token with UNAUTHENTICATED", async () => {
    const response = await server.graphql(`{ datasets { totalCount } }`);
    expect(errorCode(response)).toBe("UNAUTHENTICATED");
    expect(response.data).toBeNull();
  });

  it("does not let a user see another user's dataset", async () => {
    const owner = await createUser(server);
    const other = await createUser(server);
    const dataset = await createDataset(server, owner);
    const single = await server.graphql(`query($id: ID!) { dataset(id: $id) { id } }`, { id: dataset.id }, { token: other.token });
    expect(errorCode(single)).toBe("NOT_FOUND");
    const list = await server.graphql(`{ datasets { totalCount nodes { id } } }`, {}, { token: other.token });
    expect(list.data.datasets).toEqual({ totalCount: 0, nodes: [] });
  });

  it("lets an admin see every dataset with its owner", async () => {
    const admin = await createAdmin(server);
    const owners = [await createUser(server), await createUser(server)];
    const made = [await createDataset(server, owners[0]!), await createDataset(server, owners[1]!)];
    const response = await server.graphql(
      `{ adminDatasets(first: 100) { nodes { ${DATASET_FIELDS} owner { id email } } } }`,
      {},
      { token: admin.token },
    );
    expect(response.errors).toBeUndefined();
    const seen = new Map(response.data.adminDatasets.nodes.map((node: { id: string }) => [node.id, node]));
    for (const [index, dataset] of made.entries()) {
      expect(seen.get(dataset.id)).toEqual({ ...dataset, owner: { id: owners[index]!.id, email: owners[index]!.email } });
    }
  });
});
