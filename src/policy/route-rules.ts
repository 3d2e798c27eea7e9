/**
 * The HTTP routes beside /graphql and who may use each: the same scopes as the GraphQL
 * fields. `tests/routes.test.ts` fails for a registered route missing here.
 *
 * - `public`: anyone (health, metrics as configured, keys).
 * - `upload`: a signed-in viewer; creation needs `write` on the dataset; a later tus request
 *   the upload's own creator, still with `write` on its dataset (`HEAD`, `PATCH`); `DELETE`
 *   the creator whatever their access now (giving up one's own upload takes nothing from
 *   anyone, and frees their quota).
 * - `download`: a viewer (token or signed link) with `read` on the dataset, checked again on
 *   every request: one file's bytes, or a whole version's archive (each with its own links: a
 *   file's link never opens the archive); with no credential at all, anyone for a PUBLIC or
 *   UNLISTED dataset (the anonymous read scope), counted against the address's anonymous limit.
 */
export const routePolicy = {
  "/healthz": "public",
  "/readyz": "public",
  "/metrics": "public",
  "/.well-known/jwks.json": "public",
  "/graphql": "graphql",
  // Development only: GraphiQL's static files.
  "/playground/*": "public",
  "/uploads": "upload",
  "/uploads/*": "upload",
  "/datasets/:datasetId/versions/:version/files/*": "download",
  "/datasets/:datasetId/versions/:version/archive.zip": "download",
} as const satisfies Record<string, "public" | "graphql" | "upload" | "download">;
