import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * The secrets of personal access tokens. `dpat_` then 43 base64url characters of 32 random
 * bytes (256 bits): the prefix lets secret scanners find a leaked one, and lets the
 * authentication tell it from a JWT without trying to verify it. Only the SHA-256 is stored:
 * with 256 random bits there is nothing for a slow password hash to protect.
 */
export const SECRET_PREFIX = "dpat_";
const SECRET = /^dpat_[A-Za-z0-9_-]{43}$/;
/** How much of a secret is kept in clear, to find its row and to recognise it in a list. */
export const SHOWN_LENGTH = 12;

export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64url");
}

/** Whether a bearer credential is meant as a personal access token (well formed or not). */
export const isPersonalSecret = (bearer: string): boolean => bearer.startsWith(SECRET_PREFIX);

/** Whether it has the shape `newSecret` gives. */
export const wellFormedSecret = (secret: string): boolean => SECRET.test(secret);

export const secretPrefix = (secret: string): string => secret.slice(0, SHOWN_LENGTH);

export function secretHash(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** Compares two hashes in constant time (the stored one comes from a row found by prefix). */
export function sameHash(stored: Uint8Array, computed: Uint8Array): boolean {
  return stored.length === computed.length && timingSafeEqual(stored, computed);
}
