import { readFileSync } from "node:fs";
import type { DocumentNode } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateDatasetDocument, DatasetEventsDocument, MeDocument, RegisterDocument } from "../client/generated/graphql.js";
import { DATASET_EVENTS_CHANNEL } from "../src/events/bus.js";
import { unique } from "./support/factories.js";
import { LiveClient } from "./support/live.js";
import { startServer, type TestServer, type ResponseError, type UntypedData } from "./support/server.js";

/**
 * Trusted documents (PERSISTED_OPERATIONS=only) through every way a request names its
 * document: the list holds for what Apollo executes, whatever the Fastify route saw.
 */

const hashOf = (document: DocumentNode) => (document as unknown as { __meta__: { hash: string } }).__meta__.hash;
const ME = hashOf(MeDocument);
/** Not in the manifest; signed in, it answers with data, so running it would show. */
const UNLISTED = `{ a: datasets(first: 100) { totalCount } }`;

interface Answer {
  status: number;
  body: { data?: UntypedData; errors?: ResponseError[] };
}

describe("trusted documents over GET and POST", () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startServer({ PERSISTED_OPERATIONS: "only" });
    const name = unique("trusted");
    const registered = await post({
      documentId: hashOf(RegisterDocument),
      variables: { input: { email: `${name}@example.com`, username: name, password: "a long enough secret" } },
    });
    token = registered.body.data.register.accessToken;
  });
  afterAll(() => server.close());

  async function answer(response: Response): Promise<Answer> {
    return { status: response.status, body: (await response.json()) as Answer["body"] };
  }

  function get(params: Record<string, string>): Promise<Answer> {
    const search = new URLSearchParams(params);
    return fetch(`${server.url}?${search}`, {
      headers: { authorization: `Bearer ${token}`, "apollo-require-preflight": "true" },
    }).then(answer);
  }

  function post(body: unknown): Promise<Answer> {
    return fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    }).then(answer);
  }

  const codeOf = (answer: Answer) => answer.body.errors?.[0]?.extensions.code;

  it("refuses a GET whose text is not the document its documentId names (the text used to run)", async () => {
    const response = await get({ query: UNLISTED, documentId: ME });
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe("BAD_REQUEST");
    expect(response.body.data).toBeUndefined();
  });

  it("refuses a GET whose text is not the document its persisted-query hash names", async () => {
    const extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: ME.replace("sha256:", "") } });
    const response = await get({ query: UNLISTED, extensions });
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe("BAD_REQUEST");
  });

  it("refuses a POST whose text and documentId disagree, instead of running one of them", async () => {
    const response = await post({ query: UNLISTED, documentId: ME });
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe("BAD_REQUEST");
    expect(response.body.data).toBeUndefined();
  });

  it("refuses documentId given twice in a GET", async () => {
    const response = await fetch(`${server.url}?documentId=${ME}&documentId=${ME}`, { headers: { "apollo-require-preflight": "true" } });
    expect(response.status).toBe(400);
  });

  it("refuses an unlisted text over GET and POST with FORBIDDEN, before it executes", async () => {
    for (const response of [await get({ query: UNLISTED }), await post({ query: UNLISTED })]) {
      expect(response.status).toBe(403);
      expect(codeOf(response)).toBe("FORBIDDEN");
      expect(response.body.data).toBeUndefined();
    }
  });

  it("tells an unlisted text nothing of what parsing or validation found", async () => {
    for (const query of [`{ nope }`, `{ me { id `, `{ me { passwordHash } }`]) {
      const response = await post({ query });
      expect(response.status).toBe(403);
      expect(response.body.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: "FORBIDDEN" }) })]);
      expect(JSON.stringify(response.body)).not.toMatch(/nope|passwordHash|Syntax/);
    }
  });

  it("runs a listed document named by documentId over GET, and by hash or text over POST", async () => {
    const byGet = await get({ documentId: ME });
    expect(byGet.status).toBe(200);
    expect(byGet.body.data.me.id).toMatch(/^[0-9a-f-]{36}$/);
    const extensions = { persistedQuery: { version: 1, sha256Hash: ME.replace("sha256:", "") } };
    const byExtension = await post({ extensions });
    expect(byExtension.body.data.me.id).toBe(byGet.body.data.me.id);
    const byGetExtension = await get({ extensions: JSON.stringify(extensions) });
    expect(byGetExtension.body.data.me.id).toBe(byGet.body.data.me.id);
  });

  it("answers an unknown hash with PERSISTED_QUERY_NOT_FOUND", async () => {
    const response = await get({ documentId: `sha256:${"0".repeat(64)}` });
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe("PERSISTED_QUERY_NOT_FOUND");
  });

  it("holds over WebSocket too: a listed subscription runs, by text or hash; an unlisted one is FORBIDDEN", async () => {
    const live = LiveClient.as(server.url, token);
    try {
      const refusal = async (payload: string) => {
        const outcome = (await live.subscribe(payload).finished) as { error: Array<{ message: string; extensions: Record<string, unknown> }> };
        return outcome.error[0]!;
      };
      expect(await refusal(`subscription { datasetEvents { type } }`)).toMatchObject({ extensions: { code: "FORBIDDEN" } });
      expect(await refusal(`subscription { datasetEvents { nope } }`)).toMatchObject({ message: expect.not.stringContaining("nope") });
      // The listed document, by its text or by its hash alone, runs: both get an event.
      const hash = hashOf(DatasetEventsDocument).replace("sha256:", "");
      const text = (JSON.parse(readFileSync(server.config.persistedOperationsManifest, "utf8")) as Record<string, string>)[`sha256:${hash}`]!;
      const byText = live.subscribe(text);
      const outcomes: unknown[] = [];
      const byHash = live.client.subscribe(
        { query: "", extensions: { persistedQuery: { version: 1, sha256Hash: hash } } },
        { next: (result) => outcomes.push(result), error: (error) => outcomes.push(error), complete: () => outcomes.push("complete") },
      );
      const created = await post({ documentId: hashOf(CreateDatasetDocument), variables: { input: { name: unique("watched") } } });
      const datasetId = created.body.data.createDataset.id;
      for (let attempt = 0; byText.results.length === 0 || outcomes.length === 0; attempt += 1) {
        expect(attempt).toBeLessThan(100);
        await server.database.query("select pg_notify($1, $2)", [
          DATASET_EVENTS_CHANNEL,
          JSON.stringify({ type: "UPDATED", datasetId, version: null, userId: null, sha256: null, at: new Date().toISOString() }),
        ]);
        await byText.arrivesWithin(100);
      }
      expect(byText.results[0]).toMatchObject({ data: { datasetEvents: { type: "UPDATED", datasetId } } });
      expect(outcomes[0]).toMatchObject({ data: { datasetEvents: { type: "UPDATED", datasetId } } });
      byHash();
    } finally {
      await live.dispose();
    }
  });
});
