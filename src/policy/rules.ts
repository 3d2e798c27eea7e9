import type { GraphQLScalarType } from "graphql";
import type { Viewer } from "../auth/viewer.js";
import type { Context } from "../context.js";
import type { DatasetRow } from "../datasets/rows.js";
import { forbidden, unauthenticated } from "../errors.js";
import type { Resolvers, ResolversParentTypes } from "../generated/graphql.js";
import type { UserRow } from "../users/rows.js";
import type { AccountChange } from "../users/store.js";

/**
 * Who may see or do what: the one place that decides (docs/api.md "Who sees what").
 *
 * Every field of `Query` and `Mutation` needs a rule here, every object type an entry,
 * and every other field that takes arguments or has a resolver of its own a rule, or the
 * server refuses to start (`apply.ts`): access is denied by default. Plain fields of a
 * row are visible to whoever was allowed to reach the object. Which rows a user reaches
 * is decided by the scopes below and enforced in SQL.
 */

/** A check that throws the contract's error when the request may not go on. */
export type Rule<Parent = unknown> = (context: Context, parent: Parent) => void;

/** The schema's object types by name: the generated resolver map (codegen), less its scalars. */
type ObjectTypeName = {
  [T in keyof Resolvers]-?: NonNullable<Resolvers[T]> extends GraphQLScalarType ? never : T;
}[keyof Resolvers];
type FieldName<T extends ObjectTypeName> = Exclude<keyof NonNullable<Resolvers[T]>, `__${string}`>;
type RootTypeName = Extract<ObjectTypeName, "Query" | "Mutation" | "Subscription">;

/**
 * The shape of the policy table, from the schema: an entry for every object type, a rule
 * for every field of a root type, and elsewhere rules only where they are needed (which
 * fields need one is known only at run time: `apply.ts` checks it at start-up). A rule
 * gets the field's parent as its row type. So a misnamed type or field, a root field or a
 * type left out, or a rule for another type's rows fails `tsc`, not only the start-up.
 */
export type PolicyTable = {
  [T in ObjectTypeName]-?: T extends RootTypeName
    ? Record<FieldName<T>, Rule<ResolversParentTypes[T]>>
    : Partial<Record<FieldName<T>, Rule<ResolversParentTypes[T]>>>;
};

/** The signed-in viewer, or UNAUTHENTICATED. */
export function requireViewer(context: Context): Viewer {
  if (!context.viewer) throw unauthenticated();
  return context.viewer;
}

const isAdmin = (viewer: Viewer | null) => viewer?.role === "ADMIN";

export const anyone: Rule = () => {};

/** For fields computed from an object the viewer was already allowed to reach. */
export const withParent: Rule = () => {};

export const signedIn: Rule = (context) => {
  requireViewer(context);
};

export const adminOnly: Rule = (context) => {
  if (!isAdmin(requireViewer(context))) throw forbidden("Only admins may do this");
};

/** A user's private fields: for themself (also right after they signed in) and admins. */
const selfOrAdmin: Rule<UserRow> = (context, user) => {
  const self = context.viewer?.id === user.id || context.provenUserIds.has(user.id);
  if (!self && !isAdmin(context.viewer)) throw forbidden("Only the user themself and admins may see this");
};

/** A dataset's owner: for the owner and admins. */
const ownerOrAdmin: Rule<DatasetRow> = (context, dataset) => {
  if (context.viewer?.id !== dataset.userId && !isAdmin(context.viewer)) {
    throw forbidden("Only the dataset's owner and admins may see this");
  }
};

/** The policy table, by GraphQL type and field. */
export const policy: PolicyTable = {
  Query: {
    me: signedIn,
    datasets: signedIn,
    dataset: signedIn,
    adminDatasets: adminOnly,
    users: adminOnly,
    auditEvents: adminOnly,
  },
  Mutation: {
    register: anyone,
    login: anyone,
    refreshSession: anyone,
    logout: signedIn,
    logoutAll: signedIn,
    changePassword: signedIn,
    createDataset: signedIn,
    updateDataset: signedIn,
    deleteDataset: signedIn,
    setUserRole: adminOnly,
    setUserActive: adminOnly,
    // Who may commit to which dataset is the write scope below, in SQL.
    commitDatasetVersion: signedIn,
  },
  User: { email: selfOrAdmin, active: selfOrAdmin },
  // Versions and files of a dataset the viewer was allowed to reach (read scope).
  Dataset: { owner: ownerOrAdmin, latestVersion: withParent, version: withParent, versions: withParent, files: withParent },
  DatasetVersion: { author: withParent, files: withParent },
  // A link signed for the viewer; the download route checks the access again when it is used.
  // The preview is the file's: whoever reached the file (through a dataset they may read) sees it.
  DatasetFile: { downloadUrl: signedIn, preview: withParent },
  FilePreview: { rows: withParent },
  FileColumn: {},
  DatasetVersionConnection: { nodes: withParent, totalCount: withParent },
  DatasetVersionEdge: {},
  DatasetConnection: { nodes: withParent, totalCount: withParent },
  DatasetEdge: {},
  UserConnection: { nodes: withParent, totalCount: withParent },
  UserEdge: {},
  // Reachable only through auditEvents (admins); the actor is any user, email included.
  AuditEvent: { actor: withParent },
  AuditEventConnection: { nodes: withParent, totalCount: withParent },
  AuditEventEdge: {},
  PageInfo: {},
  AuthPayload: {},
};

/** Whose datasets a viewer may read: their own, or (admins) everyone's, shown as null. */
export function datasetReadScope(viewer: Viewer): { ownerId: string | null } {
  return { ownerId: isAdmin(viewer) ? null : viewer.id };
}

/**
 * The HTTP routes beside /graphql and who may use each: the same scopes as the GraphQL
 * fields. `tests/routes.test.ts` fails for a registered route missing here.
 *
 * - `public`: anyone (health, metrics as configured, keys).
 * - `upload`: a signed-in viewer; creation needs the dataset's write scope, every later tus
 *   request the upload's own creator.
 * - `download`: a signed-in viewer (token or signed link) within the dataset's read scope.
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
} as const satisfies Record<string, "public" | "graphql" | "upload" | "download">;

/** Whose datasets a viewer may change, delete, upload to and commit to: only their own, admins included. */
export function datasetWriteScope(viewer: Viewer): { ownerId: string } {
  return { ownerId: viewer.id };
}

/**
 * An admin may not demote or deactivate themself (`setUserRole`, `setUserActive`): another
 * admin has to, so nobody locks themself out by a slip. Changes that take nothing away
 * (setting their own role to ADMIN, or active to true) are let through: they change nothing.
 */
export function checkOwnAccountChange(viewer: Viewer, userId: string, change: AccountChange): void {
  if (viewer.id !== userId) return;
  if ("role" in change && change.role !== "ADMIN") throw forbidden("You cannot demote yourself; ask another admin to do it");
  if ("active" in change && !change.active) throw forbidden("You cannot deactivate yourself; ask another admin to do it");
}
