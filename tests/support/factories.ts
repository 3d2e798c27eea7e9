import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import { createOrPromoteAdmin } from "../../src/admin/create-admin.js";
import { createAuditLog } from "../../src/audit/events.js";
import { createPasswordHasher } from "../../src/auth/passwords.js";
import { CreateDatasetDocument, type DatasetFieldsFragment, type Role, LoginDocument, RegisterDocument } from "../../client/generated/graphql.js";
import type { TestServer } from "./server.js";

/** Factories with unique values, so no test depends on another's data. */

let counter = 0;
/** A short value unique within the run, safe in usernames (3-32 characters). */
export function unique(prefix = "u"): string {
  counter += 1;
  return `${prefix}${counter}_${randomUUID().slice(0, 8)}`;
}

export interface TestUser {
  id: string;
  email: string;
  username: string;
  password: string;
  token: string;
  role: Role;
}

export const USER_FIELDS = "id username email role createdAt updatedAt";

/** Registers a user through the API and returns them with their access token. */
export async function createUser(server: TestServer, overrides: Partial<Pick<TestUser, "email" | "username" | "password">> = {}): Promise<TestUser> {
  const username = overrides.username ?? unique("user");
  const input = {
    email: overrides.email ?? `${username}@example.com`,
    username,
    password: overrides.password ?? `pw-${randomUUID()}`,
  };
  const response = await server.graphql(RegisterDocument, { input });
  expect(response.errors).toBeUndefined();
  const payload = response.data!.register;
  return { ...input, email: input.email.toLowerCase(), id: payload.user.id, token: payload.accessToken, role: payload.user.role };
}

/** An admin, made the way operators make one (create-admin's function), signed in anew. */
export async function createAdmin(server: TestServer): Promise<TestUser> {
  const user = await createUser(server);
  // A promotion hashes nothing, but the function takes a hasher (its pool of worker threads):
  // closed again here, so that no pool outlives the call.
  const passwords = createPasswordHasher(4);
  try {
    await createOrPromoteAdmin(server.database, passwords, createAuditLog(), { email: user.email, promoteExisting: true });
  } finally {
    await passwords.close();
  }
  // A role change ends the tokens issued before it.
  const login = await server.graphql(LoginDocument, { input: { email: user.email, password: user.password } });
  expect(login.errors).toBeUndefined();
  return { ...user, role: "ADMIN", token: login.data!.login.accessToken };
}

/** A dataset's own fields for raw query strings, as the client's `DatasetFields` fragment selects them (`__typename` too). */
export const DATASET_FIELDS = "__typename id name description filePath visibility license tags readme createdAt updatedAt";

/** A dataset as the client's `DatasetFields` fragment reads it (`__typename` included, as the client asks for it). */
export type TestDataset = DatasetFieldsFragment;

/** Creates a dataset owned by `owner` through the API. */
export async function createDataset(
  server: TestServer,
  owner: TestUser,
  input: {
    name?: string;
    description?: string | null;
    filePath?: string | null;
    visibility?: "PRIVATE" | "UNLISTED" | "PUBLIC";
    license?: string | null;
    tags?: string[] | null;
    readme?: string | null;
  } = {},
): Promise<TestDataset> {
  const response = await server.graphql(
    CreateDatasetDocument,
    { input: { name: unique("dataset"), description: "a test dataset", filePath: "/data/test.csv", ...input } },
    { token: owner.token },
  );
  expect(response.errors).toBeUndefined();
  return response.data!.createDataset;
}
