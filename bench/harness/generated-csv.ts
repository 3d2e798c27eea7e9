/**
 * The generated table the previews and tables parts read: about `bytes` of CSV, 10 columns of
 * mixed types (integers, text, doubles, booleans, dates, timestamps, missing values), about
 * 80 bytes a row (200 MB: some 2.4 million rows). Written in chunks, never held in memory.
 *
 * Its columns, for parts that query it: `id` (0, 1, 2, …), `name` (`name <id % 9973>`),
 * `score` (a double spread over 0 to 999.99), `active` (true every third row), `day` and `at`
 * (2024 dates and timestamps), `category` (alpha, beta, gamma, delta in turn), `amount` (1,000
 * values from 0 to 1,248.75), `note` (missing every fifth row, else `note <n>`), `count` (0 to 16).
 */
import { createWriteStream } from "node:fs";

export const GENERATED_COLUMNS = 10;
export const GENERATED_CATEGORIES = ["alpha", "beta", "gamma", "delta"] as const;

/** Writes about `bytes` of CSV to `path`; returns how many rows it holds. */
export async function generateCsv(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path, { highWaterMark: 4 * 2 ** 20 });
  const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once("drain", () => resolve())));
  await write("id,name,score,active,day,at,category,amount,note,count\n");
  const categories = GENERATED_CATEGORIES;
  let written = 0;
  let row = 0;
  while (written < bytes) {
    let chunk = "";
    for (let index = 0; index < 10_000; index += 1, row += 1) {
      const day = `2024-${String((row % 12) + 1).padStart(2, "0")}-${String((row % 28) + 1).padStart(2, "0")}`;
      chunk +=
        `${row},name ${row % 9973},${((row * 7919) % 100_000) / 100},${row % 3 === 0},${day},${day} ${String(row % 24).padStart(2, "0")}:15:00,` +
        `${categories[row % 4]},${(row % 1000) * 1.25},${row % 5 === 0 ? "" : `note ${row % 31}`},${row % 17}\n`;
    }
    written += Buffer.byteLength(chunk);
    await write(chunk);
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return row;
}
