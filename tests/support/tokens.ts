import { expect } from "vitest";
import type { TestUser } from "./factories.js";
import type { TestServer } from "./server.js";

export const CREATE_TOKEN = `mutation($input: CreateAccessTokenInput!) {
  createAccessToken(input: $input) { secret token { id name scope prefix createdAt expiresAt lastUsedAt datasets { id } } }
}`;
export const REVOKE_TOKEN = `mutation($id: ID!) { revokeAccessToken(id: $id) }`;

export interface TestToken {
  id: string;
  secret: string;
}

/** A personal access token of `user`'s, made with their session (as in the playground). */
export async function createToken(
  server: TestServer,
  user: Pick<TestUser, "token">,
  input: { name?: string; scope?: "READ" | "WRITE"; datasetIds?: string[] | null; expiresInDays?: number | null } = {},
): Promise<TestToken> {
  const response = await server.graphql(CREATE_TOKEN, { input: { name: "a script", scope: "WRITE", ...input } }, { token: user.token });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  const { secret, token } = response.data.createAccessToken;
  return { id: token.id, secret };
}

export async function revokeToken(server: TestServer, by: Pick<TestUser, "token">, id: string): Promise<void> {
  const response = await server.graphql(REVOKE_TOKEN, { id }, { token: by.token });
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  expect(response.data.revokeAccessToken).toBe(true);
}
