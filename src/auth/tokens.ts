import { randomUUID } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";

/** Who a verified access token speaks for. */
export interface AccessClaims {
  userId: string;
  /** The user's token version when the token was issued; an older one is revoked. */
  tokenVersion: number;
}

export interface AccessTokens {
  readonly ttlSeconds: number;
  sign(claims: AccessClaims): Promise<string>;
  /** Resolves the claims, or null for any token that is not valid now. */
  verify(token: string): Promise<AccessClaims | null>;
}

export const TOKEN_ISSUER = "dataset-platform";
export const TOKEN_AUDIENCE = "dataset-platform-api";
const ALGORITHM = "HS256";

/** HS256 access tokens (jose) with `iss`, `aud`, `sub`, `iat`, `exp`, `jti` and `ver`. */
export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  const key = new TextEncoder().encode(secret);
  return {
    ttlSeconds,
    sign({ userId, tokenVersion }) {
      return new SignJWT({ ver: tokenVersion })
        .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
        .setSubject(userId)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .setJti(randomUUID())
        .sign(key);
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [ALGORITHM],
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          requiredClaims: ["sub", "iat", "exp", "jti"],
        });
        if (typeof payload.sub !== "string" || !Number.isInteger(payload.ver)) return null;
        return { userId: payload.sub, tokenVersion: payload.ver as number };
      } catch (error) {
        if (error instanceof joseErrors.JOSEError) return null;
        throw error;
      }
    },
  };
}
