// `npm run config:table`: writes the README's configuration table from the declarations in
// src/config.ts, between the two marker comments. tests/config.test.ts fails when the
// README's table is not what this writes, so a new variable is documented where it is declared.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CONFIGURATION_DOCS } from "../src/config.js";
import type { VariableDoc } from "../src/env-settings.js";

export const README = fileURLToPath(new URL("../README.md", import.meta.url));
const START = "<!-- configuration table: written by `npm run config:table` from src/config.ts -->";
const END = "<!-- end of the configuration table -->";

/** The table's Markdown, a row a declaration. */
export function renderConfigTable(docs: readonly VariableDoc[] = CONFIGURATION_DOCS): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  const rows = docs.map(
    (doc) => `| ${doc.names.map((name) => `\`${name}\``).join(" or ")} | ${cell(doc.meaning)} | ${cell(doc.accepts)} | ${cell(doc.default)} |`,
  );
  return ["| variable | meaning | accepted | default |", "|---|---|---|---|", ...rows].join("\n");
}

/** The README's text with the table between the markers replaced by `table`. */
export function withConfigTable(readme: string, table: string = renderConfigTable()): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md: the markers ${START} and ${END} are missing`);
  return `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const readme = readFileSync(README, "utf8");
  const updated = withConfigTable(readme);
  writeFileSync(README, updated);
  process.stdout.write(updated === readme ? "README.md: the configuration table is current\n" : "README.md: configuration table written\n");
}
