import type { GraphQLScalarType } from "graphql";
import type { Viewer } from "../auth/viewer.js";
import type { Context } from "../graphql/context.js";
import { forbidden, unauthenticated } from "../common/errors.js";
import type { Resolvers, ResolversParentTypes } from "../generated/resolvers.js";
import type { UserRow } from "../users/rows.js";
import type { AccountChange } from "../users/store.js";
import { actsAsAdmin, datasetLimit, mayWrite } from "./dataset-access.js";

/**
 * Who may see or do what: the one place that decides (docs/api.md "Who sees what").
 *
 * Every field of `Query`, `Mutation` and `Subscription` needs a rule here, every object type an entry,
 * and every other field that takes arguments or has a resolver of its own a rule, or the
 * server refuses to start (`apply.ts`): access is denied by default. Plain fields of a
 * row are visible to whoever was allowed to reach the object. Which rows a user reaches
 * is decided by the dataset scopes (dataset-access.ts) and enforced in SQL.
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

const isAdmin = actsAsAdmin;

export const anyone: Rule = () => {};

/** For fields computed from an object the viewer was already allowed to reach. */
export const withParent: Rule = () => {};

export const signedIn: Rule = (context) => {
  requireViewer(context);
};

/** An admin signed in in person: a personal access token of an admin is FORBIDDEN here too. */
export const adminOnly: Rule = (context) => {
  if (!isAdmin(requireViewer(context))) throw forbidden("Only admins may do this");
};

/**
 * What only a person at the keyboard should do (passwords, sessions, tokens themselves):
 * FORBIDDEN through a personal access token, so a leaked token cannot entrench itself.
 */
export const personOnly: Rule = (context) => {
  if (requireViewer(context).credential.kind !== "session") throw forbidden("Sign in with your password for this: an access token may not do it");
};

/** Any change: a person, or a personal access token of scope WRITE (READ tokens only read). */
export const writer: Rule = (context) => {
  if (!mayWrite(requireViewer(context))) throw forbidden("This access token may only read (scope READ)");
};

/** A change outside any one dataset (making one): a writer whose token, if any, is not limited to some datasets. */
export const unlimitedWriter: Rule = (context, parent) => {
  writer(context, parent);
  if (datasetLimit(requireViewer(context)) !== null) throw forbidden("This access token is limited to some datasets: it cannot make another");
};

/** A user's private fields: for themself (also right after they signed in) and admins. */
const selfOrAdmin: Rule<UserRow> = (context, user) => {
  const self = context.viewer?.id === user.id || context.provenUserIds.has(user.id);
  if (!self && !isAdmin(context.viewer)) throw forbidden("Only the user themself and admins may see this");
};

/** The policy table, by GraphQL type and field. */
export const policy: PolicyTable = {
  Query: {
    me: signedIn,
    datasets: signedIn,
    // Anyone: anonymous readers reach PUBLIC and UNLISTED datasets (the read scope, in SQL).
    dataset: anyone,
    // The public catalog: PUBLIC datasets only, the same for everyone.
    exploreDatasets: anyone,
    adminDatasets: adminOnly,
    users: adminOnly,
    auditEvents: adminOnly,
    accessTokens: personOnly,
  },
  Mutation: {
    register: anyone,
    login: anyone,
    refreshSession: anyone,
    // Sessions and passwords are a person's: a token ends none and changes none.
    logout: personOnly,
    logoutAll: personOnly,
    changePassword: personOnly,
    createDataset: unlimitedWriter,
    updateDataset: writer,
    // Deleting loses every version: a person's decision, never a script's (not in WRITE).
    deleteDataset: personOnly,
    setUserRole: adminOnly,
    setUserActive: adminOnly,
    // Who may change, delete, commit to and share which dataset: the dataset scopes (dataset-access.ts), in SQL.
    commitDatasetVersion: writer,
    shareDataset: writer,
    unshareDataset: writer,
    // A token never makes or revokes tokens (a leaked one could not hide or multiply);
    // revoking: the token's owner or an admin, checked by the resolver.
    createAccessToken: personOnly,
    revokeAccessToken: personOnly,
  },
  // Checked when the subscription starts; which events reach the viewer is the read scope
  // (dataset-access.ts), checked for each event when it arrives (src/events/hub.ts).
  Subscription: {
    datasetEvents: signedIn,
  },
  // Collaborators meet each other's accounts: names, not how to reach them, whether they are
  // admins, or whether they are active (self or admin only).
  User: { email: selfOrAdmin, active: selfOrAdmin, role: selfOrAdmin },
  // A dataset is reached only within the viewer's read scope (owner, collaborators, admins,
  // and anyone for a PUBLIC or UNLISTED one): all of them see its owner (whose email stays
  // selfOrAdmin), versions and files; `collaborators` is empty for a reader whose access is
  // PUBLIC (`seesMembers`, dataset-access.ts).
  Dataset: {
    owner: withParent,
    latestVersion: withParent,
    version: withParent,
    versions: withParent,
    files: withParent,
    collaborators: withParent,
    viewerAccess: withParent,
    // Two of the dataset's versions, which whoever reached it may read.
    compareVersions: withParent,
  },
  // Reached through a readable dataset's collaborators, or by its owner sharing it.
  DatasetCollaborator: { user: withParent, addedBy: withParent },
  // archiveUrl: a link signed for the viewer (for an anonymous reader of a public dataset, its
  // plain URL); the archive route checks the access again when it is used.
  DatasetVersion: { author: withParent, files: withParent, archiveUrl: withParent },
  // Reached through a readable dataset's compareVersions: its files and their previews are the dataset's.
  VersionComparison: { changes: withParent },
  FileDifference: { columnChanges: withParent, rowCountDelta: withParent },
  ColumnChange: {},
  // An event reaches only a subscriber who may read its dataset at that moment (read scope).
  DatasetEvent: { version: withParent, paths: withParent },
  // A link signed for the viewer (for an anonymous reader of a public dataset, its plain URL);
  // the download route checks the access again when it is used.
  // The preview is the file's: whoever reached the file (through a dataset they may read) sees it.
  // The table is the file's too, like its preview: whoever reached the file may explore it.
  DatasetFile: { downloadUrl: withParent, preview: withParent, table: withParent },
  FilePreview: { rows: withParent },
  FileTable: { columns: withParent, rows: withParent },
  RowConnection: {},
  ColumnProfile: {},
  HistogramBin: {},
  ValueCount: {},
  FileColumn: {},
  DatasetVersionConnection: { nodes: withParent, totalCount: withParent },
  DatasetVersionEdge: {},
  DatasetConnection: { nodes: withParent, totalCount: withParent },
  ExploreConnection: { nodes: withParent, totalCount: withParent, facets: withParent },
  ExploreFacets: {},
  FacetValue: {},
  DatasetEdge: {},
  UserConnection: { nodes: withParent, totalCount: withParent },
  UserEdge: {},
  // Reachable only through auditEvents (admins); the actor is any user, email included.
  AuditEvent: { actor: withParent },
  AuditEventConnection: { nodes: withParent, totalCount: withParent },
  AuditEventEdge: {},
  PageInfo: {},
  AuthPayload: {},
  // Reached only by the token's owner (accessTokens, createAccessToken): its datasets are
  // read within the owner's read scope by the resolver.
  AccessToken: { datasets: withParent },
  CreatedAccessToken: {},
};

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
