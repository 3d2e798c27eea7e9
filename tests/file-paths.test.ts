import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { commit, commitFiles, download, tusCreate, upload } from "./support/files.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * Paths that look alike: one Unicode form (NFC) for every stored path, no invisible
 * characters, and no two files of a version that would be one where letter case is not told
 * apart (macOS, Windows: a version extracted there).
 */

let server: TestServer;
let owner: TestUser;
beforeAll(async () => {
  server = await startServer();
  owner = await createUser(server);
});
afterAll(() => server.close());

const NFC = "caf\u00e9.csv";
const NFD = "cafe\u0301.csv";

/** One change adding `path` from a fresh upload. */
async function adding(datasetId: string, path: string) {
  return { path, uploadId: await upload(server, owner.token, datasetId, Buffer.from(`bytes of ${path}`)) };
}

/** The latest version's number and paths (null before the first commit). */
async function latestPaths(datasetId: string): Promise<{ number: number; paths: string[] } | null> {
  const response = await server.graphql(
    `query($id: ID!) { dataset(id: $id) { latestVersion { number files { path } } } }`,
    { id: datasetId },
    { token: owner.token },
  );
  const latest = response.data.dataset.latestVersion;
  if (!latest) return null;
  return { number: latest.number, paths: latest.files.map((file: { path: string }) => file.path) };
}

function expectRefused(response: Awaited<ReturnType<typeof commit>>, field: string, message?: RegExp) {
  expect(response.errors?.map((error) => error.extensions)).toEqual([expect.objectContaining({ code: "BAD_USER_INPUT", field })]);
  if (message) expect(response.errors![0]!.message).toMatch(message);
}

describe("Unicode forms", () => {
  it("stores a path in NFC, finds it by an NFC or an NFD URL, and counts both forms as one path of a commit", async () => {
    const dataset = await createDataset(server, owner);
    const version = await commitFiles(server, owner.token, dataset.id, { [NFD]: Buffer.from("decomposed") });
    expect(version.files.map((file: { path: string }) => file.path)).toEqual([NFC]);
    for (const path of [NFC, NFD]) {
      const response = await download(server, owner.token, dataset.id, 1, path);
      expect(response.status, path).toBe(200);
      expect(await response.text()).toBe("decomposed");
    }
    const twice = await commit(server, owner.token, {
      datasetId: dataset.id,
      changes: [await adding(dataset.id, `new-${NFC}`), await adding(dataset.id, `new-${NFD}`)],
    });
    expectRefused(twice, "input.changes[1].path", /changed twice/);
    // An upload to the NFD form replaces the file: it is the same path.
    const replaced = await commit(server, owner.token, { datasetId: dataset.id, changes: [await adding(dataset.id, NFD)] });
    expect(replaced.errors).toBeUndefined();
    expect(await latestPaths(dataset.id)).toEqual({ number: 2, paths: [NFC] });
  });
});

describe("invisible characters", () => {
  const INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u061c"];

  it("refuses each in a committed path, naming the change, and in an upload's filename", async () => {
    const dataset = await createDataset(server, owner);
    const change = await adding(dataset.id, "unused");
    for (const char of INVISIBLE) {
      for (const path of [`data${char}.csv`, `dir${char}/data.csv`]) {
        const response = await commit(server, owner.token, { datasetId: dataset.id, changes: [{ ...change, path }] });
        expectRefused(response, "input.changes[0].path", /invisible/);
      }
    }
    const created = await tusCreate(server, { token: owner.token, length: 1, metadata: { datasetId: dataset.id, filename: "data\u200b.csv" } });
    expect(created.status).toBe(400);
    expect(await latestPaths(dataset.id)).toBeNull(); // no version at all
  });

  it("keeps the joiners where they shape the letters around them: Persian, Devanagari, emoji", async () => {
    const dataset = await createDataset(server, owner);
    const paths = ["\u06af\u0632\u0627\u0631\u0634\u200c\u0647\u0627.csv", "\u0915\u094d\u200d\u0937.csv", "\u{1f469}\u200d\u{1f4bb}.txt"];
    const response = await commit(server, owner.token, {
      datasetId: dataset.id,
      changes: await Promise.all(paths.map((path) => adding(dataset.id, path))),
    });
    expect(response.errors).toBeUndefined();
    expect((await latestPaths(dataset.id))?.paths.sort()).toEqual([...paths].sort());
    // Between Latin letters the same joiners show nothing.
    for (const path of ["a\u200cb.csv", "a\u200db.csv", "\u06af\u200cb.csv"]) {
      const refused = await commit(server, owner.token, { datasetId: dataset.id, changes: [await adding(dataset.id, path)] });
      expectRefused(refused, "input.changes[0].path", /invisible/);
    }
  });
});

describe("letter case", () => {
  it("refuses a path that is another file, or a file's folder, once case is folded, naming the change, and writes nothing", async () => {
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, {
      "data.csv": Buffer.from("d"),
      "dir/inner.csv": Buffer.from("i"),
      Report: Buffer.from("r"),
      "stra\u00dfe.csv": Buffer.from("s"),
    });
    const cases: Array<[string, RegExp]> = [
      ["Data.csv", /Data\.csv and data\.csv differ only in letter case/],
      ["DIR", /DIR would also be the folder of dir\/inner\.csv/],
      ["report/notes.txt", /Report would also be the folder of report\/notes\.txt/],
      ["Report/notes.txt", /Report cannot be both a file and the folder of Report\/notes\.txt/],
      ["STRASSE.csv", /STRASSE\.csv and stra\u00dfe\.csv differ only in letter case/],
    ];
    for (const [path, message] of cases) {
      const response = await commit(server, owner.token, {
        datasetId: dataset.id,
        changes: [await adding(dataset.id, "fine.csv"), await adding(dataset.id, path)],
      });
      expectRefused(response, "input.changes[1].path", message);
    }
    // Two new paths of one commit: the later change is named.
    const both = await commit(server, owner.token, {
      datasetId: dataset.id,
      changes: [await adding(dataset.id, "New.csv"), await adding(dataset.id, "new.csv")],
    });
    expectRefused(both, "input.changes[1].path", /new\.csv and New\.csv differ only in letter case/);
    expect((await latestPaths(dataset.id))?.number).toBe(1);
  });

  it("lets a commit rename a file to another case, replace a file, and add beside a folder that differs in case only", async () => {
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, { "data.csv": Buffer.from("d"), "dir/inner.csv": Buffer.from("i") });
    const renamed = await commit(server, owner.token, {
      datasetId: dataset.id,
      changes: [{ path: "data.csv" }, await adding(dataset.id, "DATA.csv")],
    });
    expect(renamed.errors).toBeUndefined();
    const replaced = await commit(server, owner.token, { datasetId: dataset.id, changes: [await adding(dataset.id, "DATA.csv")] });
    expect(replaced.errors).toBeUndefined();
    // Extracted where case is not told apart, Dir/ and dir/ are one folder, and no file is lost.
    const beside = await commit(server, owner.token, { datasetId: dataset.id, changes: [await adding(dataset.id, "Dir/other.csv")] });
    expect(beside.errors).toBeUndefined();
    expect(await latestPaths(dataset.id)).toEqual({ number: 4, paths: ["DATA.csv", "Dir/other.csv", "dir/inner.csv"] });
  });
});

describe("a version committed before these rules", () => {
  it("carries its look-alike pairs over, refuses only a path a commit adds to one, and still finds each file", async () => {
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, { "data.csv": Buffer.from("lower") });
    // Version 2 as the old rules let a client make it (in SQL: the API no longer can).
    const [first] = await server.database.query<{ sha256: string }>("select sha256 from version_files where dataset_id = $1", [dataset.id]);
    const legacy = ["Data.csv", "data.csv", NFC, NFD, "zero\u200bwidth.csv"];
    // (The manifest's order: the number moves on, version 1's rows end there, version 2's are
    // written, its row last.)
    await server.database.query("update datasets set latest_version = 2 where id = $1", [dataset.id]);
    await server.database.query("update version_files set last_version = 1 where dataset_id = $1 and last_version is null", [dataset.id]);
    await server.database.query(
      `insert into version_files (dataset_id, first_version, path, sha256, size, content_type)
       select $1, 2, path, $2, 5, 'text/csv' from unnest($3::text[]) path`,
      [dataset.id, first!.sha256, legacy],
    );
    await server.database.query("insert into dataset_versions (dataset_id, number, file_count, total_size) values ($1, 2, $2, $3)", [
      dataset.id,
      legacy.length,
      5 * legacy.length,
    ]);

    const unrelated = await commit(server, owner.token, { datasetId: dataset.id, changes: [await adding(dataset.id, "other.csv")] });
    expect(unrelated.errors).toBeUndefined();
    expect((await latestPaths(dataset.id))?.paths.sort()).toEqual([...legacy, "other.csv"].sort());
    const onePair = await commit(server, owner.token, { datasetId: dataset.id, changes: [await adding(dataset.id, "DATA.csv")] });
    expectRefused(onePair, "input.changes[0].path", /differ only in letter case/);
    // Replacing a file of a pair adds no path.
    const replaced = await commit(server, owner.token, { datasetId: dataset.id, changes: [await adding(dataset.id, "Data.csv")] });
    expect(replaced.errors).toBeUndefined();

    // Each stored form is found as the version lists it, the invisible one too.
    for (const path of [NFD, NFC, "zero\u200bwidth.csv"]) {
      expect((await download(server, owner.token, dataset.id, "latest", path)).status, path).toBe(200);
    }
    // A removal as listed removes that form only.
    const removed = await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: NFD }] });
    expect(removed.errors).toBeUndefined();
    const after = await latestPaths(dataset.id);
    expect(after?.paths).toContain(NFC);
    expect(after?.paths).not.toContain(NFD);
  });
});
