import { decodeJwt, SignJWT } from "jose";
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from "../../src/auth/tokens.js";
import type { TestServer } from "./server.js";

/** An access token of `token`'s session that expired 100 s ago, signed as the server would have (HS256). */
export async function expiredTokenOf(server: Pick<TestServer, "secret">, token: string): Promise<string> {
  const claims = decodeJwt(token);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ver: claims.ver, sid: claims.sid })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(claims.sub!)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(now - 1000)
    .setJti("expired")
    .setExpirationTime(now - 100)
    .sign(new TextEncoder().encode(server.secret));
}
