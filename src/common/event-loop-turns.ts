/**
 * Long loops on a request's path give the other requests a turn. `if (turns.due()) await
 * turns.take()` after each item yields to the event loop (a `setImmediate`) once a slice of
 * `sliceMs` has run since the last turn, and costs next to nothing otherwise: one request's
 * big input then holds the loop for a slice, not for all of it (/healthz, every other user).
 */
export interface EventLoopTurns {
  /** True when the slice is used up (the clock is read every 32 calls). */
  due(): boolean;
  /** Lets the event loop run what is waiting, then starts a new slice. */
  take(): Promise<void>;
}

export function eventLoopTurns(sliceMs = 2): EventLoopTurns {
  let sliceStart = performance.now();
  let calls = 0;
  return {
    due() {
      calls += 1;
      return calls % 32 === 0 && performance.now() - sliceStart >= sliceMs;
    },
    async take() {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    },
  };
}

/**
 * `items` sorted by `compare` (a new array, stable), taking turns as it goes: runs of 256
 * sorted natively, then merged pairwise. For a sort whose comparisons are long (keys of a
 * kilobyte sharing most of it), where one native sort of thousands would hold the loop.
 */
export async function sortTakingTurns<T>(items: readonly T[], compare: (a: T, b: T) => number, turns: EventLoopTurns): Promise<T[]> {
  let runs: T[][] = [];
  for (let start = 0; start < items.length; start += 256) {
    runs.push(items.slice(start, start + 256).sort(compare));
    if (turns.due()) await turns.take();
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let index = 0; index < runs.length; index += 2) {
      const [left, right = []] = [runs[index]!, runs[index + 1]];
      const run: T[] = [];
      let [l, r] = [0, 0];
      while (l < left.length || r < right.length) {
        run.push(r >= right.length || (l < left.length && compare(left[l]!, right[r]!) <= 0) ? left[l++]! : right[r++]!);
        if (turns.due()) await turns.take();
      }
      merged.push(run);
    }
    runs = merged;
  }
  return runs[0] ?? [];
}
