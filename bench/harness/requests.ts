/** Prebuilt GraphQL requests (for the load generators), and `me`, which several parts ask beside their own work. */
import type { Actor, Fixtures } from "./database.js";
import type { HttpRequest } from "./load.js";

/** A POST /graphql, with the token when there is one; `kind` names it in checks and messages. */
export function graphqlRequest(kind: string, query: string, variables?: Record<string, unknown>, token?: string): HttpRequest {
  return {
    kind,
    path: "/graphql",
    body: JSON.stringify(variables ? { query, variables } : { query }),
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  };
}

export const ME_QUERY = "query Me { me { id username email role } }";

export const meRequest = (actor: Actor) => graphqlRequest("me", ME_QUERY, undefined, actor.token);

/** `me` alone, over the readers' tokens (the files and previews parts ask it during their work). */
export function meRequests(fixtures: Fixtures): HttpRequest[] {
  return fixtures.readers.map(meRequest);
}
