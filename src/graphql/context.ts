import type { AuditLog } from "../audit/events.js";
import type { FastifyBaseLogger } from "fastify";
import type { Viewer } from "../auth/viewer.js";
import type { ViewerCache } from "../auth/viewer-cache.js";
import type { ViewerChanges } from "../auth/viewer-changes.js";
import type { Metrics } from "../observability/metrics.js";
import type { RequestReport } from "../http/request-report.js";
import type { PasswordHasher } from "../auth/passwords.js";
import type { AccessTokens } from "../auth/tokens.js";
import type { Config } from "../config/config.js";
import type { CostBudget } from "./cost-budget.js";
import type { CountingDatabase } from "../db/counting.js";
import type { EventHub, SubscriberGate } from "../events/hub.js";
import type { GarbageCollector } from "../files/garbage.js";
import type { RequestLoaders } from "./loaders.js";
import type { AnonymousLimit } from "../auth/anonymous-limit.js";
import type { Previews } from "../previews/service.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { Tables } from "../tables/service.js";
import type { HashingFileStore } from "../uploads/hashing-file-store.js";

/** Long-lived parts every request shares. */
export interface Services {
  config: Config;
  tokens: AccessTokens;
  passwords: PasswordHasher;
  /** HMAC key that derives a refresh token's successor (see sessions/refresh-tokens.ts). */
  successorKey: string;
  metrics: Metrics;
  /** Every audit event is written through it (and counted in `metrics` once committed). */
  audit: AuditLog;
  /** Live viewers by session, kept in step with the database by `viewerChanges`. */
  viewers: ViewerCache;
  /** Revocations go through it, so that every instance forgets before the next request. */
  viewerChanges: ViewerChanges;
  files: FileServices;
  /** Live events: this instance's subscribers and the LISTEN that feeds them. */
  events: EventHub;
  /** Profiles of tabular files: queued at commit, made by workers. */
  previews: Previews;
  /** Row queries of explored tables, in this instance's pool of table readers. */
  tables: Tables;
  /** Requests with no credential, counted per client address in this instance's memory. */
  anonymousLimit: AnonymousLimit;
}

/** What the file routes and resolvers share: where content is, and how links are signed. */
export interface FileServices {
  store: BlobStore;
  /** HMAC key of signed download links, derived from the signing secret (the same on every instance). */
  downloadKey: string;
  downloadUrlTtlSeconds: number;
  garbage: GarbageCollector;
  /** tus's staging of uploads in flight. */
  staging: HashingFileStore;
}

/** What every resolver receives: one per request. */
export interface Context {
  services: Services;
  /** The database, counting this request's statements. */
  db: CountingDatabase;
  /** Per-request loaders: their caches never outlive the request. */
  loaders: RequestLoaders;
  /** The signed-in user, or null for an anonymous request. */
  viewer: Viewer | null;
  /**
   * Users who proved who they are during this request (register, login), so the payload
   * may show them their own email before they hold a token.
   */
  provenUserIds: Set<string>;
  requestId: string;
  /** `scheme://host` the client reached us at, for absolute links (download URLs). */
  origin: string;
  /** What the request log line and the metrics will say about this request. */
  report: RequestReport;
  /**
   * The client's address (from X-Forwarded-For only with TRUST_PROXY), normalised: one
   * spelling per address, never anything but an address (see client-address.ts).
   */
  clientAddress: string;
  log: FastifyBaseLogger;
  /** The operation's cost: static, and what lists charge as they resolve (set once the operation is analysed). */
  cost?: CostBudget;
  /** A subscription's connection (WebSocket only): whether events may go out now. */
  subscriber?: SubscriberGate;
}
