import { notFound } from "../common/errors.js";
import type { Resolvers } from "../generated/resolvers.js";
import { requireViewer } from "../policy/field-rules.js";
import { checkId } from "../common/validation.js";
import { settledPaths } from "../previews/store.js";
import type { StreamItem } from "./stream.js";

/** Access to these resolvers is decided in src/policy/field-rules.ts; which events reach whom, in the hub (hub.ts). */
export const eventResolvers: Resolvers = {
  Subscription: {
    datasetEvents: {
      subscribe: (_parent, args, context) => {
        const viewer = requireViewer(context);
        const datasetId = args.datasetId == null ? null : checkId("datasetId", args.datasetId);
        // Over HTTP there is no connection to carry events: those requests are refused before this (websocket.ts).
        if (!context.subscriber) throw new Error("a subscription was executed without a WebSocket connection");
        return context.services.events.open(context.db, viewer, datasetId, context.subscriber);
      },
      resolve: (item: StreamItem) => {
        if (item.kind === "accessLost") throw notFound("Dataset");
        return item.event;
      },
    },
  },
  DatasetEvent: {
    version: (event, _args, context) => {
      if (event.versionNumber === null || !event.dataset) return null;
      return event.version !== undefined ? event.version : context.loaders.files.version(event.datasetId, event.versionNumber);
    },
    paths: (event, _args, context) => {
      if (event.type !== "PREVIEW_READY" || event.versionNumber === null || !event.sha256 || !event.dataset) return null;
      return settledPaths(context.db, context.loaders.previews, { datasetId: event.datasetId, version: event.versionNumber, sha256: event.sha256 });
    },
  },
};
