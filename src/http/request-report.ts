/** What a request did, filled in as it runs and written by request-log.ts when the response is sent. */
export interface RequestReport {
  /** Bounded label: the operation type and its first root field, e.g. `query datasets`. */
  operation?: string;
  /** The client's operation name, for the log only (never a metric label). */
  operationName?: string;
  viewerId?: string;
  errorCodes: string[];
  /** Whether the operation began to execute (a request error never does, whatever its status). */
  executed: boolean;
}
