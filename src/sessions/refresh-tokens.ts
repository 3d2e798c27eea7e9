import { createHash, createHmac, randomBytes } from "node:crypto";

/**
 * Refresh tokens: 256 random bits, base64url. Only their SHA-256 is stored.
 *
 * A token's successor is derived from it with a server-side HMAC key instead of being
 * random, so a refresh racing another within the reuse interval (two browser tabs) can be
 * handed the same successor again, although the server keeps no plaintext. Without the
 * key, a stolen, already-rotated token says nothing about its successor.
 */

export const newRefreshToken = () => randomBytes(32).toString("base64url");

export const hashRefreshToken = (token: string) => createHash("sha256").update(token).digest("hex");

export function successorOf(token: string, key: string): string {
  return createHmac("sha256", key).update(`refresh-successor:${token}`).digest("base64url");
}

/** A refresh token has exactly the shape this server issues: 43 base64url characters. */
export const isRefreshTokenShaped = (token: string) => /^[A-Za-z0-9_-]{43}$/.test(token);
