import type { Context } from "../graphql/context.js";
import { chargeListLength } from "../graphql/cost-budget.js";
import type { Resolvers } from "../generated/resolvers.js";
import { checkFirst, connectionResolvers, toConnection, totalCountFrom } from "../graphql/pagination.js";
import type { Viewer } from "../auth/viewer.js";
import { requireViewer } from "../policy/field-rules.js";
import { commitVersion, MAX_FILES_PER_VERSION, parseCommitInput } from "./commit.js";
import type { FileRow, VersionRow } from "./rows.js";
import { archivePath, type DownloadGrant, downloadPath, signArchive, signDownload } from "./signed-urls.js";
import * as store from "./store.js";

/**
 * Access to these resolvers is decided in src/policy/field-rules.ts; a version is reached only through a dataset the viewer may read.
 * A list of files costs what it holds: its length (the version's `fileCount`) is charged to the
 * request's cost before a row is read, and one version's whole list always fits (cost-budget.ts).
 */

/** The viewer's grant for a signed link, valid for the configured lifetime. */
function grantOf(viewer: Viewer, context: Context): DownloadGrant {
  const expires = Math.floor(Date.now() / 1000) + context.services.files.downloadUrlTtlSeconds;
  return { userId: viewer.id, sessionId: viewer.sessionId, tokenVersion: viewer.tokenVersion, expires };
}

/**
 * The viewer's signed link to `file`. An anonymous reader (who reached the file through a
 * PUBLIC or UNLISTED dataset) gets the plain URL: the route serves it to anyone for as long
 * as the dataset stays so, and not a request longer.
 */
function downloadUrl(context: Context, file: FileRow): string {
  const target = { datasetId: file.datasetId, version: file.version, path: file.path };
  const viewer = context.viewer;
  if (!viewer) return `${context.origin}${downloadPath(target)}`;
  return `${context.origin}${downloadPath(target)}?${signDownload(context.services.files.downloadKey, grantOf(viewer, context), target)}`;
}

/** The viewer's signed link to the whole of `version` as one ZIP (for an anonymous reader, the plain URL, as for a file). */
function archiveUrl(context: Context, version: VersionRow): string {
  const target = { datasetId: version.datasetId, version: version.number };
  const viewer = context.viewer;
  if (!viewer) return `${context.origin}${archivePath(target)}`;
  return `${context.origin}${archivePath(target)}?${signArchive(context.services.files.downloadKey, grantOf(viewer, context), target)}`;
}

export const fileResolvers: Resolvers = {
  Mutation: {
    commitDatasetVersion: async (_parent, args, context) => {
      const request = await parseCommitInput(args.input);
      const version = await commitVersion(
        context.db,
        context.services.audit,
        requireViewer(context),
        request,
        { storage: context.services.config.files.storageQuota, metadata: context.services.config.files.metadataQuota },
        context.services.previews,
      );
      context.services.previews.committed();
      return version;
    },
  },
  Dataset: {
    latestVersion: (dataset, _args, context) => context.loaders.files.latestVersion(dataset.id),
    version: (dataset, args, context) => (args.number < 1 ? null : context.loaders.files.version(dataset.id, args.number)),
    versions: async (dataset, args, context) => {
      const first = checkFirst(args.first);
      const before = args.after == null ? null : store.decodeVersionCursor(args.after);
      const page = await store.listVersions(context.db, dataset.id, before, first + 1);
      return toConnection(
        page.rows,
        first,
        args.after,
        store.encodeVersionCursor,
        totalCountFrom(page.totalCount, () => store.countVersions(context.db, dataset.id)),
      );
    },
    files: async (dataset, _args, context, info) => {
      const latest = await context.loaders.files.latestVersion(dataset.id);
      if (!latest) return [];
      chargeListLength(context, info, latest.fileCount, MAX_FILES_PER_VERSION);
      return context.loaders.files.files(dataset.id, latest.number, latest.fileCount);
    },
  },
  DatasetVersion: {
    author: (version, _args, context) => (version.authorId ? context.loaders.users.load(version.authorId) : null),
    files: (version, _args, context, info) => {
      chargeListLength(context, info, version.fileCount, MAX_FILES_PER_VERSION);
      return context.loaders.files.files(version.datasetId, version.number, version.fileCount);
    },
    archiveUrl: (version, _args, context) => archiveUrl(context, version),
  },
  DatasetFile: {
    downloadUrl: (file, _args, context) => downloadUrl(context, file),
  },
  DatasetVersionConnection: connectionResolvers<VersionRow>(),
};
