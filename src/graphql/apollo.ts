import { ApolloServer, type ApolloServerPlugin } from "@apollo/server";
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from "@apollo/server/plugin/disabled";
import { fastifyApolloDrainPlugin } from "@as-integrations/fastify";
import type { FastifyInstance } from "fastify";
import type { GraphQLFormattedError, GraphQLSchema } from "graphql";
import type { Config } from "../config/config.js";
import type { Context } from "./context.js";
import { classify, explainRequestErrors } from "./error-origins.js";
import { ErrorCode, internalError, serviceUnavailable } from "../common/errors.js";
import { requestErrorStatusPlugin } from "../http/conformance.js";
import { isLimitRefusal, limitsPlugin, limitValidationRules } from "./limits.js";
import { FastExecutor, fastExecutionGateway } from "./fast-executor.js";

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
  const extensions = { ...formatted.extensions };
  if (classification.code) extensions.code = classification.code;
  if (classification.field) extensions.field = classification.field;
  return { ...formatted, extensions };
}

/** Logs internal errors with the request id, and puts that id (and the statement count) on the response. */
function requestReporting(config: Config): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors(requestContext) {
          const { errors, contextValue, operationName } = requestContext;
          // First, so that the classification below and formatError know what each input error is about.
          explainRequestErrors(requestContext);
          // A limit's refusal is the one error the client gets (src/graphql/limits.ts), and the one logged.
          const refusal = errors.find(isLimitRefusal);
          for (const error of refusal ? [refusal] : errors) {
            const kind = classify(error).kind;
            if (kind === "unavailable") {
              // Not a defect of ours: the operator's alerting looks at /readyz and the database.
              contextValue.log.warn({ err: error.originalError ?? error, path: error.path, operationName }, "the database did not answer a resolver");
              continue;
            }
            if (kind === "client") {
              // A refusal before execution (parse, validation, limits): cheap, but worth seeing.
              if (!error.path) {
                const code = error.extensions?.code;
                // graphql-js repeats a bad variable's whole value (a password, say) in its message.
                const reason = code === ErrorCode.BAD_USER_INPUT ? undefined : error.message.slice(0, 300);
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
            // does not answer the request's authentication (src/http/server.ts).
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
  // GRAPHQL_EXECUTOR=jit: Apollo's pipeline as ever, with known query documents run compiled.
  const execution = config.graphqlExecutor === "jit" ? { gateway: fastExecutionGateway(schema, new FastExecutor(schema)) } : { schema };
  return new ApolloServer<Context>({
    ...execution,
    formatError,
    logger: app.log,
    // Limits are checked before execution: tokens while parsing, depth/aliases/directives
    // while validating, cost once the operation is known (src/graphql/limits.ts).
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
