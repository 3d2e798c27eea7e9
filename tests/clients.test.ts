import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ApolloClient, HttpLink, InMemoryCache } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { Client, fetchExchange } from "@urql/core";
import type { DocumentNode } from "graphql";
import { decodeJwt, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateDatasetDocument,
  DatasetsDocument,
  LoginDocument,
  MeDocument,
  RegisterDocument,
} from "../client/generated/graphql.js";
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from "../src/auth/tokens.js";
import { ClientSession } from "./support/client-session.js";
import { unique } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/** The hash GraphQL Code Generator wrote into each typed document (and into the manifest). */
const manifestHash = (document: DocumentNode) =>
  ((document as unknown as { __meta__: { hash: string } }).__meta__.hash).replace(/^sha256:/, "");

/** An access token of the session that has just expired, as the server would have signed it. */
async function expiredTokenLike(server: TestServer, token: string): Promise<string> {
  const claims = decodeJwt(token);
  return new SignJWT({ ver: claims.ver, sid: claims.sid })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.sub!)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(Math.floor(Date.now() / 1000) - 1000)
    .setJti("expired")
    .setExpirationTime(Math.floor(Date.now() / 1000) - 100)
    .sign(new TextEncoder().encode(server.secret));
}

const newAccount = () => {
  const name = unique("client");
  return { email: `${name}@example.com`, username: name, password: "a long enough secret" };
};

describe("typed clients against the live server", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("Apollo Client: registers, creates, lists, and refreshes an expired token on its own", async () => {
    const session = new ClientSession(server.url);
    const client = new ApolloClient({ link: new HttpLink({ uri: server.url, fetch: session.fetch }), cache: new InMemoryCache() });
    const account = newAccount();

    const registered = await client.mutate({ mutation: RegisterDocument, variables: { input: account } });
    session.remember(registered.data!.register);
    await client.mutate({ mutation: CreateDatasetDocument, variables: { input: { name: "Rainfall", filePath: "/data/rain.csv" } } });
    const page = await client.query({ query: DatasetsDocument, variables: { first: 10 }, fetchPolicy: "network-only" });
    expect(page.data!.datasets.edges.map((edge) => edge.node.name)).toEqual(["Rainfall"]);

    session.accessToken = await expiredTokenLike(server, session.accessToken!);
    const me = await client.query({ query: MeDocument, fetchPolicy: "network-only" });
    expect(me.data!.me.username).toBe(account.username);
    expect(session.refreshes).toBe(1);
  });

  it("urql: signs in, reads, and refreshes an expired token on its own", async () => {
    const account = newAccount();
    await server.graphql(`mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, { input: account });
    const session = new ClientSession(server.url);
    // urql sends short queries as GET by default; Apollo's CSRF prevention wants POST (or a
    // preflight header) from browsers' simple requests: a frontend sets this too (README).
    const client = new Client({
      url: server.url,
      exchanges: [fetchExchange],
      fetch: session.fetch,
      requestPolicy: "network-only",
      preferGetMethod: false,
    });

    const login = await client.mutation(LoginDocument, { input: { email: account.email, password: account.password } }).toPromise();
    expect(login.error).toBeUndefined();
    session.remember(login.data!.login);
    await client.mutation(CreateDatasetDocument, { input: { name: "Soil samples" } }).toPromise();

    session.accessToken = await expiredTokenLike(server, session.accessToken!);
    const page = await client.query(DatasetsDocument, { first: 5, orderBy: "NAME_ASC" }).toPromise();
    expect(page.error).toBeUndefined();
    expect(page.data!.datasets.totalCount).toBe(1);
    expect(session.refreshes).toBe(1);
  });

  it("Apollo Client with automatic persisted queries: the text goes once, then only the hash", async () => {
    const session = new ClientSession(server.url);
    const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
    const link = new PersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: server.url, fetch: session.fetch }));
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    const registered = await client.mutate({ mutation: RegisterDocument, variables: { input: newAccount() } });
    session.remember(registered.data!.register);

    for (let round = 0; round < 2; round += 1) {
      const me = await client.query({ query: MeDocument, fetchPolicy: "network-only" });
      expect(me.data!.me.id).toBe(registered.data!.register.user.id);
    }
    const meBodies = session.sent.map((body) => JSON.parse(body)).filter((body) => body.operationName === "Me");
    // hash only (unknown) → hash and text → hash only (known now)
    expect(meBodies.map((body) => typeof body.query)).toEqual(["undefined", "string", "undefined"]);
  });
});

describe("trusted documents (PERSISTED_OPERATIONS=only)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ PERSISTED_OPERATIONS: "only" });
  });
  afterAll(() => server.close());

  it("runs the operations of the manifest, sent by hash only, through Apollo Client", async () => {
    const session = new ClientSession(server.url);
    const link = new PersistedQueryLink({ generateHash: manifestHash }).concat(new HttpLink({ uri: server.url, fetch: session.fetch }));
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    const registered = await client.mutate({ mutation: RegisterDocument, variables: { input: newAccount() } });
    session.remember(registered.data!.register);
    const me = await client.query({ query: MeDocument, fetchPolicy: "network-only" });
    expect(me.data!.me.id).toBe(registered.data!.register.user.id);
    expect(session.sent.every((body) => JSON.parse(body).query === undefined)).toBe(true);
  });

  it("refuses any operation not in the manifest, before it runs", async () => {
    const unlisted = await server.graphql(`{ __typename }`);
    expect(unlisted.status).toBe(403);
    expect(unlisted.errors![0]!.extensions.code).toBe("FORBIDDEN");
    expect(unlisted.statements).toBe(0); // refused before it executed

    const unknownHash = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: "0".repeat(64) } } }),
    });
    expect(unknownHash.status).toBe(400);
    expect(((await unknownHash.json()) as any).errors[0].extensions.code).toBe("PERSISTED_QUERY_NOT_FOUND");
  });

  it("accepts a listed document sent as text, and by documentId", async () => {
    const hash = manifestHash(MeDocument);
    const byId = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ documentId: `sha256:${hash}` }),
    });
    // Listed, so it runs: and `me` then wants a token.
    expect(((await byId.json()) as any).errors[0].extensions.code).toBe("UNAUTHENTICATED");
    const manifest = JSON.parse(readFileSync("client/generated/persisted-documents.json", "utf8")) as Record<string, string>;
    const asText = await server.graphql(manifest[`sha256:${hash}`]!);
    expect(asText.status).toBe(200);
    expect(asText.errors![0]!.extensions.code).toBe("UNAUTHENTICATED");
  });
});
