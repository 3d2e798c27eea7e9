import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { getMainDefinition } from "@apollo/client/utilities";
import { Client, fetchExchange, subscriptionExchange } from "@urql/core";
import type { DocumentNode } from "graphql";
import { createClient as createWsClient } from "graphql-ws";
import * as tus from "tus-js-client";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CommitDatasetVersionDocument,
  CreateDatasetDocument,
  DatasetEventsDocument,
  DatasetLatestVersionDocument,
  DatasetsDocument,
  DatasetVersionDocument,
  DatasetVersionsDocument,
  LoginDocument,
  MeDocument,
  RegisterDocument,
} from "../client/generated/graphql.js";
import { uploadFile, UploadError } from "../client/upload.js";
import { DATASET_EVENTS_CHANNEL } from "../src/events/bus.js";
import { SessionEndedError } from "../client/session.js";
import { ClientSession } from "./support/client-session.js";
import { expiredTokenOf } from "./support/expired-tokens.js";
import { createDataset, createUser, unique } from "./support/factories.js";
import { download, sha256 as sha256Of, tusHead } from "./support/files.js";
import { wsUrl } from "./support/live.js";
import { startServer, type TestServer, type UntypedData } from "./support/server.js";

/** The hash GraphQL Code Generator wrote into each typed document (and into the manifest). */
const manifestHash = (document: DocumentNode) => (document as unknown as { __meta__: { hash: string } }).__meta__.hash.replace(/^sha256:/, "");

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
    session.adopt(registered.data!.register);
    await client.mutate({ mutation: CreateDatasetDocument, variables: { input: { name: "Rainfall", filePath: "/data/rain.csv" } } });
    const page = await client.query({ query: DatasetsDocument, variables: { first: 10 }, fetchPolicy: "network-only" });
    expect(page.data!.datasets.edges.map((edge) => edge.node.name)).toEqual(["Rainfall"]);

    session.useToken(await expiredTokenOf(server, session.token));
    const me = await client.query({ query: MeDocument, fetchPolicy: "network-only" });
    expect(me.data!.me.username).toBe(account.username);
    expect(session.refreshes).toBe(1);
  });

  it("urql: signs in, reads, and refreshes an expired token on its own", async () => {
    const account = newAccount();
    await server.graphql(`mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, { input: account });
    const session = new ClientSession(server.url);
    // urql sends short queries as GET by default; Apollo's CSRF prevention wants POST (or a
    // preflight header) from browsers' simple requests: a frontend sets this too (docs/clients.md).
    const client = new Client({
      url: server.url,
      exchanges: [fetchExchange],
      fetch: session.fetch,
      requestPolicy: "network-only",
      preferGetMethod: false,
    });

    const login = await client.mutation(LoginDocument, { input: { email: account.email, password: account.password } }).toPromise();
    expect(login.error).toBeUndefined();
    session.adopt(login.data!.login);
    await client.mutation(CreateDatasetDocument, { input: { name: "Soil samples" } }).toPromise();

    session.useToken(await expiredTokenOf(server, session.token));
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
    session.adopt(registered.data!.register);

    for (let round = 0; round < 2; round += 1) {
      const me = await client.query({ query: MeDocument, fetchPolicy: "network-only" });
      expect(me.data!.me.id).toBe(registered.data!.register.user.id);
    }
    const meBodies = session.sent.map((body) => JSON.parse(body)).filter((body) => body.operationName === "Me");
    // hash only (unknown) → hash and text → hash only (known now)
    expect(meBodies.map((body) => typeof body.query)).toEqual(["undefined", "string", "undefined"]);
  });

  /**
   * Waits until a subscription is in place on the server (graphql-ws does not say when):
   * announces an UPDATED of `datasetId` until `received` grows, then renames the dataset and
   * waits for that change, the one event the test then looks at.
   */
  async function renameOnceSubscribed(received: Array<{ type: string; dataset?: { name: string } | null }>, owner: string, datasetId: string) {
    const seen = received.length;
    for (let attempt = 0; received.length === seen; attempt += 1) {
      expect(attempt).toBeLessThan(100);
      await server.database.query("select pg_notify($1, $2)", [
        DATASET_EVENTS_CHANNEL,
        JSON.stringify({ type: "UPDATED", datasetId, version: null, userId: null, sha256: null, at: new Date().toISOString() }),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const name = unique("live");
    const renamed = await server.graphql(
      `mutation($id: ID!, $name: String!) { updateDataset(id: $id, input: { name: $name }) { id } }`,
      { id: datasetId, name },
      { token: owner },
    );
    expect(renamed.errors).toBeUndefined();
    for (let attempt = 0; !received.some((event) => event.dataset?.name === name); attempt += 1) {
      expect(attempt).toBeLessThan(150);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return name;
  }

  /** graphql-ws's client, the token in connection_init (asked for on every connect, so a refreshed one is used). */
  const liveClient = (session: ClientSession) =>
    createWsClient({
      url: wsUrl(server.url),
      webSocketImpl: WebSocket,
      connectionParams: session.connectionParams,
    });

  it("Apollo Client: subscribes to a dataset's events over GraphQLWsLink, queries over HTTP", async () => {
    const session = new ClientSession(server.url);
    const ws = liveClient(session);
    const isSubscription = ({ query }: { query: DocumentNode }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    };
    const link = ApolloLink.split(isSubscription, new GraphQLWsLink(ws), new HttpLink({ uri: server.url, fetch: session.fetch }));
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    const registered = await client.mutate({ mutation: RegisterDocument, variables: { input: newAccount() } });
    session.adopt(registered.data!.register);
    const created = await client.mutate({ mutation: CreateDatasetDocument, variables: { input: { name: "Watched" } } });
    const datasetId = created.data!.createDataset.id;

    const received: Array<{ type: string; dataset?: { name: string } | null }> = [];
    const subscription = client.subscribe({ query: DatasetEventsDocument, variables: { datasetId } }).subscribe({
      next: (result) => {
        if (result.data) received.push(result.data.datasetEvents);
      },
    });
    try {
      const name = await renameOnceSubscribed(received, session.token, datasetId);
      expect(received.at(-1)).toMatchObject({ type: "UPDATED", datasetId, dataset: { id: datasetId, name } });
    } finally {
      subscription.unsubscribe();
      await ws.dispose();
    }
  });

  it("urql: subscribes to every readable dataset's events through subscriptionExchange and graphql-ws", async () => {
    const session = new ClientSession(server.url);
    const ws = liveClient(session);
    const client = new Client({
      url: server.url,
      fetch: session.fetch,
      requestPolicy: "network-only",
      preferGetMethod: false,
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink) }),
          }),
        }),
      ],
    });
    const account = newAccount();
    const registered = await client.mutation(RegisterDocument, { input: account }).toPromise();
    session.adopt(registered.data!.register);
    const created = await client.mutation(CreateDatasetDocument, { input: { name: "Also watched" } }).toPromise();
    const datasetId = created.data!.createDataset.id;

    const received: Array<{ type: string; dataset?: { name: string } | null }> = [];
    const subscription = client.subscription(DatasetEventsDocument, {}).subscribe((result) => {
      if (result.data) received.push(result.data.datasetEvents);
    });
    try {
      const name = await renameOnceSubscribed(received, session.token, datasetId);
      expect(received.at(-1)).toMatchObject({ type: "UPDATED", datasetId, dataset: { name } });
    } finally {
      subscription.unsubscribe();
      await ws.dispose();
    }
  });
});

describe("the session helper (client/session.ts)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  async function signedInSession() {
    const account = newAccount();
    await server.graphql(`mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, { input: account });
    const session = new ClientSession(server.url);
    const user = await session.signIn(account.email, account.password);
    expect(user.username).toBe(account.username);
    return session;
  }

  const me = async (session: ClientSession) => {
    const response = await session.fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ me { username } }" }),
    });
    return { status: response.status, body: (await response.json()) as UntypedData };
  };

  it("refreshes before the access token expires, once for every caller at the same time", async () => {
    const session = await signedInSession();
    const first = session.tokens!;
    // Within the refresh margin (60 s): the next ask refreshes first.
    session.adopt({ accessToken: first.accessToken, refreshToken: first.refreshToken, expiresIn: 30 });
    const tokens = await Promise.all([session.accessToken(), session.accessToken(), session.accessToken(), session.connectionParams()]);
    expect(session.refreshes).toBe(1);
    expect(new Set(tokens.slice(0, 3)).size).toBe(1);
    expect(tokens[0]).not.toBe(first.accessToken);
    expect(tokens[3]).toEqual({ authorization: `Bearer ${tokens[0]}` });
    expect(session.tokens!.refreshToken).not.toBe(first.refreshToken);
    expect((await me(session)).status).toBe(200);
  });

  it("on a 401 refreshes once for all the requests refused together, and sends each again", async () => {
    const session = await signedInSession();
    session.useToken(await expiredTokenOf(server, session.token));
    const answers = await Promise.all([me(session), me(session), me(session)]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(answers.every((answer) => answer.body.data.me.username)).toBe(true);
    expect(session.refreshes).toBe(1);
  });

  it("a 401 says what to do: refresh an expired token, sign in again after a revoked or invalid one", async () => {
    const session = await signedInSession();
    const expired = await server.graphql("{ me { id } }", {}, { token: await expiredTokenOf(server, session.token) });
    expect(expired.status).toBe(401);
    expect(expired.errors![0]).toMatchObject({ message: expect.stringContaining("refreshSession"), extensions: { code: "UNAUTHENTICATED" } });
    const invalid = await server.graphql("{ me { id } }", {}, { token: "not-a-token" });
    expect(invalid.errors![0]!.message).toContain("is invalid");

    const token = session.token;
    await session.signOut();
    expect(session.signedIn).toBe(false);
    const revoked = await server.graphql("{ me { id } }", {}, { token });
    expect(revoked.status).toBe(401);
    expect(revoked.errors![0]!.message).toContain("revoked");
  });

  it("a refresh the server refuses ends the session: SessionEndedError, and signed out", async () => {
    const session = await signedInSession();
    // Signed out everywhere from another device: the refresh token no longer works.
    expect((await server.graphql("mutation { logoutAll }", {}, { token: session.token })).errors).toBeUndefined();
    await expect(session.refresh()).rejects.toBeInstanceOf(SessionEndedError);
    expect(session.signedIn).toBe(false);
    await expect(session.accessToken()).resolves.toBeUndefined();
  });
});

// Exported for Node only, so missing from tus-js-client's types.
const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (path: string) => tus.UrlStorage };

describe("files through the typed clients and the tus upload helper", () => {
  let server: TestServer;
  let endpoint: string;
  beforeAll(async () => {
    server = await startServer();
    endpoint = `${server.origin}/uploads/`;
  });
  afterAll(() => server.close());

  /** A signed-in Apollo Client and urql client on one session, with a dataset of its own. */
  async function signedIn() {
    const session = new ClientSession(server.url);
    const apollo = new ApolloClient({ link: new HttpLink({ uri: server.url, fetch: session.fetch }), cache: new InMemoryCache() });
    const urql = new Client({
      url: server.url,
      exchanges: [fetchExchange],
      fetch: session.fetch,
      requestPolicy: "network-only",
      preferGetMethod: false,
    });
    const registered = await apollo.mutate({ mutation: RegisterDocument, variables: { input: newAccount() } });
    session.adopt(registered.data!.register);
    const created = await apollo.mutate({ mutation: CreateDatasetDocument, variables: { input: { name: unique("Files") } } });
    return { session, apollo, urql, datasetId: created.data!.createDataset.id };
  }

  it("uploads a CSV with the helper, commits it through Apollo Client, reads it through urql, and downloads the same bytes", async () => {
    const { session, apollo, urql, datasetId } = await signedIn();
    const csv = Buffer.from("station,date,rain_mm\nAX1,2024-05-01,3.2\nAX1,2024-05-02,0.0\n");
    const { uploadId } = await uploadFile({
      endpoint,
      accessToken: () => session.accessToken(),
      datasetId,
      file: csv,
      filename: "rain.csv",
      contentType: "text/csv",
      sha256: sha256Of(csv),
    });
    expect(uploadId).toMatch(/^[0-9a-f-]{36}$/);

    const committed = await apollo.mutate({
      mutation: CommitDatasetVersionDocument,
      variables: { input: { datasetId, message: "First data", parentVersion: 0, changes: [{ path: "data/rain.csv", uploadId }] } },
    });
    expect(committed.data!.commitDatasetVersion).toMatchObject({ number: 1, message: "First data", fileCount: 1, totalSize: csv.length });

    const latest = await urql.query(DatasetLatestVersionDocument, { id: datasetId }).toPromise();
    expect(latest.error).toBeUndefined();
    const [file] = latest.data!.dataset.latestVersion!.files;
    expect(file).toMatchObject({ path: "data/rain.csv", size: csv.length, sha256: sha256Of(csv), contentType: "text/csv" });

    // The signed link needs no header; the route takes the token as well.
    const signed = await fetch(file!.downloadUrl);
    expect(signed.status).toBe(200);
    expect(sha256Of(Buffer.from(await signed.arrayBuffer()))).toBe(file!.sha256);
    const withToken = await download(server, session.token, datasetId, 1, "data/rain.csv");
    expect(Buffer.from(await withToken.arrayBuffer())).toEqual(csv);

    // Version 2 removes the file; version 1 still has it, and the cursor pages back to it.
    const removed = await apollo.mutate({
      mutation: CommitDatasetVersionDocument,
      variables: { input: { datasetId, parentVersion: 1, changes: [{ path: "data/rain.csv" }] } },
    });
    expect(removed.data!.commitDatasetVersion).toMatchObject({ number: 2, fileCount: 0, files: [] });
    const first = await urql.query(DatasetVersionsDocument, { id: datasetId, first: 1 }).toPromise();
    expect(first.data!.dataset.versions).toMatchObject({ totalCount: 2, edges: [{ node: { number: 2 } }], pageInfo: { hasNextPage: true } });
    const next = await urql
      .query(DatasetVersionsDocument, { id: datasetId, first: 1, after: first.data!.dataset.versions.pageInfo.endCursor })
      .toPromise();
    expect(next.data!.dataset.versions.edges.map((edge) => edge.node.number)).toEqual([1]);
    const one = await apollo.query({ query: DatasetVersionDocument, variables: { id: datasetId, number: 1 }, fetchPolicy: "network-only" });
    expect(one.data!.dataset.version!.files.map((each) => each.sha256)).toEqual([sha256Of(csv)]);
  });

  it("resumes an upload aborted after its first chunk from the server's offset, not from 0", async () => {
    const { session, apollo, datasetId } = await signedIn();
    const chunkSize = 64 * 1024;
    const bytes = randomBytes(4 * chunkSize);
    const storageDir = await mkdtemp(join(tmpdir(), "tus-url-storage-"));
    try {
      // tus-js-client's own URL storage for Node: what localStorage is in a browser.
      const urlStorage = new FileUrlStorage(join(storageDir, "uploads.json"));
      const options = {
        endpoint,
        accessToken: () => session.accessToken(),
        datasetId,
        file: bytes,
        filename: "noise.bin",
        sha256: sha256Of(bytes),
        chunkSize,
        urlStorage,
      };

      const controller = new AbortController();
      const interrupted = uploadFile({ ...options, signal: controller.signal, onChunkComplete: () => controller.abort() });
      await expect(interrupted).rejects.toMatchObject({ name: "AbortError" });
      const [stored] = await urlStorage.findAllUploads();
      const interruptedId = stored!.uploadUrl!.split("/").at(-1)!;
      const head = await tusHead(server, session.token, interruptedId);
      expect(head.headers.get("upload-offset")).toBe(String(chunkSize));

      const progress: number[] = [];
      const accepted: number[] = [];
      const { uploadId } = await uploadFile({
        ...options,
        onProgress: (sent) => progress.push(sent),
        onChunkComplete: (_size, bytesAccepted) => accepted.push(bytesAccepted),
      });
      expect(uploadId).toBe(interruptedId);
      expect(progress[0]).toBe(chunkSize);
      expect(accepted).toEqual([2 * chunkSize, 3 * chunkSize, 4 * chunkSize]);
      // Finished: forgotten, so the next upload of this file is a new one.
      expect(await urlStorage.findAllUploads()).toEqual([]);

      const committed = await apollo.mutate({
        mutation: CommitDatasetVersionDocument,
        variables: { input: { datasetId, changes: [{ path: "noise.bin", uploadId }] } },
      });
      expect(committed.data!.commitDatasetVersion.files[0]!.sha256).toBe(sha256Of(bytes));
      const downloaded = await fetch(committed.data!.commitDatasetVersion.files[0]!.downloadUrl);
      expect(sha256Of(Buffer.from(await downloaded.arrayBuffer()))).toBe(sha256Of(bytes));
    } finally {
      await rm(storageDir, { recursive: true, force: true });
    }
  });

  it("asks the token function again after a 401, so an upload outlives an expired access token", async () => {
    const { session, datasetId } = await signedIn();
    const expired = await expiredTokenOf(server, session.token);
    const handedOut: string[] = [];
    const { uploadId } = await uploadFile({
      endpoint,
      accessToken: () => {
        handedOut.push(handedOut.length === 0 ? expired : session.token);
        return handedOut.at(-1)!;
      },
      datasetId,
      file: Buffer.from("a,b\n1,2\n"),
      retryDelays: [0],
    });
    expect(uploadId).toMatch(/^[0-9a-f-]{36}$/);
    expect(handedOut[0]).toBe(expired);
  });

  it("rejects with the server's status: 460 for a wrong sha256, 404 for a dataset that is not yours, 401 for a bad token", async () => {
    const { session, datasetId } = await signedIn();
    const file = Buffer.from("x,y\n");
    const wrong = uploadFile({ endpoint, accessToken: session.token, datasetId, file, sha256: sha256Of("other bytes") });
    await expect(wrong).rejects.toBeInstanceOf(UploadError);
    await expect(wrong).rejects.toMatchObject({ status: 460, message: expect.stringContaining("Checksum Mismatch") });

    const other = await createUser(server);
    const theirs = await createDataset(server, other);
    await expect(uploadFile({ endpoint, accessToken: session.token, datasetId: theirs.id, file })).rejects.toMatchObject({ status: 404 });
    await expect(uploadFile({ endpoint, accessToken: "not-a-token", datasetId, file })).rejects.toMatchObject({ status: 401 });
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
    session.adopt(registered.data!.register);
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
    expect(((await unknownHash.json()) as UntypedData).errors[0].extensions.code).toBe("PERSISTED_QUERY_NOT_FOUND");
  });

  it("accepts a listed document sent as text, and by documentId", async () => {
    const hash = manifestHash(MeDocument);
    const byId = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ documentId: `sha256:${hash}` }),
    });
    // Listed, so it runs: and `me` then wants a token.
    expect(((await byId.json()) as UntypedData).errors[0].extensions.code).toBe("UNAUTHENTICATED");
    const manifest = JSON.parse(readFileSync("client/generated/persisted-documents.json", "utf8")) as Record<string, string>;
    const asText = await server.graphql(manifest[`sha256:${hash}`]!);
    expect(asText.status).toBe(200);
    expect(asText.errors![0]!.extensions.code).toBe("UNAUTHENTICATED");
  });
});
