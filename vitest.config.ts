import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // graphql 16 ships both index.mjs and index.js. Node loads index.js for the packages in
    // node_modules (Apollo, graphql-tools); Vite would give our code index.mjs, and
    // graphql-js refuses types from "another realm". One copy for everyone:
    alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }],
  },
  test: {
    include: ["tests/**/*.test.ts"],
    // Each file starts its own server on its own database (in-memory PGlite, or a fresh
    // PostgreSQL schema with TEST_DATABASE_URL); files run in parallel on separate forks.
    pool: "forks",
    testTimeout: 30_000,
    // Hooks start a server on a fresh database (PGlite compiles its WebAssembly, migrations
    // run): on a busy 2-core machine (two CI runs side by side) that alone passed 60 s.
    // Slow set-up is not what any test checks, so it gets room; tests keep their 30 s.
    hookTimeout: 180_000,
  },
});
