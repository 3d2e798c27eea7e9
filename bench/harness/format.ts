/** Numbers and tables for the terminal and for docs/benchmarks.md. */

export function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Requests per second: whole numbers, but a decimal below 100 (logins). */
export const fmtRate = (value: number | undefined) => fmt(value, value !== undefined && value < 100 ? 1 : 0);

export const pct = (ratio: number) => `${fmt(100 * ratio, 0)}%`;

const MIB = 2 ** 20;

/** A size as the options give it: `1 GiB`, `64 MiB`. */
export function fmtBytes(bytes: number): string {
  return bytes >= 2 ** 30 && bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30} GiB` : `${fmt(bytes / MIB)} MiB`;
}

export type Table = { headers: string[]; rows: string[][]; rightAligned: boolean[] };

export function textTable({ headers, rows, rightAligned }: Table): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (rightAligned[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

export function markdownTable({ headers, rows, rightAligned }: Table): string {
  const escapeCell = (cell: string) => cell.replaceAll("|", "\\|");
  return [
    `| ${headers.map(escapeCell).join(" | ")} |`,
    `|${rightAligned.map((right) => (right ? "---:" : "---")).join("|")}|`,
    ...rows.map((row) => `| ${row.map(escapeCell).join(" | ")} |`),
  ].join("\n");
}
