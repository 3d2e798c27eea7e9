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
