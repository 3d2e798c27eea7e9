import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { makeExecutableSchema } from "@graphql-tools/schema";
import { GraphQLScalarType, type GraphQLSchema } from "graphql";
import { DateTimeResolver, EmailAddressResolver, JSONResolver, SafeIntResolver } from "graphql-scalars";
import { auditResolvers } from "../audit/resolvers.js";
import { authResolvers } from "../auth/resolvers.js";
import { datasetResolvers } from "../datasets/resolvers.js";
import { ISO_TIME } from "../db/timestamps.js";
import { eventResolvers } from "../events/resolvers.js";
import { comparisonResolvers } from "../files/comparison-resolvers.js";
import { fileResolvers } from "../files/resolvers.js";
import { previewResolvers } from "../previews/resolvers.js";
import { tableResolvers } from "../tables/resolvers.js";
import type { Resolvers } from "../generated/resolvers.js";
import { applyPolicy } from "../policy/apply.js";
import { policy } from "../policy/field-rules.js";
import { sessionResolvers } from "../sessions/resolvers.js";
import { sharingResolvers } from "../sharing/resolvers.js";
import { tokenResolvers } from "../tokens/resolvers.js";
import { userResolvers } from "../users/resolvers.js";
import { applyWriteLimit } from "./write-limit.js";

/**
 * graphql-scalars' DateTime, but a timestamp the database already wrote as `toISOString()`
 * would (src/db/timestamps.ts) goes out as it is, rather than parsed into a `Date` to be
 * formatted back into the same text. Any other value is serialized as before: a year past
 * 9999 (`+012000-…`, which `toISOString` writes and the scalar's own check refuses) as the
 * `Date` it was read as.
 */
const IsoDateTime = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  serialize(value) {
    if (typeof value !== "string") return DateTimeResolver.serialize(value);
    if (ISO_TIME.test(value)) return value;
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? DateTimeResolver.serialize(value) : date;
  },
});

/** The SDL: the source of truth for the API and for codegen. */
export const SCHEMA_FILE = fileURLToPath(new URL("../../schema/schema.graphql", import.meta.url));

const resolvers: Resolvers[] = [
  { DateTime: IsoDateTime, EmailAddress: EmailAddressResolver, JSON: JSONResolver, SafeInt: SafeIntResolver },
  fileResolvers,
  comparisonResolvers,
  previewResolvers,
  tableResolvers,
  auditResolvers,
  authResolvers,
  sessionResolvers,
  userResolvers,
  datasetResolvers,
  sharingResolvers,
  tokenResolvers,
  eventResolvers,
];

/** The SDL with its resolvers, before the policy is applied. */
export function buildUnguardedSchema(): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: readFileSync(SCHEMA_FILE, "utf8"),
    resolvers,
    resolverValidationOptions: { requireResolversToMatchSchema: "error" },
  });
}

/**
 * The executable schema: every field guarded by the policy table (deny by default), and
 * every mutation by a signed-in user, once allowed, counted against the write limit.
 */
export function buildSchema(): GraphQLSchema {
  return applyPolicy(applyWriteLimit(buildUnguardedSchema()), policy);
}
