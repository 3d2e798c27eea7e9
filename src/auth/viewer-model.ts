import type { ThrottleConfig } from "../config/config.js";
import type { TokenScope } from "../generated/graphql.js";
import type { UserRow } from "../users/rows.js";
import type { AccessTokens } from "./tokens.js";
import type { ViewerCache } from "./viewer-cache.js";

/**
 * How the viewer signed in: a session (an access token of a signed-in person), or a
 * personal access token (a script), whose reach is its scope and dataset list.
 */
export type Credential =
  | { kind: "session" }
  | {
      kind: "token";
      tokenId: string;
      scope: TokenScope;
      datasetIds: readonly string[] | null;
      /** When it expires (`Date.now()` milliseconds), or null: never. Live connections end then. */
      expiresAtMs: number | null;
    };

/** The signed-in user making a request, as the database says now (not as the token says). */
export interface Viewer {
  id: string;
  role: UserRow["role"];
  /**
   * The credential's id: the session the access token belongs to, or the personal access
   * token itself. Signed download links and live connections are bound to it.
   */
  sessionId: string;
  /** The user's token version the access token was issued at (a personal token: read now, and not bound to it). */
  tokenVersion: number;
  credential: Credential;
}

/** What authenticating needs of the services (`Services` has them). */
export interface AuthServices {
  tokens: AccessTokens;
  viewers: ViewerCache;
  config: { throttle: ThrottleConfig };
}

/** The personal access token a viewer acts through; null for a session. */
export const tokenIdOf = (viewer: Viewer): string | null => (viewer.credential.kind === "token" ? viewer.credential.tokenId : null);
