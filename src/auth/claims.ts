/** Who a verified access token speaks for. */
export interface AccessClaims {
  userId: string;
  /** The user's token version when the token was issued; an older one is revoked. */
  tokenVersion: number;
  /** The session (refresh-token family) the token belongs to; a revoked session ends it. */
  sessionId: string;
}
