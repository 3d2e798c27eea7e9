import { generateKeyPairSync } from "node:crypto";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from "../src/auth/tokens.js";
import { createUser } from "./support/factories.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

function ed25519() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

const jwksOf = async (server: TestServer) => fetch(`${new URL(server.url).origin}/.well-known/jwks.json`);

/** Ed25519 signing with a published key set, and a key rotation with two keys live. */
describe("Ed25519 access tokens", () => {
  const oldKey = ed25519();
  const newKey = ed25519();
  let before: TestServer;
  let after: TestServer;
  beforeAll(async () => {
    before = await startServer({ JWT_PRIVATE_KEY: oldKey.privatePem });
    // The same deployment after the rotation: the new key signs, the old one still verifies.
    after = await startServer(
      { JWT_PRIVATE_KEY: newKey.privatePem, JWT_PREVIOUS_PUBLIC_KEY: oldKey.publicPem, JWT_SECRET: before.secret },
      undefined,
      before,
    );
  });
  afterAll(async () => {
    await after.close();
    await before.close();
  });

  it("signs with EdDSA and a kid that /.well-known/jwks.json publishes; anyone can verify with it", async () => {
    const user = await createUser(before);
    const header = decodeProtectedHeader(user.token);
    expect(header.alg).toBe("EdDSA");
    const response = await jwksOf(before);
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: header.kid, alg: "EdDSA", use: "sig" });
    expect(jwks.keys[0]).not.toHaveProperty("d");
    const { payload } = await jwtVerify(user.token, createLocalJWKSet(jwks as never), { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE });
    expect(payload.sub).toBe(user.id);
  });

  it("keeps accepting tokens of the previous key during a rotation, and signs new ones with the new key", async () => {
    const user = await createUser(before);
    expect((await after.graphql(`{ me { id } }`, {}, { token: user.token })).data.me.id).toBe(user.id);
    const jwks = (await (await jwksOf(after)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys).toHaveLength(2);
    const fresh = await createUser(after);
    expect(decodeProtectedHeader(fresh.token).kid).toBe(jwks.keys[0]!.kid);
    expect(decodeProtectedHeader(fresh.token).kid).not.toBe(decodeProtectedHeader(user.token).kid);
    // The server that only knows the old key does not accept the new key's tokens.
    expect((await before.graphql(`{ me { id } }`, {}, { token: fresh.token })).status).toBe(401);
  });

  it("refuses an HS256 token, even one signed with the server's own secret", async () => {
    const user = await createUser(after);
    const { sid } = decodeJwt(user.token);
    const hs256 = await new SignJWT({ ver: 0, sid })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(user.id)
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt()
      .setJti("x")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(after.secret));
    const response = await after.graphql(`{ me { id } }`, {}, { token: hs256 });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe("UNAUTHENTICATED");
  });
});

describe("shared-secret access tokens", () => {
  it("publish no key set", async () => {
    const server = await startServer();
    try {
      expect((await jwksOf(server)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
