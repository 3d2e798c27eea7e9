import { ApolloServer, type ApolloServerPlugin } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from "@apollo/server/plugin/disabled";
import { fastifyApolloDrainPlugin } from "@as-integrations/fastify";
import type { FastifyInstance } from "fastify";
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import type { Config } from "./config.js";
import type { Context } from "./context.js";
import { DatabaseUnavailableError } from "./db/database.js";
import { ClientError, ErrorCode, internalError, serviceUnavailable } from "./errors.js";
import { requestErrorStatusPlugin } from "./http-conformance.js";
import { isLimitRefusal, limitsPlugin, limitValidationRules } from "./limits.js";

/** Codes Apollo Server and graphql-js give requests that are malformed (not resolver errors). */
const REQUEST_ERROR_CODES = new Set([
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
]);

/** The `ClientError` a reported error is, or wraps (resolver errors arrive wrapped). */
function findClientError(error: unknown): ClientError | undefined {
  for (let current = error; current; current = (current as GraphQLError).originalError) {
    if (current instanceof ClientError) return current;
    if (!(current instanceof GraphQLError)) return undefined;
  }
  return undefined;
}

// graphql-js's own wording for an argument that fails coercion during execution, e.g. a
// variable sent as null into a non-null argument whose variable had a default.
const ARGUMENT_ERROR = /^Argument "(\w+)" (?:of non-null type|of required type|has invalid value)/;

/** Whether the database's unavailability is what a reported error is, or wraps. */
function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error; current; current = (current as GraphQLError).originalError) {
    if (current instanceof DatabaseUnavailableError) return true;
    if (!(current instanceof GraphQLError)) return false;
  }
  return false;
}

/**
 * How an error reaches the client: as it is, as bad input on `field`, as SERVICE_UNAVAILABLE
 * (the database does not answer), or masked.
 */
type Classification = { kind: "client"; code?: string; field?: string } | { kind: "unavailable" } | { kind: "internal" };

/**
 * Client errors are the server's own (`ClientError`), the request errors that Apollo and
 * graphql-js make before execution, and graphql-js's argument-coercion errors. Anything
 * else a resolver threw (a driver error, a bug) is internal and gets masked.
 */
export function classify(error: unknown): Classification {
  if (findClientError(error)) return { kind: "client" };
  if (isDatabaseUnavailable(error)) return { kind: "unavailable" };
  if (!(error instanceof GraphQLError)) return { kind: "internal" };
  const inner = error.originalError;
  if (error.path && inner instanceof GraphQLError && !inner.originalError) {
    const argument = ARGUMENT_ERROR.exec(inner.message)?.[1];
    if (argument) return { kind: "client", code: "BAD_USER_INPUT", field: argument };
  }
  if (error.path) return { kind: "internal" };
  const code = error.extensions?.code;
  if (typeof code === "string" && REQUEST_ERROR_CODES.has(code)) return { kind: "client" };
  // Apollo's own refusals of a malformed request (say, a persisted-query hash that does not
  // match) carry a 4xx status but no code.
  const status = (error.extensions?.http as { status?: number } | undefined)?.status;
  return code === undefined && status !== undefined && status < 500 ? { kind: "client", code: "BAD_REQUEST" } : { kind: "internal" };
}

/**
 * The input a variable-coercion error is about, as a dotted path (`input.name`), read from
 * graphql-js's message, since the contract promises `extensions.field` on BAD_USER_INPUT.
 * Anchored: the message repeats the client's value, which may be long.
 */
export function coercionField(message: string): string | undefined {
  const variable = /^Variable "\$(\w+)"/.exec(message)?.[1];
  if (!variable) return undefined;
  const at = /^Variable "\$\w+" got invalid value .* at "([\w.[\]]+)"; /.exec(message)?.[1];
  const unknownField = /; Field "(\w+)" (?:is not defined by type|of required type)/.exec(message)?.[1];
  const path = at ?? variable;
  return unknownField ? `${path}.${unknownField}` : path;
}

/** Client errors go out as they are; every other error becomes the bare internal-error mask. */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const classification = classify(error);
  if (classification.kind === "internal") {
    return { ...internalError(), ...(formatted.path ? { path: formatted.path } : {}) };
  }
  if (classification.kind === "unavailable") {
    const { message, extensions } = serviceUnavailable();
    return { message, extensions: { code: extensions.code }, ...(formatted.path ? { path: formatted.path } : {}) };
  }
  // Apollo prefixes errors thrown while building the context; the prefix says nothing to a client.
  const message = formatted.message.replace(/^Context creation failed: /, "");
  const extensions = { ...formatted.extensions };
  if (classification.code) extensions.code = classification.code;
  if (classification.field) extensions.field = classification.field;
  if (extensions.code === "BAD_USER_INPUT" && extensions.field === undefined) {
    const field = coercionField(message);
    if (field) extensions.field = field;
  }
  return { ...formatted, message, extensions };
}

/** Logs internal errors with the request id, and puts that id (and the statement count) on the response. */
function requestReporting(config: Config): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          // A limit's refusal is the one error the client gets (src/limits.ts), and the one logged.
          const refusal = errors.find(isLimitRefusal);
          for (const error of refusal ? [refusal] : errors) {
            if (classify(error).kind === "client") {
              // A refusal before execution (parse, validation, limits): cheap, but worth seeing.
              if (!error.path) {
                const code = error.extensions?.code;
                // graphql-js repeats a bad variable's whole value (a password, say) in its message.
                const reason = code === "BAD_USER_INPUT" ? undefined : error.message.slice(0, 300);
                contextValue.log.info({ code, reason, operationName }, "request refused");
              }
              continue;
            }
            contextValue.log.error(
              { err: error.originalError ?? error, path: error.path, operationName },
              "internal error while executing an operation",
            );
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (config.exposeStatementCount) {
            response.http.headers.set("x-sql-statements", String(contextValue.db.statementCount));
          }
          if (response.body.kind === "single") {
            const errors = response.body.singleResult.errors ?? [];
            for (const error of errors) {
              (error.extensions as Record<string, unknown>).requestId = contextValue.requestId;
            }
            // The database did not answer a resolver: the whole response is 503, as when it
            // does not answer the request's authentication (src/server.ts).
            if (errors.some((error) => error.extensions?.code === ErrorCode.SERVICE_UNAVAILABLE)) {
              response.http.status = 503;
            }
          }
        },
      };
    },
  };
}

/** Apollo Server for `schema`, hosted by `app`, with the server's error rules. */
export function createApollo(
  app: FastifyInstance,
  schema: GraphQLSchema,
  config: Config,
  plugins: ApolloServerPlugin<Context>[] = [],
): ApolloServer<Context> {
  return new ApolloServer<Context>({
    schema,
    formatError,
    logger: app.log,
    // Limits are checked before execution: tokens while parsing, depth/aliases/directives
    // while validating, cost once the operation is known (src/limits.ts).
    parseOptions: { maxTokens: config.limits.maxTokens },
    validationRules: limitValidationRules(config.limits),
    allowBatchedHttpRequests: config.limits.allowBatchedRequests,
    // Automatic persisted queries keep Apollo's in-memory cache per instance: a client whose
    // hash an instance has not seen simply sends the text once more.
    persistedQueries: config.persistedOperations === "apq" ? {} : false,
    includeStacktraceInErrorResponses: false,
    // main.ts handles SIGTERM (drain within SHUTDOWN_TIMEOUT); Apollo's own handler would
    // cut open connections after 10 seconds, whatever the timeout says.
    stopOnTerminationSignals: false,
    introspection: !config.production,
    // No "Did you mean …?" in production: it would map the schema for someone with introspection off.
    hideSchemaDetailsFromClientErrors: config.production,
    plugins: [
      fastifyApolloDrainPlugin(app),
      // The default landing page loads from a CDN; the machines have no internet.
      ApolloServerPluginLandingPageDisabled(),
      // Installed by default, and each adds a hook to every field of every response: no
      // @cacheControl hints are used (GraphQL responses here are per viewer, never shared
      // by HTTP caches), and nothing reports to Apollo's cloud.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      requestReporting(config),
      limitsPlugin(schema, config.limits),
      requestErrorStatusPlugin(),
      ...plugins,
    ],
  });
}
