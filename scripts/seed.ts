// `npm run seed`: sample data on the running development server (start it first with `npm start`).
// API_URL names another server's GraphQL endpoint; by default http://127.0.0.1:$PORT/graphql.
import { SAMPLE_ACCOUNT, seed } from "./seed-data.js";

const url = process.env.API_URL ?? `http://127.0.0.1:${process.env.PORT ?? "4000"}/graphql`;
const signIn = `sign in as ${SAMPLE_ACCOUNT.email} with the password "${SAMPLE_ACCOUNT.password}" (also bob@ and cleo@example.com, same password)`;

try {
  const result = await seed(url);
  if (!result.created) {
    console.log(`The sample data is there already (${result.datasets.map((dataset) => dataset.name).join(", ")}): nothing changed.`);
  } else {
    for (const dataset of result.datasets) console.log(`${dataset.owner}'s dataset "${dataset.name}" (${dataset.id}): ${dataset.paths.join(", ")}`);
    console.log(`Sample data made at ${url}: "Rainfall 2024" is shared with bob, "Soil samples" with ann.`);
  }
  console.log(`Open ${url} in a browser and ${signIn}.`);
} catch (error) {
  // fetch's own failure: nothing answered (refused, unreachable), as opposed to a server's refusal.
  if (error instanceof TypeError && error.message === "fetch failed")
    console.error(`No server answers at ${url}: start it first (npm start), then run npm run seed again.`);
  else console.error(`The seed stopped: ${(error as Error).message}`);
  process.exitCode = 1;
}
