// `npm run config:table`: writes the configuration table of docs/configuration.md from the
// declarations in src/config/settings.ts, between the two marker comments. tests/config.test.ts fails
// when the page's table is not what this writes, so a new variable is documented where it is declared.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CONFIGURATION_DOCS } from "../src/config/settings.js";
import type { VariableDoc } from "../src/config/parsers.js";

/** The page that holds the table. */
export const CONFIG_PAGE = fileURLToPath(new URL("../docs/configuration.md", import.meta.url));
const START = "<!-- configuration table: written by `npm run config:table` from the declarations; edit those, not this table -->";
const END = "<!-- end of the configuration table -->";

/** The table's Markdown, a row a declaration. */
export function renderConfigTable(docs: readonly VariableDoc[] = CONFIGURATION_DOCS): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  const rows = docs.map(
    (doc) => `| ${doc.names.map((name) => `\`${name}\``).join(" or ")} | ${cell(doc.meaning)} | ${cell(doc.accepts)} | ${cell(doc.default)} |`,
  );
  return ["| variable | meaning | accepted | default |", "|---|---|---|---|", ...rows].join("\n");
}

/** The page's text with the table between the markers replaced by `table`. */
export function withConfigTable(page: string, table: string = renderConfigTable()): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/configuration.md: the markers ${START} and ${END} are missing`);
  return `${page.slice(0, start + START.length)}\n${table}\n${page.slice(end)}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const page = readFileSync(CONFIG_PAGE, "utf8");
  const updated = withConfigTable(page);
  writeFileSync(CONFIG_PAGE, updated);
  process.stdout.write(
    updated === page ? "docs/configuration.md: the configuration table is current\n" : "docs/configuration.md: configuration table written\n",
  );
}
