import { createPrivateKey, createPublicKey, randomUUID, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, createLocalJWKSet, errors as joseErrors, exportJWK, type JSONWebKeySet, type JWK, jwtVerify, SignJWT } from "jose";
import { ConfigError, type SigningKeyConfig } from "../config/config.js";
import type { AccessClaims } from "./claims.js";
import { createVerifiedTokens } from "./verified-tokens.js";

export interface AccessTokens {
  readonly ttlSeconds: number;
  sign(claims: AccessClaims): Promise<string>;
  /** Resolves the claims, or null for any token that is not valid now. */
  verify(token: string): Promise<AccessClaims | null>;
  /** The public keys for `/.well-known/jwks.json`; null with a shared secret (HS256). */
  readonly jwks: JSONWebKeySet | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const isUuid = (value: unknown): value is string => typeof value === "string" && UUID.test(value);

export const TOKEN_ISSUER = "dataset-platform";
export const TOKEN_AUDIENCE = "dataset-platform-api";

/** How tokens are signed and which keys verify them: exactly one algorithm is accepted. */
interface Keys {
  algorithm: "HS256" | "EdDSA";
  signingKey: Uint8Array | KeyObject;
  kid: string | undefined;
  verificationKey: Uint8Array | ReturnType<typeof createLocalJWKSet>;
  jwks: JSONWebKeySet | null;
}

async function publicJwk(key: KeyObject): Promise<JWK> {
  const jwk = await exportJWK(key);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: "EdDSA", use: "sig" };
}

/** Ed25519: the private key signs (its `kid` is its JWK thumbprint); older public keys still verify. */
async function ed25519Keys(config: SigningKeyConfig): Promise<Keys> {
  let privateKey: KeyObject;
  let previous: KeyObject[];
  try {
    privateKey = createPrivateKey(config.privateKeyPem);
    if (privateKey.asymmetricKeyType !== "ed25519") throw new Error("not Ed25519");
  } catch {
    throw new ConfigError("JWT_PRIVATE_KEY: expected an Ed25519 private key in PKCS#8 PEM");
  }
  try {
    previous = config.previousPublicKeyPems.map((pem) => createPublicKey(pem));
    if (previous.some((key) => key.asymmetricKeyType !== "ed25519")) throw new Error("not Ed25519");
  } catch {
    throw new ConfigError("JWT_PREVIOUS_PUBLIC_KEY: expected an Ed25519 public key in SPKI PEM");
  }
  const current = await publicJwk(createPublicKey(privateKey));
  const jwks = { keys: [current, ...(await Promise.all(previous.map(publicJwk)))] };
  return { algorithm: "EdDSA", signingKey: privateKey, kid: current.kid, verificationKey: createLocalJWKSet(jwks), jwks };
}

function sharedSecretKeys(secret: string): Keys {
  const key = new TextEncoder().encode(secret);
  return { algorithm: "HS256", signingKey: key, kid: undefined, verificationKey: key, jwks: null };
}

/**
 * Access tokens (jose): HS256 with the shared secret, or EdDSA when an Ed25519 key is
 * configured. Claims: `iss`, `aud`, `sub`, `iat`, `exp`, `jti`, `ver`, `sid`.
 */
export async function createAccessTokens(options: {
  /** The HS256 secret; unused (and may be absent) when `signingKey` is given. */
  secret: string | undefined;
  signingKey: SigningKeyConfig | undefined;
  ttlSeconds: number;
}): Promise<AccessTokens> {
  if (!options.signingKey && !options.secret) throw new ConfigError("JWT_SECRET: required when no JWT_PRIVATE_KEY is set");
  const keys = options.signingKey ? await ed25519Keys(options.signingKey) : sharedSecretKeys(options.secret!);
  const verified = createVerifiedTokens();
  return {
    ttlSeconds: options.ttlSeconds,
    jwks: keys.jwks,
    sign({ userId, tokenVersion, sessionId }) {
      return new SignJWT({ ver: tokenVersion, sid: sessionId })
        .setProtectedHeader({ alg: keys.algorithm, typ: "JWT", ...(keys.kid ? { kid: keys.kid } : {}) })
        .setSubject(userId)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${options.ttlSeconds}s`)
        .setJti(randomUUID())
        .sign(keys.signingKey);
    },
    async verify(token) {
      const known = verified.get(token);
      if (known) return known;
      try {
        const verifyOptions = {
          algorithms: [keys.algorithm],
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          requiredClaims: ["sub", "iat", "exp", "jti"],
        };
        const { payload } =
          keys.verificationKey instanceof Uint8Array
            ? await jwtVerify(token, keys.verificationKey, verifyOptions)
            : await jwtVerify(token, keys.verificationKey, verifyOptions);
        const { sub, ver, sid } = payload;
        if (!isUuid(sub) || !isUuid(sid) || !Number.isInteger(ver)) return null;
        const claims = { userId: sub, tokenVersion: ver as number, sessionId: sid };
        verified.set(token, claims, payload.exp!);
        return claims;
      } catch (error) {
        if (error instanceof joseErrors.JOSEError) return null;
        throw error;
      }
    },
  };
}
