import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import {
  CommitDatasetVersionDocument,
  CreateDatasetDocument,
  DatasetsDocument,
  RegisterDocument,
  ShareDatasetDocument,
} from "../client/generated/graphql.js";
import { Session, SessionRequestError } from "../client/session.js";
import { uploadFile } from "../client/upload.js";

/**
 * Sample data for a new development server, made through the API itself (GraphQL and tus),
 * as a frontend would: three users, datasets with committed CSV, Parquet and JSON lines files
 * (generated here, nothing downloaded), one shared. A second run changes nothing: it finds the
 * sample account with its datasets and says so; an account of that email with another password
 * is refused, never touched.
 */

/** The documented sample account (README.md, docs/development.md). */
export const SAMPLE_ACCOUNT = { email: "ann@example.com", username: "ann", password: "sample data passphrase" };
const OTHERS = [
  { email: "bob@example.com", username: "bob", password: "sample data passphrase" },
  { email: "cleo@example.com", username: "cleo", password: "sample data passphrase" },
];

export interface SeedResult {
  /** false: the sample data was there already, and nothing was changed. */
  created: boolean;
  datasets: Array<{ id: string; name: string; owner: string; paths: string[] }>;
}

/** The sample's CSV: daily rainfall at three stations. */
function rainfallCsv(): Buffer {
  const lines = ["station,date,rain_mm"];
  for (let day = 0; day < 120; day += 1) {
    const date = new Date(Date.UTC(2024, 0, 1 + day)).toISOString().slice(0, 10);
    for (const [index, station] of ["AX1", "BR7", "CQ3"].entries()) lines.push(`${station},${date},${((day * 7 + index * 13) % 23) / 2}`);
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** The sample's Parquet file, written by DuckDB (already a dependency of the previews). */
async function stationsParquet(): Promise<Buffer> {
  const directory = await mkdtemp(join(tmpdir(), "seed-"));
  const instance = await DuckDBInstance.create(":memory:", { autoinstall_known_extensions: "false", autoload_known_extensions: "false" });
  const connection = await instance.connect();
  try {
    const path = join(directory, "stations.parquet");
    await connection.run(
      `copy (select * from (values ('AX1', 'Ashford', 51.14, 0.87, 48), ('BR7', 'Bramley', 51.2, -0.55, 61), ('CQ3', 'Cobham', 51.33, -0.41, 37))
             t(station, name, latitude, longitude, elevation_m)) to '${path}' (format parquet)`,
    );
    return await readFile(path);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(directory, { recursive: true, force: true });
  }
}

function soilJsonl(): Buffer {
  const rows = Array.from({ length: 40 }, (_, index) => ({
    sample: index + 1,
    site: `S${(index % 5) + 1}`,
    ph: 5.5 + (index % 7) * 0.3,
    moist: index % 3 === 0,
  }));
  return Buffer.from(`${rows.map((row) => JSON.stringify(row)).join("\n")}\n`);
}

/** A typed operation through the session's fetch: its data, or an Error with the server's message. */
async function request<Data, Variables>(
  session: Session,
  url: string,
  document: TypedDocumentNode<Data, Variables>,
  variables: Variables,
): Promise<Data> {
  const response = await session.fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: Data; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  if (body.errors?.length || !body.data)
    throw new SessionRequestError(body.errors?.[0]?.message ?? `HTTP ${response.status}`, body.errors?.[0]?.extensions?.code, response.status);
  return body.data;
}

/** Signs in, registering the account first when it does not exist yet. */
async function accountSession(url: string, account: typeof SAMPLE_ACCOUNT): Promise<{ session: Session; existed: boolean }> {
  const session = new Session({ url });
  try {
    await session.signIn(account.email, account.password);
    return { session, existed: true };
  } catch (error) {
    if (!(error instanceof SessionRequestError && error.code === "UNAUTHENTICATED")) throw error;
  }
  try {
    session.adopt((await request(session, url, RegisterDocument, { input: account })).register);
  } catch (error) {
    if (error instanceof SessionRequestError && (error.code === "CONFLICT" || error.code === "BAD_USER_INPUT")) {
      throw new Error(
        `${account.email} exists with another password (${error.message}): the seed leaves it alone; seed an empty server (a new .data/)`,
      );
    }
    throw error;
  }
  return { session, existed: false };
}

/** Uploads `files` into a new dataset of the session's user and commits them as version 1. */
async function datasetWith(url: string, session: Session, input: { name: string; description: string }, files: Record<string, Buffer>) {
  const { createDataset } = await request(session, url, CreateDatasetDocument, { input });
  const endpoint = new URL("/uploads/", url).toString();
  const changes = [];
  for (const [path, file] of Object.entries(files)) {
    const { uploadId } = await uploadFile({ endpoint, accessToken: () => session.accessToken(), datasetId: createDataset.id, file, filename: path });
    changes.push({ path, uploadId });
  }
  await request(session, url, CommitDatasetVersionDocument, {
    input: { datasetId: createDataset.id, message: "Sample data", parentVersion: 0, changes },
  });
  return { id: createDataset.id, name: createDataset.name, paths: Object.keys(files) };
}

/** Seeds the server whose GraphQL endpoint is `url` (see above). */
export async function seed(url: string): Promise<SeedResult> {
  const ann = await accountSession(url, SAMPLE_ACCOUNT);
  if (ann.existed) {
    const { datasets } = await request(ann.session, url, DatasetsDocument, { first: 20, filter: { access: "ALL" } });
    if (datasets.totalCount > 0) {
      return { created: false, datasets: datasets.edges.map(({ node }) => ({ id: node.id, name: node.name, owner: "", paths: [] })) };
    }
  }
  const [bob, cleo] = [await accountSession(url, OTHERS[0]!), await accountSession(url, OTHERS[1]!)];
  const rainfall = await datasetWith(
    url,
    ann.session,
    { name: "Rainfall 2024", description: "Daily rainfall at three stations, and the stations themselves" },
    { "data/rainfall.csv": rainfallCsv(), "data/stations.parquet": await stationsParquet() },
  );
  const soil = await datasetWith(
    url,
    bob.session,
    { name: "Soil samples", description: "pH and moisture by site" },
    { "samples.jsonl": soilJsonl() },
  );
  await request(ann.session, url, ShareDatasetDocument, { datasetId: rainfall.id, username: "bob", role: "VIEWER" });
  await request(bob.session, url, ShareDatasetDocument, { datasetId: soil.id, username: "ann", role: "EDITOR" });
  for (const each of [ann, bob, cleo]) await each.session.signOut();
  return {
    created: true,
    datasets: [
      { ...rainfall, owner: "ann" },
      { ...soil, owner: "bob" },
    ],
  };
}
