/** The files part's targets (issue 11) and its section: tables on the terminal, and its part of docs/benchmarks.md. */
import { DISTURBED_PERCENT } from "../harness/cpu.js";
import { busyMachineNote, codeAndMachineLines, type RunFacts } from "../harness/facts.js";
import { fmt, fmtBytes, markdownTable, pct, type Table, textTable } from "../harness/format.js";
import type { FilesResult, TransferResult } from "./measure.js";

export interface FilesTarget {
  target: string;
  measured: string;
  verdict: "PASS" | "MISS";
}

/** The files part's results with its targets judged. */
export type FilesReport = FilesResult & { targets: FilesTarget[] };

/** A run's results as far as the files part goes. */
export type FilesResults = RunFacts & { files?: FilesReport };

/** Issue 11's figures. */
export const FILES_TARGETS = { ratioToFloor: 0.5, rssGrowthMiB: 64, meP99Ms: 50 } as const;

const verdictOf = (pass: boolean): FilesTarget["verdict"] => (pass ? "PASS" : "MISS");

export function evaluateFilesTargets(files: FilesResult): FilesTarget[] {
  const targets: FilesTarget[] = [];
  for (const transfer of [...files.uploads, files.download]) {
    targets.push({
      target: `${transfer.label} ≥ ${pct(FILES_TARGETS.ratioToFloor)} of the floor`,
      measured: `${fmt(transfer.mbPerSecond)} of ${fmt(files.floors.bestMbPerSecond)} MB/s: ${pct(transfer.ratioToFloor)}`,
      verdict: verdictOf(transfer.ratioToFloor >= FILES_TARGETS.ratioToFloor),
    });
  }
  const transfers = [...files.uploads, files.download];
  const growth = Math.max(...transfers.map((transfer) => transfer.rss.growthMiB));
  targets.push({
    target: `server RSS growth during a ${files.settings.bigFile} transfer < ${FILES_TARGETS.rssGrowthMiB} MiB`,
    measured:
      transfers.map((transfer) => `+${fmt(transfer.rss.growthMiB)}`).join(" / ") +
      ` MiB (${transfers.map((transfer) => transfer.label).join(" / ")})`,
    verdict: verdictOf(growth < FILES_TARGETS.rssGrowthMiB),
  });
  const { parallel } = files;
  const meErrors = errorsOf(parallel.meDuringUploads);
  targets.push({
    target: `me p99 < ${FILES_TARGETS.meP99Ms} ms during ${parallel.uploads} parallel ${fmtBytes(parallel.bytesEach)} uploads`,
    measured: `${fmt(parallel.meDuringUploads.p99Ms, 1)} ms (${fmt(parallel.meAlone.p99Ms, 1)} ms alone)${meErrors ? `, ${meErrors} errors` : ""}`,
    verdict: verdictOf(parallel.meDuringUploads.p99Ms < FILES_TARGETS.meP99Ms && meErrors === 0),
  });
  targets.push({
    target: "every byte arrived: the server's SHA-256 of each upload and the download's match the generated files",
    measured: files.verified ? "all match" : "a mismatch (see the log)",
    verdict: verdictOf(files.verified),
  });
  return targets;
}

const errorsOf = (result: { non2xx: number; graphqlErrors: number; connectionErrors: number }) =>
  result.non2xx + result.graphqlErrors + result.connectionErrors;

/** A speed, starred when other work took more than DISTURBED_PERCENT of a core meanwhile. */
const speedOf = (mbPerSecond: number, other: number | undefined) =>
  `${fmt(mbPerSecond)}${other !== undefined && other > DISTURBED_PERCENT ? "*" : ""}`;

/** Whether any figure of the files part is starred. */
function filesDisturbed(files: FilesResult): boolean {
  return [...files.uploads, files.download, files.parallel].some((transfer) => transfer.cpu.other > DISTURBED_PERCENT);
}

/** The server's CPU time over a transfer (every thread), seconds. */
const serverCpuSeconds = (transfer: { seconds: number; cpu: { server: number } }) => (transfer.cpu.server / 100) * transfer.seconds;
/** CPU seconds per 10^9 bytes: what a byte costs, which moves far less than MB/s on a busy machine. */
const cpuPerGb = (cpuSeconds: number, bytes: number) => cpuSeconds / (bytes / 1e9);

function transfersTable(files: FilesResult): Table {
  const { before, after } = files.floors;
  const floorRow = (label: string, floor: typeof before) => [
    label,
    fmtBytes(floor.bytes),
    "–",
    fmt(floor.seconds, 2),
    fmt(floor.mbPerSecond),
    "–",
    "–",
    "–",
    "–",
    fmt(cpuPerGb(floor.cpuSeconds, floor.bytes), 2),
    "–",
    `with its fsync: ${fmt(floor.withFsyncSeconds, 2)} s, ${fmt(floor.withFsyncMbPerSecond)} MB/s`,
  ];
  const transferRow = (transfer: TransferResult) => [
    transfer.label,
    fmtBytes(transfer.bytes),
    String(transfer.requests),
    fmt(transfer.seconds, 2),
    speedOf(transfer.mbPerSecond, transfer.cpu.other),
    pct(transfer.ratioToFloor),
    `${fmt(transfer.rss.beforeMiB)} → ${fmt(transfer.rss.peakMiB)}`,
    `+${fmt(transfer.rss.growthMiB)}`,
    `${fmt(transfer.cpu.server)}%`,
    fmt(cpuPerGb(serverCpuSeconds(transfer), transfer.bytes), 2),
    `${fmt(transfer.cpu.other)}%`,
    transfer.finishSeconds !== undefined
      ? `last answer ${fmt(transfer.finishSeconds, 2)} s after the last byte`
      : transfer.firstByteSeconds !== undefined
        ? `headers after ${fmt(transfer.firstByteSeconds * 1000, 1)} ms`
        : "",
  ];
  const { parallel } = files;
  return {
    headers: ["transfer", "size", "requests", "s", "MB/s", "÷ floor", "server RSS MiB", "growth", "server CPU", "CPU s/GB", "other CPU", ""],
    rows: [
      floorRow("floor (file → file in Node), before", before),
      ...files.uploads.map(transferRow),
      transferRow(files.download),
      floorRow("floor, after", after),
      [
        `${parallel.uploads} parallel uploads`,
        `${parallel.uploads} × ${fmtBytes(parallel.bytesEach)}`,
        String(parallel.uploads),
        fmt(parallel.seconds, 2),
        speedOf(parallel.mbPerSecond, parallel.cpu.other),
        "–",
        `${fmt(parallel.rss.beforeMiB)} → ${fmt(parallel.rss.peakMiB)}`,
        `+${fmt(parallel.rss.growthMiB)}`,
        `${fmt(parallel.cpu.server)}%`,
        fmt(cpuPerGb(serverCpuSeconds(parallel), parallel.uploads * parallel.bytesEach), 2),
        `${fmt(parallel.cpu.other)}%`,
        `slowest ${fmt(parallel.slowestSeconds, 2)} s`,
      ],
    ],
    rightAligned: [false, true, true, true, true, true, true, true, true, true, true, false],
  };
}

function meLines(files: FilesResult): string[] {
  const { parallel } = files;
  const line = (label: string, result: FilesResult["parallel"]["meAlone"]) =>
    `${label}: ${fmt(result.responses)} answers (${fmt(result.rps)} req/s), p50 ${fmt(result.p50Ms, 1)} ms, p99 ${fmt(result.p99Ms, 1)} ms, ` +
    `max ${fmt(result.maxMs, 1)} ms${errorsOf(result) ? `, ${errorsOf(result)} errors (first: ${result.firstError ?? "?"})` : ""}`;
  return [
    line(`me at ${parallel.meRate} req/s alone`, parallel.meAlone),
    line(`me at ${parallel.meRate} req/s during the ${parallel.uploads} uploads`, parallel.meDuringUploads),
    `commit of the two large uploads: ${fmt(files.commitSeconds * 1000, 1)} ms; server RSS after the warm-up: ${fmt(files.serverIdleMiB)} MiB`,
  ];
}

function filesTargetTable(targets: readonly FilesTarget[]): Table {
  return {
    headers: ["target (issue 11)", "measured", ""],
    rows: targets.map((target) => [target.target, target.measured, target.verdict]),
    rightAligned: [false, false, false],
  };
}

const FILES_DISTURBED_NOTE =
  `* other work on the machine took more than ${DISTURBED_PERCENT}% of a core during that transfer (column "other CPU"): ` +
  "the figure is low by about that share of the machine.";

/** What the files section of docs/benchmarks.md says about how it measures. */
const FILES_METHOD = [
  "The server is its own process for this part (production, the filesystem store in a temporary `DATA_DIR`),",
  "warmed up by 64 MiB uploaded twice (in PATCHes, in one request), committed and downloaded. The floor is the same",
  "bytes piped from one local file to another by Node (`stream.pipeline(fs.createReadStream, fs.createWriteStream)`),",
  "measured before and after the transfers; ratios are to the faster of the two. The server does more than the",
  "floor: it hashes every byte (SHA-256), and before an upload's last PATCH is answered it fsyncs the file and",
  "renames it into the blob store (the floor's own fsync is shown apart). The client is the benchmark's process on",
  "the same machine: PATCH bodies are streamed from the file, the download is streamed into a file and hashed",
  "afterwards, outside the timing. MB = 10^6 bytes. Server RSS: VmRSS every 100 ms; growth is the peak over the RSS",
  "just before that transfer. CPU s/GB: the server's CPU time (every thread) per 10^9 bytes moved, and for the",
  "floor the benchmark process's own; on a busy machine it moves far less than MB/s, so compare that across runs.",
  "The parallel row's server CPU includes answering `me` meanwhile.",
];

/** The files part's lines on the terminal at the end of a run (none when it did not run). */
export function filesTerminalSection(results: FilesResults): string[] {
  const { files } = results;
  if (!files) return [];
  return [
    `\n== Files (${results.mode} run; ${files.settings.store})`,
    textTable(transfersTable(files)),
    ...(filesDisturbed(files) ? [FILES_DISTURBED_NOTE] : []),
    ...meLines(files),
    "",
    textTable(filesTargetTable(files.targets)),
  ];
}

/** The files part's section of docs/benchmarks.md (its latest full run). */
export function filesMarkdownSection(results: FilesResults | undefined): string[] {
  const files = results?.files;
  if (!results || !files) return ["## Files", "", "No full run yet.", ""];
  const busy = busyMachineNote(
    results.machine,
    "MB/s, the ratios and the latencies are far from what this machine does idle; CPU s/GB and RSS are the steadier figures.",
  );
  return [
    `## Files: latest full run, ${results.date}`,
    "",
    ...(busy ? [busy, ""] : []),
    ...codeAndMachineLines(results),
    "| setting | |",
    "|---|---|",
    ...Object.entries(files.settings).map(([name, value]) => `| ${name} | ${value} |`),
    "",
    "### Transfers",
    "",
    markdownTable(transfersTable(files)),
    "",
    ...FILES_METHOD,
    ...(filesDisturbed(files) ? ["", FILES_DISTURBED_NOTE] : []),
    "",
    "### The API during uploads",
    "",
    ...meLines(files).map((line) => `- ${line}`),
    "",
    "### Targets (issue 11)",
    "",
    markdownTable(filesTargetTable(files.targets)),
    "",
  ];
}
