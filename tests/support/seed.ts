import { expect } from "vitest";
import { SAMPLE_ACCOUNT, seed } from "../../scripts/seed-data.js";
import type { TestServer } from "./server.js";

/** Seeds `server` as `npm run seed` would; what the README's programs then see, and a way to make an event of the sample dataset. */
export async function seedSampleData(server: TestServer) {
  const result = await seed(server.url);
  expect(result.created).toBe(true);
  const dataset = result.datasets.find((each) => each.owner === SAMPLE_ACCOUNT.username)!;
  const login = await server.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
    input: { email: SAMPLE_ACCOUNT.email, password: SAMPLE_ACCOUNT.password },
  });
  const token: string = login.data.login.accessToken;
  return {
    username: SAMPLE_ACCOUNT.username,
    datasetName: dataset.name,
    paths: dataset.paths,
    rename: (name: string) =>
      server.graphql(
        `mutation($id: ID!, $name: String!) { updateDataset(id: $id, input: { name: $name }) { id } }`,
        { id: dataset.id, name },
        { token },
      ),
  };
}
