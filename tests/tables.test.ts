import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { commitFiles } from "./support/files.js";
import { settledPreviews } from "./support/previews.js";
import { errorCode, startServer, type TestServer, type UntypedData } from "./support/server.js";

/**
 * Exploring a table through HTTP (issue 23): column profiles checked against values computed
 * here, every operator on every type, sorting with ties, paging through a whole result, bad
 * input, and a reader killed mid-query. One small CSV, profiled by the server's own worker.
 */

type Row = [number, string | null, number | null, string | null, string | null, boolean | null];
const NAMES = ["id", "name", "score", "day", "ts", "ok"];
const ROWS: Row[] = [
  [1, "Paris", 1.5, "2024-01-01", "2024-01-01 10:00:00", true],
  [2, "Rome", null, "2024-02-01", "2024-01-02 10:00:00", false],
  [3, null, 2.5, null, null, null],
  [4, "Oslo", 1.5, "2024-01-15", "2024-03-01 00:00:00", true],
  [5, "Paris", 9.25, "2024-12-31", "2024-01-01 10:00:00", true],
  [6, "Porto", 2.5, "2024-01-01", "2024-06-30 23:59:59", false],
  [7, "Rome", -3, "2023-12-31", "2023-12-31 00:00:00", true],
  [8, "Paris", 1.5, "2024-01-02", "2024-01-01 11:00:00", null],
];
const csvValue = (value: unknown) => (value === null ? "" : String(value));
const CSV = Buffer.from(`${NAMES.join(",")}\n${ROWS.map((row) => row.map(csvValue).join(",")).join("\n")}\n`);

let api: TestServer;
let owner: TestUser;
let datasetId: string;
let otherDatasetId: string;

const TABLE_QUERY = `query($id: ID!, $first: Int, $after: String, $where: RowFilter, $orderBy: [RowOrder!], $columns: [String!]) {
  dataset(id: $id) { latestVersion { files { path table {
    rowCount
    rows(first: $first, after: $after, where: $where, orderBy: $orderBy, columns: $columns) {
      columns nodes totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    } } } } } }`;

async function rows(variables: Record<string, unknown>, server = api, id = datasetId) {
  const response = await server.graphql(TABLE_QUERY, { id, first: 100, ...variables }, { token: owner.token });
  return { response, page: response.data?.dataset?.latestVersion?.files[0]?.table?.rows as UntypedData | undefined };
}

/** The ids of the rows where `where` holds, in file order. */
async function idsWhere(where: unknown): Promise<number[]> {
  const { response, page } = await rows({ where, columns: ["id"] });
  expect(response.errors, JSON.stringify(where)).toBeUndefined();
  return page!.nodes.map((node: number[]) => node[0]);
}

const expectedIds = (test: (row: Row) => boolean) => ROWS.filter(test).map((row) => row[0]);

beforeAll(async () => {
  // A page of 500 rows of every file of a version costs more than MAX_COST's default allows (files count as 20).
  api = await startServer({ TABLE_READERS: "2", MAX_COST: "20000" });
  owner = await createUser(api);
  datasetId = (await createDataset(api, owner)).id;
  otherDatasetId = (await createDataset(api, owner)).id;
  await commitFiles(api, owner.token, datasetId, { "cities.csv": CSV });
  await commitFiles(api, owner.token, otherDatasetId, { "other.csv": Buffer.from("id,name\n1,a\n2,b\n") });
  const previews = await settledPreviews(api, owner.token, datasetId, 20, 120);
  expect(previews["cities.csv"].status).toBe("READY");
  expect((await settledPreviews(api, owner.token, otherDatasetId, 20, 120))["other.csv"].status).toBe("READY");
}, 180_000);
afterAll(() => api?.close());

describe("column profiles", () => {
  it("are exact over the whole file, as computed here", async () => {
    const response = await api.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { files { table { rowCount columns {
        name type nullCount distinctCount min max mean stddev histogram { from to count } topValues { value count } } } } } } }`,
      { id: datasetId },
      { token: owner.token },
    );
    expect(response.errors).toBeUndefined();
    const table = response.data.dataset.latestVersion.files[0].table;
    expect(table.rowCount).toBe(ROWS.length);
    const byName = Object.fromEntries(table.columns.map((column: UntypedData) => [column.name, column]));
    expect(table.columns.map((column: UntypedData) => column.name)).toEqual(NAMES);
    const values = (index: number) => ROWS.map((row) => row[index]).filter((value) => value !== null);
    for (const [index, name] of NAMES.entries()) {
      expect(byName[name].nullCount, name).toBe(ROWS.length - values(index).length);
      expect(byName[name].distinctCount, name).toBe(new Set(values(index)).size);
    }

    // Numbers: min, max, mean, sample standard deviation, 20 equal bins over [min, max].
    const scores = values(2) as number[];
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    const stddev = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / (scores.length - 1));
    expect(byName.score).toMatchObject({ type: "DOUBLE", min: Math.min(...scores), max: Math.max(...scores), topValues: null });
    expect(byName.score.mean).toBeCloseTo(mean, 10);
    expect(byName.score.stddev).toBeCloseTo(stddev, 10);
    const bins = byName.score.histogram as { from: number; to: number; count: number }[];
    expect(bins).toHaveLength(20);
    const width = (Math.max(...scores) - Math.min(...scores)) / 20;
    const binOf = (value: number) => Math.min(19, Math.floor((value - Math.min(...scores)) / width));
    expect(bins.map((bin) => bin.count)).toEqual(Array.from({ length: 20 }, (_, bin) => scores.filter((value) => binOf(value) === bin).length));
    expect(bins[0]!.from).toBe(-3);
    expect(bins[19]!.to).toBe(9.25);

    // Whole numbers: bins of whole units (1..8: eight bins of one).
    expect(byName.id).toMatchObject({ type: "BIGINT", min: 1, max: 8, mean: 4.5 });
    expect(byName.id.histogram).toEqual(ROWS.map((row) => ({ from: row[0], to: row[0], count: 1 })));

    // Dates: min, max and day bins that count every date once.
    expect(byName.day).toMatchObject({ type: "DATE", min: "2023-12-31", max: "2024-12-31", mean: null, topValues: null });
    const dayBins = byName.day.histogram as { from: string; to: string; count: number }[];
    expect(dayBins.length).toBeLessThanOrEqual(20);
    expect(dayBins[0]!.from).toBe("2023-12-31");
    expect(dayBins.at(-1)!.to).toBe("2024-12-31");
    expect(dayBins.reduce((sum, bin) => sum + bin.count, 0)).toBe(values(3).length);
    for (const day of values(3) as string[]) {
      expect(
        dayBins.filter((bin) => bin.from <= day && day <= bin.to).reduce((sum, bin) => sum + bin.count, 0),
        day,
      ).toBeGreaterThan(0);
    }

    // Timestamps: min, max, 20 bins counting every value.
    expect(byName.ts).toMatchObject({ type: "TIMESTAMP", min: "2023-12-31 00:00:00", max: "2024-06-30 23:59:59" });
    expect(byName.ts.histogram).toHaveLength(20);
    expect(byName.ts.histogram.reduce((sum: number, bin: UntypedData) => sum + bin.count, 0)).toBe(values(4).length);

    // Text and booleans: the most frequent values, ties by value.
    const counts = (index: number) => {
      const found = new Map<unknown, number>();
      for (const value of values(index)) found.set(value, (found.get(value) ?? 0) + 1);
      return [...found]
        .map(([value, count]) => ({ value, count }))
        .sort((a, b) => b.count - a.count || String(a.value).localeCompare(String(b.value)));
    };
    expect(byName.name).toMatchObject({ type: "VARCHAR", min: "Oslo", max: "Rome", histogram: null, mean: null });
    expect(byName.name.topValues).toEqual(counts(1));
    expect(byName.ok).toMatchObject({ type: "BOOLEAN", min: null, max: null, histogram: null });
    expect(byName.ok.topValues).toEqual(counts(5));
  });
});

describe("rows", () => {
  it("filters with every operator on every type, values coerced to the column's type", async () => {
    const cases: [unknown, (row: Row) => boolean][] = [
      [{ column: "id", op: "EQ", value: 3 }, (row) => row[0] === 3],
      [{ column: "id", op: "EQ", value: "3" }, (row) => row[0] === 3],
      [{ column: "id", op: "NE", value: 3 }, (row) => row[0] !== 3],
      [{ column: "id", op: "LT", value: 3 }, (row) => row[0] < 3],
      [{ column: "id", op: "LTE", value: 3 }, (row) => row[0] <= 3],
      [{ column: "id", op: "GT", value: 6 }, (row) => row[0] > 6],
      [{ column: "id", op: "GTE", value: 6 }, (row) => row[0] >= 6],
      [{ column: "id", op: "IN", values: [1, "4", 8] }, (row) => [1, 4, 8].includes(row[0])],
      [{ column: "score", op: "EQ", value: 1.5 }, (row) => row[2] === 1.5],
      [{ column: "score", op: "GT", value: "2" }, (row) => row[2] !== null && row[2] > 2],
      [{ column: "score", op: "LT", value: 0 }, (row) => row[2] !== null && row[2] < 0],
      [{ column: "score", op: "IS_NULL" }, (row) => row[2] === null],
      [{ column: "score", op: "IS_NOT_NULL" }, (row) => row[2] !== null],
      [{ column: "name", op: "EQ", value: "Paris" }, (row) => row[1] === "Paris"],
      [{ column: "name", op: "NE", value: "Paris" }, (row) => row[1] !== null && row[1] !== "Paris"],
      [{ column: "name", op: "CONTAINS", value: "o" }, (row) => row[1]?.includes("o") ?? false],
      [{ column: "name", op: "STARTS_WITH", value: "Po" }, (row) => row[1]?.startsWith("Po") ?? false],
      [{ column: "name", op: "IN", values: ["Oslo", "Rome"] }, (row) => row[1] === "Oslo" || row[1] === "Rome"],
      [{ column: "name", op: "GTE", value: "Paris" }, (row) => row[1] !== null && row[1] >= "Paris"],
      [{ column: "name", op: "IS_NULL" }, (row) => row[1] === null],
      [{ column: "day", op: "GTE", value: "2024-01-15" }, (row) => row[3] !== null && row[3] >= "2024-01-15"],
      [{ column: "day", op: "EQ", value: "2024-01-01" }, (row) => row[3] === "2024-01-01"],
      [{ column: "day", op: "IN", values: ["2024-01-01", "2023-12-31"] }, (row) => row[3] === "2024-01-01" || row[3] === "2023-12-31"],
      [{ column: "ts", op: "LT", value: "2024-01-01T10:30:00" }, (row) => row[4] !== null && row[4] < "2024-01-01 10:30:00"],
      [{ column: "ts", op: "EQ", value: "2024-01-01 10:00:00" }, (row) => row[4] === "2024-01-01 10:00:00"],
      [{ column: "ts", op: "IS_NOT_NULL" }, (row) => row[4] !== null],
      [{ column: "ok", op: "EQ", value: true }, (row) => row[5] === true],
      [{ column: "ok", op: "NE", value: true }, (row) => row[5] === false],
      [{ column: "ok", op: "IN", values: [false] }, (row) => row[5] === false],
      [{ column: "ok", op: "IS_NULL" }, (row) => row[5] === null],
      [
        {
          and: [
            { column: "name", op: "EQ", value: "Paris" },
            { column: "score", op: "LTE", value: 1.5 },
          ],
        },
        (row) => row[1] === "Paris" && row[2] !== null && row[2] <= 1.5,
      ],
      [
        {
          or: [
            { column: "id", op: "EQ", value: 2 },
            { column: "ok", op: "IS_NULL" },
          ],
        },
        (row) => row[0] === 2 || row[5] === null,
      ],
      // SQL's three values: a comparison with a missing value is not true, nor is its negation.
      [{ not: { column: "score", op: "EQ", value: 1.5 } }, (row) => row[2] !== null && row[2] !== 1.5],
      [{ not: { column: "score", op: "IS_NULL" } }, (row) => row[2] !== null],
    ];
    for (const [where, test] of cases) expect(await idsWhere(where), JSON.stringify(where)).toEqual(expectedIds(test));
  });

  it("sorts by any columns, missing values last, ties broken by the row's position", async () => {
    const { response, page } = await rows({ orderBy: [{ column: "score", direction: "DESC" }], columns: ["id", "score"] });
    expect(response.errors).toBeUndefined();
    const expected = [...ROWS]
      .sort((a, b) => (a[2] === null ? 1 : 0) - (b[2] === null ? 1 : 0) || (b[2] ?? 0) - (a[2] ?? 0) || a[0] - b[0])
      .map((row) => [row[0], row[2]]);
    expect(page!.nodes).toEqual(expected);
    expect(page!.columns).toEqual(["id", "score"]);

    const twoKeys = await rows({ orderBy: [{ column: "name" }, { column: "day", direction: "DESC" }], columns: ["name", "day", "id"] });
    const byTwo = [...ROWS]
      .sort(
        (a, b) =>
          (a[1] === null ? 1 : 0) - (b[1] === null ? 1 : 0) ||
          (a[1] ?? "").localeCompare(b[1] ?? "") ||
          (a[3] === null ? 1 : 0) - (b[3] === null ? 1 : 0) ||
          (b[3] ?? "").localeCompare(a[3] ?? "") ||
          a[0] - b[0],
      )
      .map((row) => [row[1], row[3], row[0]]);
    expect(twoKeys.page!.nodes).toEqual(byTwo);
  });

  it("pages through a whole result with cursors; the total is exact", async () => {
    const query = { where: { column: "id", op: "NE", value: 5 }, orderBy: [{ column: "score" }], columns: ["id"] };
    const { page: all } = await rows(query);
    const seen: number[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { response, page } = await rows({ ...query, first: 3, after });
      expect(response.errors).toBeUndefined();
      expect(page!.totalCount).toBe(ROWS.length - 1);
      expect(page!.pageInfo.hasPreviousPage).toBe(pages > 0);
      seen.push(...page!.nodes.map((node: number[]) => node[0]));
      pages += 1;
      if (!page!.pageInfo.hasNextPage) break;
      after = page!.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(all!.nodes.map((node: number[]) => node[0]));
    expect(new Set(seen).size).toBe(ROWS.length - 1);
  });

  it("counts first in the query's cost", async () => {
    const cost = async (first: number) => (await rows({ first, columns: ["id"] })).response.extensions!.cost as number;
    const [small, large] = [await cost(10), await cost(100)];
    // A version's files count as 20 (cost-budget.ts): 20 × 90 more rows.
    expect(large - small).toBe(20 * 90);
  });

  it("refuses bad input as BAD_USER_INPUT naming the field, before running anything", async () => {
    const { page: first } = await rows({ first: 2, columns: ["id"] });
    const cursor = first!.pageInfo.endCursor;
    const { page: other } = await rows({ first: 1 }, api, otherDatasetId);
    const deep = (depth: number): unknown => (depth === 0 ? { column: "id", op: "IS_NULL" } : { not: deep(depth - 1) });
    const cases: [Record<string, unknown>, string][] = [
      [{ where: { column: "nope", op: "EQ", value: 1 } }, "where.column"],
      [
        {
          where: {
            and: [
              { column: "id", op: "EQ", value: 1 },
              { column: "id", op: "EQ", value: "one" },
            ],
          },
        },
        "where.and[1].value",
      ],
      [{ where: { column: "id", op: "EQ", value: 1.5 } }, "where.value"],
      [{ where: { column: "day", op: "EQ", value: "2024-02-30" } }, "where.value"],
      [{ where: { column: "ts", op: "EQ", value: "yesterday" } }, "where.value"],
      [{ where: { column: "ok", op: "EQ", value: "true" } }, "where.value"],
      [{ where: { column: "name", op: "EQ", value: 5 } }, "where.value"],
      [{ where: { column: "score", op: "CONTAINS", value: "1" } }, "where.op"],
      [{ where: { column: "ok", op: "LT", value: true } }, "where.op"],
      [{ where: { column: "id", op: "IN", values: [1, "x"] } }, "where.values[1]"],
      [{ where: { column: "id", op: "IN", values: [] } }, "where.values"],
      [{ where: { column: "id", op: "IS_NULL", value: 1 } }, "where.value"],
      [{ where: { column: "id", op: "EQ" } }, "where.value"],
      [{ where: { column: "id" } }, "where.op"],
      [{ where: { and: [], or: [] } }, "where"],
      [{ where: { and: [] } }, "where.and"],
      [{ where: deep(9) }, "where.not.not.not.not.not.not.not.not"],
      [{ where: { column: "id", op: "IN", values: Array.from({ length: 101 }, (_, index) => index) } }, "where"],
      [{ orderBy: [{ column: "nope" }] }, "orderBy[0].column"],
      [{ orderBy: [{ column: "id" }, { column: "id" }] }, "orderBy[1].column"],
      [{ columns: ["id", "nope"] }, "columns[1]"],
      [{ columns: [] }, "columns"],
      [{ first: 501 }, "first"],
      [{ first: -1 }, "first"],
      [{ after: "not-a-cursor" }, "after"],
      // A cursor of the same table with another query, and one of another file.
      [{ first: 2, columns: ["name"], after: cursor }, "after"],
      [{ first: 1, after: other!.pageInfo.endCursor }, "after"],
    ];
    for (const [variables, field] of cases) {
      const { response } = await rows(variables);
      expect(errorCode(response), JSON.stringify(variables)).toBe("BAD_USER_INPUT");
      expect(response.errors![0]!.extensions!.field, JSON.stringify(variables)).toBe(field);
    }
    // The same cursor with its own query goes on.
    expect((await rows({ first: 2, columns: ["id"], after: cursor })).page!.nodes).toEqual([[3], [4]]);
  });

  it("is the file's: a stranger finds no dataset, and a table is null until its preview is READY", async () => {
    const stranger = await createUser(api);
    const response = await api.graphql(TABLE_QUERY, { id: datasetId }, { token: stranger.token });
    expect(errorCode(response)).toBe("NOT_FOUND");
    const text = await api.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { files { table { rowCount } } } } }`,
      { id: (await commitOnly("notes.txt")).id },
      { token: owner.token },
    );
    expect(text.data.dataset.latestVersion.files[0].table).toBeNull();
  });
});

async function commitOnly(path: string) {
  const dataset = await createDataset(api, owner);
  await commitFiles(api, owner.token, dataset.id, { [path]: Buffer.from("not a table\n") });
  return dataset;
}

/** The table readers running under this process (the test runs the server in-process). */
function readerPids(): number[] {
  const listed = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return listed
    .split("\n")
    .filter((line) => line.includes("query-reader.mjs"))
    .map((line) => Number.parseInt(line.trim(), 10));
}

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.origin}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
}

/** A Parquet file of the other types, written by DuckDB itself. */
async function typesFixture(): Promise<Buffer> {
  const directory = await mkdtemp(join(tmpdir(), "tables-test-"));
  const instance = await DuckDBInstance.create(":memory:", { autoinstall_known_extensions: "false", autoload_known_extensions: "false" });
  const connection = await instance.connect();
  try {
    const path = join(directory, "types.parquet");
    await connection.run(
      `copy (select * from (values
         (1::integer, 1.1::float, 2.50::decimal(10,2), timestamptz '2024-01-01 00:00:00+00', [1, 2]),
         (2::integer, 2.2::float, 3.75::decimal(10,2), timestamptz '2024-01-01 12:00:00+00', null),
         (3::integer, null, 1.25::decimal(10,2), null, [3])
       ) t(i, f, d, tz, l)) to '${path}' (format parquet)`,
    );
    return await readFile(path);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(directory, { recursive: true, force: true });
  }
}

describe("other column types", () => {
  let typesId: string;
  beforeAll(async () => {
    typesId = (await createDataset(api, owner)).id;
    await commitFiles(api, owner.token, typesId, { "types.parquet": await typesFixture() });
    expect((await settledPreviews(api, owner.token, typesId, 20, 120))["types.parquet"].status).toBe("READY");
  }, 180_000);

  it("compares FLOAT, DECIMAL, INTEGER and TIMESTAMP WITH TIME ZONE by their type; lists take only IS_NULL", async () => {
    const ids = async (where: unknown) => {
      const { response, page } = await rows({ where, columns: ["i"] }, api, typesId);
      expect(response.errors, JSON.stringify(where)).toBeUndefined();
      return page!.nodes.map((node: number[]) => node[0]);
    };
    // 1.1 as a FLOAT is not the double 1.1: the value is cast to the column's own type.
    expect(await ids({ column: "f", op: "EQ", value: 1.1 })).toEqual([1]);
    expect(await ids({ column: "d", op: "GT", value: "2.5" })).toEqual([2]);
    expect(await ids({ column: "d", op: "LTE", value: 2.5 })).toEqual([1, 3]);
    expect(await ids({ column: "i", op: "IN", values: [3, 1] })).toEqual([1, 3]);
    expect(await ids({ column: "tz", op: "GT", value: "2024-01-01T13:00:00+02:00" })).toEqual([2]);
    // No offset: UTC.
    expect(await ids({ column: "tz", op: "EQ", value: "2024-01-01 12:00:00" })).toEqual([2]);
    expect(await ids({ column: "l", op: "IS_NULL" })).toEqual([2]);
    const refused = await rows({ where: { column: "l", op: "EQ", value: [1, 2] } }, api, typesId);
    expect(errorCode(refused.response)).toBe("BAD_USER_INPUT");
    expect(refused.response.errors![0]!.extensions!.field).toBe("where.op");
    const tooBig = await rows({ where: { column: "i", op: "EQ", value: 2 ** 31 } }, api, typesId);
    expect(tooBig.response.errors![0]!.extensions!.field).toBe("where.value");

    const response = await api.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { files { table { columns { name type min max distinctCount histogram { count } topValues { value } } } } } } }`,
      { id: typesId },
      { token: owner.token },
    );
    const columns = Object.fromEntries(
      response.data.dataset.latestVersion.files[0].table.columns.map((column: UntypedData) => [column.name, column]),
    );
    expect(columns.d).toMatchObject({ type: "DECIMAL(10,2)", min: 1.25, max: 3.75, distinctCount: 3 });
    expect(columns.i).toMatchObject({ type: "INTEGER", min: 1, max: 3, histogram: [{ count: 1 }, { count: 1 }, { count: 1 }] });
    expect(columns.tz).toMatchObject({ type: "TIMESTAMP WITH TIME ZONE", distinctCount: 2 });
    expect(columns.tz.histogram.reduce((sum: number, bin: UntypedData) => sum + bin.count, 0)).toBe(2);
    expect(columns.l).toMatchObject({ min: null, max: null, histogram: null, topValues: null, distinctCount: 2 });
  });
});

describe("the reader pool", () => {
  let one: TestServer;
  beforeAll(async () => {
    // One reader, so that the stopped one is the one the query goes to; a long time limit, so that only the kill ends it.
    one = await startServer(
      { TABLE_READERS: "1", TABLE_QUERY_TIMEOUT: "600000", PREVIEW_WORKERS: "0", STORAGE_URL: api.config.files.storageUrl, JWT_SECRET: api.secret },
      undefined,
      api,
    );
  });
  afterAll(() => one?.close());

  it("fails a query whose reader is killed mid-query cleanly, and the next query works in a new reader", async () => {
    const before = new Set(readerPids());
    expect((await rows({ first: 1 }, one)).page!.nodes).toHaveLength(1);
    const [pid] = readerPids().filter((found) => !before.has(found));
    expect(pid).toBeDefined();
    // Stopped, the reader holds the query until it is killed: mid-query, whatever the machine's speed.
    process.kill(pid!, "SIGSTOP");
    const pending = rows({ where: { column: "name", op: "CONTAINS", value: "o" } }, one);
    for (const deadline = Date.now() + 30_000; (await metric(one, "table_queries_running")) !== 1; ) {
      if (Date.now() > deadline) throw new Error("the query never reached the reader");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    process.kill(pid!, "SIGKILL");
    const { response } = await pending;
    expect(errorCode(response)).toBe("SERVICE_UNAVAILABLE");
    expect(JSON.stringify(response.errors)).not.toMatch(/duckdb|parquet|select|SIGKILL/i);
    const { page } = await rows({ where: { column: "id", op: "LT", value: 3 }, columns: ["id"] }, one);
    expect(page!.nodes).toEqual([[1], [2]]);
    expect(readerPids()).not.toContain(pid);
  });

  it("answers the pages a page read ahead from memory: no reader, the same rows and total", async () => {
    const cached = await startServer(
      { TABLE_READERS: "1", TABLE_QUERY_TIMEOUT: "600000", PREVIEW_WORKERS: "0", STORAGE_URL: api.config.files.storageUrl, JWT_SECRET: api.secret },
      undefined,
      api,
    );
    try {
      const query = { where: { column: "id", op: "NE", value: 4 }, orderBy: [{ column: "id", direction: "DESC" }], columns: ["id"] };
      const before = new Set(readerPids());
      const first = await rows({ ...query, first: 2 }, cached);
      expect(first.page!.nodes).toEqual([[8], [7]]);
      const [pid] = readerPids().filter((found) => !before.has(found));
      // Stopped, the reader could answer nothing: what follows comes from the read-ahead.
      process.kill(pid!, "SIGSTOP");
      try {
        const second = await rows({ ...query, first: 2, after: first.page!.pageInfo.endCursor }, cached);
        expect(second.page!.nodes).toEqual([[6], [5]]);
        const rest = await rows({ ...query, first: 3, after: second.page!.pageInfo.endCursor }, cached);
        expect(rest.page!.nodes).toEqual([[3], [2], [1]]);
        expect(rest.page!.totalCount).toBe(7);
        expect(rest.page!.pageInfo.hasNextPage).toBe(false);
      } finally {
        process.kill(pid!, "SIGCONT");
      }
    } finally {
      await cached.close();
    }
  });

  it("bounds each user's queries running at once: one more is RATE_LIMITED", async () => {
    const bounded = await startServer(
      { TABLE_READERS: "1", TABLE_QUERIES_PER_USER: "1", PREVIEW_WORKERS: "0", STORAGE_URL: api.config.files.storageUrl, JWT_SECRET: api.secret },
      undefined,
      api,
    );
    try {
      const before = new Set(readerPids());
      expect((await rows({ first: 1 }, bounded)).response.errors).toBeUndefined();
      const [pid] = readerPids().filter((found) => !before.has(found));
      process.kill(pid!, "SIGSTOP");
      // A query no earlier one asked (the first page's read-ahead would answer its own again).
      const held = rows({ first: 1, where: { column: "id", op: "GT", value: 1 } }, bounded);
      for (const deadline = Date.now() + 30_000; (await metric(bounded, "table_queries_running")) !== 1; ) {
        if (Date.now() > deadline) throw new Error("the query never reached the reader");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const { response } = await rows({ first: 1 }, bounded);
      expect(errorCode(response)).toBe("RATE_LIMITED");
      process.kill(pid!, "SIGKILL");
      expect(errorCode((await held).response)).toBe("SERVICE_UNAVAILABLE");
      expect((await rows({ first: 1, columns: ["id"] }, bounded)).page!.nodes).toEqual([[1]]);
    } finally {
      await bounded.close();
    }
  });

  it("answers a query over its time limit with REQUEST_TOO_EXPENSIVE and replaces the reader", async () => {
    const quick = await startServer(
      { TABLE_READERS: "1", TABLE_QUERY_TIMEOUT: "1000", PREVIEW_WORKERS: "0", STORAGE_URL: api.config.files.storageUrl, JWT_SECRET: api.secret },
      undefined,
      api,
    );
    try {
      const before = new Set(readerPids());
      expect((await rows({ first: 1 }, quick)).response.errors).toBeUndefined();
      const [pid] = readerPids().filter((found) => !before.has(found));
      process.kill(pid!, "SIGSTOP");
      const { response } = await rows({ first: 1, where: { column: "id", op: "GT", value: 1 } }, quick);
      expect(errorCode(response)).toBe("REQUEST_TOO_EXPENSIVE");
      expect(response.errors![0]!.extensions!.limit).toBe("TABLE_QUERY_TIMEOUT");
      expect((await rows({ first: 1, columns: ["id"] }, quick)).page!.nodes).toEqual([[1]]);
    } finally {
      await quick.close();
    }
  });
});
