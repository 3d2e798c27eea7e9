import type { IsoTime } from "../db/timestamps.js";
import type { TokenScope } from "../generated/graphql.js";

/** A personal access token as stored, without its hash (the GraphQL `AccessToken` mapper). */
export interface AccessTokenRow {
  id: string;
  userId: string;
  name: string;
  scope: TokenScope;
  /** null: every dataset the user may reach. */
  datasetIds: string[] | null;
  prefix: string;
  createdAt: IsoTime;
  expiresAt: IsoTime | null;
  lastUsedAt: IsoTime | null;
  revokedAt: IsoTime | null;
}

/** `createAccessToken`'s answer: the row, and the secret shown this once. */
export interface CreatedAccessTokenModel {
  token: AccessTokenRow;
  secret: string;
}
