import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_BCRYPT_COST, loadConfig } from "../src/config.js";

/** Every variable is validated at start-up into one frozen object. */
describe("configuration", () => {
  it("has development defaults that run with nothing set", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      production: false,
      host: "127.0.0.1",
      port: 4000,
      databaseUrl: undefined,
      dataDir: ".data",
      jwtSecret: undefined,
      logLevel: "info",
      trustProxy: false,
      bcryptCost: DEFAULT_BCRYPT_COST,
      accessTokenTtlSeconds: 900,
      exposeStatementCount: true,
    });
    expect(config.corsOrigins).toContain("http://localhost:5173");
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("allows no CORS origin in production unless configured, and hides statement counts", () => {
    const production = { NODE_ENV: "production", DATABASE_URL: "postgres://db/app", JWT_SECRET: "x".repeat(32) };
    expect(loadConfig(production).corsOrigins).toEqual([]);
    expect(loadConfig(production).exposeStatementCount).toBe(false);
    expect(loadConfig({ ...production, CORS_ORIGINS: "https://a.example, https://b.example" }).corsOrigins).toEqual([
      "https://a.example",
      "https://b.example",
    ]);
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", PORT: "" }).databaseUrl).toBeUndefined();
  });

  it.each([
    [{ PORT: "70000" }, "PORT: expected a whole number from 0 to 65535"],
    [{ BCRYPT_COST: "3" }, "BCRYPT_COST: expected a whole number from 4 to 15"],
    [{ ACCESS_TOKEN_TTL: "10" }, "ACCESS_TOKEN_TTL: expected a whole number from 60 to 86400"],
    [{ TRUST_PROXY: "maybe" }, "TRUST_PROXY: expected one of true/false, 1/0, yes/no, on/off"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL: expected fatal, error, warn, info, debug, trace or silent"],
    [{ NODE_ENV: "staging" }, "NODE_ENV: expected development, production or test"],
    [{ JWT_SECRET: "short" }, "JWT_SECRET: expected at least 32 bytes"],
    [{ NODE_ENV: "production", DATABASE_URL: "postgres://db/app", JWT_SECRET: "x".repeat(32), BCRYPT_COST: "8" }, "BCRYPT_COST: expected at least 10 in production"],
  ])("refuses %o with one line naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });
});
