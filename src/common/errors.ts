import { ApolloServerErrorCode } from "@apollo/server/errors";
import { GraphQLError } from "graphql";

/**
 * The contract's error codes (docs/api.md "Errors"). Every error the server means to show a
 * client is built here; anything else is an internal error and is masked.
 */
export const ErrorCode = {
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  BAD_USER_INPUT: "BAD_USER_INPUT",
  CONFLICT: "CONFLICT",
  RATE_LIMITED: "RATE_LIMITED",
  /** The change would take the dataset owner's stored bytes past `STORAGE_QUOTA`. */
  QUOTA_EXCEEDED: "QUOTA_EXCEEDED",
  /**
   * The request needs more of the database than one request may have (too many statements,
   * or a statement past the statement timeout). Not a field's fault (so not BAD_USER_INPUT,
   * which names one), and not worth retrying as it is (so neither RATE_LIMITED nor
   * SERVICE_UNAVAILABLE): the client asks for less at once.
   */
  REQUEST_TOO_EXPENSIVE: "REQUEST_TOO_EXPENSIVE",
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INTERNAL_SERVER_ERROR: "INTERNAL_SERVER_ERROR",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * GraphQL's request errors: the document does not parse or validate (limits included), the
 * operation named is not in it, or the variables do not coerce. Apollo Server labels them
 * (its `ApolloServerErrorCode`); nothing executed.
 */
export const GRAPHQL_REQUEST_ERROR_CODES: ReadonlySet<string> = new Set([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
  ApolloServerErrorCode.BAD_USER_INPUT,
]);

/** Every code Apollo Server gives a request it refuses before execution: shown to the client as it is. */
export const REFUSED_REQUEST_CODES: ReadonlySet<string> = new Set([
  ...GRAPHQL_REQUEST_ERROR_CODES,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
]);

/** A document that does not parse, and one that does not validate: Apollo's codes, used over WebSocket too. */
export const GRAPHQL_PARSE_FAILED = ApolloServerErrorCode.GRAPHQL_PARSE_FAILED;
export const GRAPHQL_VALIDATION_FAILED = ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED;

/** A malformed HTTP request (not JSON, too large, a batch too long): Apollo's code for it. */
export const BAD_REQUEST = ApolloServerErrorCode.BAD_REQUEST;

/** No trusted document has the hash a request names. */
export const PERSISTED_QUERY_NOT_FOUND = ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND;

/** The GraphQL-over-HTTP error body, for requests refused before GraphQL runs. */
export const errorResponseBody = (message: string, code: string, requestId: string) => ({
  errors: [{ message, extensions: { code, requestId } }],
});

/**
 * The refusal of a limit on what one operation may ask for (src/graphql/limits.ts), before it
 * executes: a validation error whose `limit` names the setting (`MAX_ALIASES`).
 */
export function limitRefusal(message: string, limit: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED, limit, ...extensions, http: { status: 400 } },
  });
}

/** An error made on purpose by this server, safe to show as it is. */
export class ClientError extends GraphQLError {
  constructor(message: string, code: ErrorCode, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extensions } });
  }
}

export const unauthenticated = (message = "Sign in first: this needs a valid access token") => new ClientError(message, ErrorCode.UNAUTHENTICATED);

/** For a token that is present but invalid: the whole request fails with HTTP 401. */
export const invalidToken = (message = "The access token is invalid or expired") =>
  new ClientError(message, ErrorCode.UNAUTHENTICATED, {
    http: { status: 401, headers: new Map([["www-authenticate", 'Bearer error="invalid_token"']]) },
  });

export const forbidden = (message = "You are not allowed to do this") => new ClientError(message, ErrorCode.FORBIDDEN);

export const notFound = (what: string) => new ClientError(`${what} not found`, ErrorCode.NOT_FOUND);

/** Bad input; `field` names it as a dotted path from the argument (`input.name`). */
export const badUserInput = (field: string, message: string) => new ClientError(message, ErrorCode.BAD_USER_INPUT, { field });

/** `extensions` may say which quota (`quota: "METADATA_QUOTA"`) and its figures. */
export const quotaExceeded = (message: string, extensions: Record<string, unknown> = {}) =>
  new ClientError(message, ErrorCode.QUOTA_EXCEEDED, extensions);

export const conflict = (field: string, message: string) => new ClientError(message, ErrorCode.CONFLICT, { field });

/** The mask every unexpected error is shown as. */
export const internalError = () => ({
  message: "Internal server error",
  extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
});

/** Unique-index names (migrations) to the input field each one protects. */
const UNIQUE_FIELDS: Record<string, { field: string; message: string }> = {
  users_email_key: { field: "email", message: "An account with this email already exists" },
  users_username_lower_key: { field: "username", message: "This username is taken" },
};

/**
 * Turns a PostgreSQL error the client caused into its contract error (23505, a unique
 * violation, into CONFLICT naming the field); returns every other error unchanged.
 */
export function fromDatabaseError(error: unknown, fieldPrefix = ""): unknown {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  if (code === "23505" && typeof constraint === "string" && UNIQUE_FIELDS[constraint]) {
    const { field, message } = UNIQUE_FIELDS[constraint];
    return conflict(fieldPrefix + field, message);
  }
  return error;
}

/** Too many attempts; `retryAfter` is in whole seconds (also sent as the Retry-After header). */
export const rateLimited = (retryAfterSeconds: number, message = "Too many attempts; try again later") => {
  const retryAfter = Math.max(1, Math.ceil(retryAfterSeconds));
  return new ClientError(message, ErrorCode.RATE_LIMITED, {
    retryAfter,
    http: { status: 429, headers: new Map([["retry-after", String(retryAfter)]]) },
  });
};

/** This request has run its `maxStatements` statements; the one that would be next is refused. */
export const tooManyStatements = (maxStatements: number) =>
  new ClientError(
    `This request needs more than ${maxStatements} database statements: split it into smaller requests`,
    ErrorCode.REQUEST_TOO_EXPENSIVE,
    { limit: "statements", maxStatements },
  );

/**
 * A list whose length only execution knows (a version's `files`) would take the request's
 * cost to `cost`, past what it may spend (`maxCost`): refused before any of it is read.
 */
export const listTooExpensive = (field: string, length: number, cost: number, maxCost: number) =>
  new ClientError(
    `This request would cost ${cost} with ${field} of ${length} items, past its limit of ${maxCost}: ask for fewer versions' or datasets' ${field} at once`,
    ErrorCode.REQUEST_TOO_EXPENSIVE,
    { limit: "MAX_COST", cost, maxCost },
  );

/** PostgreSQL's SQLSTATE for a statement cancelled, here by `statement_timeout`. */
const QUERY_CANCELED = "57014";

/**
 * A statement PostgreSQL cancelled at the statement timeout, as the client's error: the
 * request asked for something too slow (a search over many rows, many large pages), and
 * the connection is fine. Every other error is returned unchanged.
 */
export function fromCancelledStatement(error: unknown): unknown {
  const { code } = (error ?? {}) as { code?: unknown };
  if (code !== QUERY_CANCELED) return error;
  return new ClientError(
    "A database statement of this request took too long and was stopped: ask for less at once (a narrower search, smaller pages, fewer fields)",
    ErrorCode.REQUEST_TOO_EXPENSIVE,
    { limit: "statementTimeout" },
  );
}

/**
 * The database does not answer (down, unreachable, too slow): HTTP 503, and the same
 * request may well succeed shortly. Nothing about the failure itself is shown.
 */
export const serviceUnavailable = (extensions: Record<string, unknown> = {}) =>
  new ClientError("The service is temporarily unavailable: its database does not answer. Try again shortly", ErrorCode.SERVICE_UNAVAILABLE, {
    ...extensions,
    http: { status: 503 },
  });

/**
 * A refused credential on a plain HTTP route (uploads, downloads): the status and headers
 * its error carries (401 with `WWW-Authenticate`, or 429 with `Retry-After` for an address
 * guessing secrets), as `/graphql` answers it.
 */
export function credentialRefusal(error: ClientError): { status: number; headers: Record<string, string> } {
  const http = error.extensions.http as { status?: number; headers?: Map<string, string> } | undefined;
  const headers = Object.fromEntries(http?.headers ?? [["www-authenticate", 'Bearer error="invalid_token"']]);
  return { status: http?.status ?? 401, headers };
}
