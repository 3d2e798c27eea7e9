// `npm run example`: a frontend's whole journey through the API in a typed client (urql with
// the generated documents of client/generated, the session helper, the tus upload helper and
// graphql-ws): two users, a dataset, an upload, a commit, its preview announced live, a
// download, a share and an unshare. Against the running server (`npm start`), or API_URL.
import { createHash, randomUUID } from "node:crypto";
import { Client, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import {
  CommitDatasetVersionDocument,
  CreateDatasetDocument,
  DatasetDocument,
  DatasetEventsDocument,
  DatasetFilePreviewsDocument,
  RegisterDocument,
  ShareDatasetDocument,
  UnshareDatasetDocument,
} from "../client/generated/graphql.js";
import { Session } from "../client/session.js";
import { uploadFile } from "../client/upload.js";

const url = process.env.API_URL ?? `http://127.0.0.1:${process.env.PORT ?? "4000"}/graphql`;
const step = (text: string) => console.log(`- ${text}`);

/** A signed-in user: their session, an urql client on it, and graphql-ws for subscriptions. */
async function user(name: string) {
  const session = new Session({ url });
  // Node 20 has no WebSocket of its own: `ws` stands in (a browser needs nothing).
  const ws = createClient({ url: url.replace(/^http/, "ws"), connectionParams: session.connectionParams, webSocketImpl: WebSocket });
  const client = new Client({
    url,
    fetch: session.fetch,
    preferGetMethod: false,
    requestPolicy: "network-only",
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink) }),
        }),
      }),
    ],
  });
  const username = `${name}_${randomUUID().slice(0, 8)}`;
  const registered = await client
    .mutation(RegisterDocument, { input: { email: `${username}@example.com`, username, password: "an example passphrase" } })
    .toPromise();
  if (!registered.data) throw new Error(`register: ${registered.error?.message}`);
  session.adopt(registered.data.register);
  step(`registered ${username}`);
  return { session, client, ws, username, id: registered.data.register.user.id };
}

const owner = await user("owner");
const reader = await user("reader");
try {
  const created = await owner.client.mutation(CreateDatasetDocument, { input: { name: "Rainfall", description: "an example" } }).toPromise();
  const datasetId = created.data!.createDataset.id;
  step(`created the dataset ${datasetId}`);

  // Events of this dataset, live; the commit's preview is announced as PREVIEW_READY with its paths.
  const events: Array<{ type: string; paths?: string[] | null }> = [];
  const subscription = owner.client.subscription(DatasetEventsDocument, { datasetId }).subscribe(({ data }) => {
    if (data) events.push(data.datasetEvents);
  });

  const csv = Buffer.from(
    ["station,date,rain_mm", ...Array.from({ length: 50 }, (_, day) => `AX1,2024-05-${String((day % 28) + 1).padStart(2, "0")},${day % 7}`)].join(
      "\n",
    ),
  );
  const sha256 = createHash("sha256").update(csv).digest("hex");
  const { uploadId } = await uploadFile({
    endpoint: new URL("/uploads/", url).toString(),
    accessToken: () => owner.session.accessToken(),
    datasetId,
    file: csv,
    filename: "rain.csv",
    contentType: "text/csv",
    sha256,
  });
  step(`uploaded rain.csv over tus (${csv.length} bytes)`);

  // The subscription may not be in place yet (graphql-ws does not say): the preview's state is read too.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const committed = await owner.client
    .mutation(CommitDatasetVersionDocument, {
      input: { datasetId, message: "First data", parentVersion: 0, changes: [{ path: "data/rain.csv", uploadId }] },
    })
    .toPromise();
  const file = committed.data!.commitDatasetVersion.files[0]!;
  step(`committed version ${committed.data!.commitDatasetVersion.number}: ${file.path}`);

  for (let waited = 0; ; waited += 250) {
    const heard = events.find((event) => event.type === "PREVIEW_READY" && event.paths?.includes("data/rain.csv"));
    const previews = await owner.client.query(DatasetFilePreviewsDocument, { id: datasetId, rows: 3 }).toPromise();
    const preview = previews.data!.dataset.latestVersion!.files[0]!.preview;
    if (heard || preview.status !== "PENDING") {
      step(
        `preview ${preview.status}${heard ? " (PREVIEW_READY heard live)" : ""}: ${preview.rowCount} rows, columns ${preview.columns?.map((column) => column.name).join(", ")}`,
      );
      break;
    }
    if (waited > 120_000) throw new Error("the preview is still PENDING after two minutes: are the preview workers on (PREVIEW_WORKERS)?");
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  const downloaded = Buffer.from(await (await fetch(file.downloadUrl)).arrayBuffer());
  if (createHash("sha256").update(downloaded).digest("hex") !== sha256) throw new Error("the download differs from the upload");
  step("downloaded the same bytes through the signed link");

  await owner.client.mutation(ShareDatasetDocument, { datasetId, username: reader.username, role: "VIEWER" }).toPromise();
  const shared = await reader.client.query(DatasetDocument, { id: datasetId }).toPromise();
  step(`shared with ${reader.username}, who reads "${shared.data?.dataset.name}"`);
  await owner.client.mutation(UnshareDatasetDocument, { datasetId, userId: reader.id }).toPromise();
  const gone = await reader.client.query(DatasetDocument, { id: datasetId }).toPromise();
  step(`unshared: ${reader.username} now gets ${gone.error?.graphQLErrors[0]?.extensions.code}`);
  subscription.unsubscribe();
  console.log("done");
} finally {
  for (const each of [owner, reader]) {
    await each.ws.dispose();
    await each.session.signOut();
  }
}
