/** The previews part's section: its table on the terminal, and its part of docs/benchmarks.md. */
import { codeAndMachineLines, type RunFacts } from "../harness/facts.js";
import { fmt, fmtBytes, markdownTable, type Table, textTable } from "../harness/format.js";
import type { PreviewsResult } from "./measure.js";

/** A run's results as far as the previews part goes. */
export type PreviewsResults = RunFacts & { previews?: PreviewsResult };

const HEADERS = ["file", "size", "rows", "job s", "MB/s", "floor s", "floor MB/s", "job ÷ floor", "reader peak MiB", "me p99 ms meanwhile"];

/** Each profile's row: the job against the floor, the reader's peak, `me` meanwhile. */
function profileRows(previews: PreviewsResult): string[][] {
  return previews.profiles.map((profile) => [
    profile.format,
    fmtBytes(profile.bytes),
    fmt(profile.rowCount),
    fmt(profile.seconds, 2),
    fmt(profile.mbPerSecond),
    fmt(profile.floorSeconds, 2),
    fmt(profile.floorMbPerSecond),
    fmt(profile.ratioToFloor, 2),
    fmt(profile.readerPeakMiB ?? Number.NaN),
    fmt(profile.meDuring.p99Ms, 1),
  ]);
}

const profileTable = (previews: PreviewsResult): Table => ({
  headers: HEADERS,
  rows: profileRows(previews),
  rightAligned: HEADERS.map((_header, column) => column > 0),
});

/** The previews part's lines on the terminal at the end of a run (none when it did not run). */
export function previewsTerminalSection(results: PreviewsResults): string[] {
  const { previews } = results;
  if (!previews) return [];
  return [
    `\n== Previews (${results.mode} run)`,
    textTable(profileTable(previews)),
    `me at the same rate alone, just before: p50 ${fmt(previews.meAlone.p50Ms, 1)} ms, p99 ${fmt(previews.meAlone.p99Ms, 1)} ms`,
  ];
}

/** The previews part's section of docs/benchmarks.md (its latest full run): each profile through the job path beside DuckDB's own scan. */
export function previewsMarkdownSection(results: PreviewsResults | undefined): string[] {
  const previews = results?.previews;
  if (!results || !previews) return ["## Previews", "", "No full run yet.", ""];
  return [
    "## Previews",
    "",
    `Run of ${results.date} (\`npm run bench -- --only previews\`${results.mode === "quick" ? " --quick" : ""}).`,
    "",
    ...codeAndMachineLines(results),
    "| setting | |",
    "|---|---|",
    ...Object.entries(previews.settings).map(([name, value]) => `| ${name} | ${value} |`),
    "",
    markdownTable(profileTable(previews)),
    "",
    `\`me\` alone at the same rate, just before: p50 ${fmt(previews.meAlone.p50Ms, 1)} ms, p99 ${fmt(previews.meAlone.p99Ms, 1)} ms.`,
    "",
    "The job's time includes what a profile does beyond the floor's one scan: a fresh reader process (Node and DuckDB's",
    "library, a few tenths of a second), the CSV sniffer, the first rows, the result's transaction, and the poll that sees it;",
    "on a small file those fixed costs are most of the ratio. The reader's peak is its whole process (VmHWM), DuckDB's",
    "library (about 100 MiB) included, against PREVIEW_MEMORY_LIMIT for DuckDB's own buffers. Targets (issue 14): within",
    "1.5× of the floor, the reader within the memory limit, `me` p99 under 50 ms while a profile runs. On a machine shared",
    "with other work (see the load average) every figure is slower than the machine can do.",
    "",
  ];
}
