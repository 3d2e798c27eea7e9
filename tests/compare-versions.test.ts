import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CompareVersionsDocument } from "../client/generated/graphql.js";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { commitFiles, sha256 } from "./support/files.js";
import { settledPreviews } from "./support/previews.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

/**
 * `Dataset.compareVersions` through HTTP: three versions of one dataset with every kind of
 * change (a file added, removed, modified; a table's column added, removed and retyped, its
 * row count changed; a file removed then added again with the same bytes), compared both
 * ways, with the previews made by the server's own workers.
 */

let server: TestServer;
let owner: TestUser;
let datasetId: string;

const V1 = {
  "people.csv": "id,name,age\n1,ann,30\n2,bob,40\n3,cy,50\n",
  "scores.csv": "id,score,note\n1,1.5,x\n2,2.5,y\n",
  "notes.txt": "hello",
  "gone.txt": "bye",
  "same.csv": "a\n1\n",
  "back.txt": "again",
  "broken.parquet": "not parquet at all",
};
const V2: Record<string, string | null> = {
  // age becomes text (RETYPED), email is new (ADDED), two more rows.
  "people.csv": "id,name,age,email\n1,ann,thirty,a@x\n2,bob,40,b@x\n3,cy,50,c@x\n4,dee,60,d@x\n5,eve,70,e@x\n",
  // note is gone (REMOVED), one row fewer.
  "scores.csv": "id,score\n1,1.5\n",
  "notes.txt": "hello, world",
  "gone.txt": null,
  "new.txt": "fresh",
  "back.txt": null,
  // Still no Parquet: both previews FAILED, so no column changes.
  "broken.parquet": "still not parquet",
};

const bytesOf = (files: Record<string, string | null>) =>
  Object.fromEntries(Object.entries(files).map(([path, text]) => [path, text === null ? null : Buffer.from(text)]));

const compare = (token: string, base: number, head: number) => server.graphql(CompareVersionsDocument, { id: datasetId, base, head }, { token });

const file = (text: string) => ({ __typename: "DatasetFile", sha256: sha256(text), size: Buffer.byteLength(text), contentType: expect.any(String) });

beforeAll(async () => {
  server = await startServer();
  owner = await createUser(server);
  datasetId = (await createDataset(server, owner)).id;
  await commitFiles(server, owner.token, datasetId, bytesOf(V1));
  await settledPreviews(server, owner.token, datasetId);
  await commitFiles(server, owner.token, datasetId, bytesOf(V2));
  const previews = await settledPreviews(server, owner.token, datasetId);
  // What the comparison is built on: the previews it reads were made, READY or FAILED as meant.
  expect(previews["people.csv"].status).toBe("READY");
  expect(previews["broken.parquet"].status).toBe("FAILED");
  // Version 3: back.txt again, with the very bytes version 1 had.
  await commitFiles(server, owner.token, datasetId, { "back.txt": Buffer.from(V1["back.txt"]) });
}, 180_000);
afterAll(() => server?.close());

describe("compareVersions", () => {
  it("lists what was added, removed and modified in path order, with column changes and row counts of tables whose previews are READY", async () => {
    const response = await compare(owner.token, 1, 2);
    expect(response.errors).toBeUndefined();
    const comparison = response.data!.dataset!.compareVersions;
    expect(comparison.base.number).toBe(1);
    expect(comparison.head.number).toBe(2);
    const change = (
      path: string,
      kind: string,
      before: string | null,
      after: string | null,
      columnChanges: unknown = null,
      rowCountDelta: number | null = null,
    ) => ({
      __typename: "FileDifference",
      path,
      kind,
      before: before === null ? null : file(before),
      after: after === null ? null : file(after),
      columnChanges,
      rowCountDelta,
    });
    const column = (name: string, kind: string, typeBefore: string | null, typeAfter: string | null) => ({
      __typename: "ColumnChange",
      name,
      kind,
      typeBefore,
      typeAfter,
    });
    expect(comparison.changes).toEqual([
      change("back.txt", "REMOVED", V1["back.txt"], null),
      change("broken.parquet", "MODIFIED", V1["broken.parquet"], V2["broken.parquet"]!),
      change("gone.txt", "REMOVED", V1["gone.txt"], null),
      change("new.txt", "ADDED", null, V2["new.txt"]!),
      change("notes.txt", "MODIFIED", V1["notes.txt"], V2["notes.txt"]!),
      change(
        "people.csv",
        "MODIFIED",
        V1["people.csv"],
        V2["people.csv"]!,
        [column("age", "RETYPED", "BIGINT", "VARCHAR"), column("email", "ADDED", null, "VARCHAR")],
        2,
      ),
      change("scores.csv", "MODIFIED", V1["scores.csv"], V2["scores.csv"]!, [column("note", "REMOVED", "VARCHAR", null)], -1),
    ]);
    // same.csv, unchanged, is not listed.
  });

  it("compares the other way round, and leaves out a file removed and added again with the same bytes", async () => {
    const back = (await compare(owner.token, 2, 1)).data!.dataset!.compareVersions.changes;
    expect(back.map((change) => [change.path, change.kind, change.rowCountDelta])).toEqual([
      ["back.txt", "ADDED", null],
      ["broken.parquet", "MODIFIED", null],
      ["gone.txt", "ADDED", null],
      ["new.txt", "REMOVED", null],
      ["notes.txt", "MODIFIED", null],
      ["people.csv", "MODIFIED", -2],
      ["scores.csv", "MODIFIED", 1],
    ]);
    expect(back.find((change) => change.path === "people.csv")!.columnChanges!.map((c) => [c.name, c.kind, c.typeBefore, c.typeAfter])).toEqual([
      ["age", "RETYPED", "VARCHAR", "BIGINT"],
      ["email", "REMOVED", "VARCHAR", null],
    ]);

    const overTwo = (await compare(owner.token, 1, 3)).data!.dataset!.compareVersions.changes;
    expect(overTwo.map((change) => change.path)).not.toContain("back.txt");
    expect(overTwo.map((change) => change.path)).toContain("people.csv");
    expect((await compare(owner.token, 3, 3)).data!.dataset!.compareVersions.changes).toEqual([]);
    expect((await compare(owner.token, 2, 3)).data!.dataset!.compareVersions.changes.map((change) => [change.path, change.kind])).toEqual([
      ["back.txt", "ADDED"],
    ]);
  });

  it("refuses a version number below 1 (BAD_USER_INPUT) and one that does not exist (NOT_FOUND), naming the argument", async () => {
    for (const [base, head, code, field] of [
      [0, 1, "BAD_USER_INPUT", "base"],
      [1, -3, "BAD_USER_INPUT", "head"],
      [4, 1, "NOT_FOUND", "base"],
      [1, 99, "NOT_FOUND", "head"],
    ] as const) {
      const response = await compare(owner.token, base, head);
      expect(errorCode(response), `${base} → ${head}`).toBe(code);
      expect(response.errors![0]!.extensions.field).toBe(field);
      expect(response.data?.dataset ?? null).toBeNull();
    }
  });

  it("is the dataset's: a viewer it is shared with compares, a stranger gets NOT_FOUND, anonymous NOT_FOUND (as any private dataset)", async () => {
    const viewer = await createUser(server);
    const stranger = await createUser(server);
    const shared = await server.graphql(
      `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: VIEWER) { role } }`,
      { d: datasetId, u: viewer.username },
      { token: owner.token },
    );
    expect(shared.errors).toBeUndefined();
    const seen = await compare(viewer.token, 1, 2);
    expect(seen.errors).toBeUndefined();
    expect(seen.data!.dataset!.compareVersions.changes).toHaveLength(7);
    expect(errorCode(await compare(stranger.token, 1, 2))).toBe("NOT_FOUND");
    expect(errorCode(await server.graphql(CompareVersionsDocument, { id: datasetId, base: 1, head: 2 }))).toBe("NOT_FOUND");
  });

  it("reads the same few statements however many files differ: two manifests in one, the previews in one", async () => {
    const many = await compare(owner.token, 1, 2);
    const one = await compare(owner.token, 2, 3);
    expect(many.errors).toBeUndefined();
    expect(many.statements).toBeLessThanOrEqual(one.statements + 1);
    expect(many.statements).toBeLessThanOrEqual(6);
  });
});
