import type { ApolloServerPlugin } from "@apollo/server";
import type { FastifyInstance } from "fastify";
import { preferredType } from "./accept.js";
import { GRAPHQL_REQUEST_ERROR_CODES } from "../common/errors.js";

/**
 * GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/) where Apollo Server
 * and Fastify leave gaps. Apollo negotiates its own responses; these rules cover what Fastify
 * answers before Apollo runs. tests/graphql-over-http.test.ts runs graphql-http's audits.
 */

const JSON_TYPE = "application/json";
const GRAPHQL_RESPONSE_TYPE = "application/graphql-response+json";
/** What Apollo offers, in its order (the order breaks ties). */
const OFFERED = [JSON_TYPE, GRAPHQL_RESPONSE_TYPE] as const;
type ResponseType = (typeof OFFERED)[number];

/** The methods Apollo's route serves on the endpoint (OPTIONS is CORS's). */
const ALLOWED_METHODS = "GET, POST";

/**
 * The response type `accept` prefers, as Apollo Server negotiates it (see accept.ts): the
 * highest q, then the more specific match, then the range listed first, then
 * application/json. No Accept header: application/json. `undefined` when neither is
 * acceptable.
 */
export function negotiateResponseType(accept: string | undefined): ResponseType | undefined {
  return preferredType(accept, OFFERED);
}

/**
 * JSON bodies are decoded strictly: bytes that are not UTF-8 are refused (400 BAD_REQUEST,
 * by the server's error handler), as the spec requires, where Fastify's own parser made
 * them U+FFFD without a word (while a lone surrogate, written as `\ud800`, is refused as
 * input). The JSON itself is still parsed by Fastify's parser, prototype poisoning refused.
 */
function refuseMalformedUtf8(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(Object.assign(new Error("The request body is not valid UTF-8"), { statusCode: 400 }), undefined);
      return;
    }
    parseJson(request, text, done);
  });
}

/**
 * On `endpoint`: PUT, PATCH and DELETE get 405 with `Allow` (Fastify would say 404, as if
 * the endpoint did not exist); a text/plain body gets 415 like every other type that is
 * not JSON (Fastify parses text/plain, and Apollo then refused it as a CSRF risk or a
 * missing body); and the errors Fastify raises before Apollo runs (body not JSON, too
 * large, unsupported type, the 405) are labelled application/graphql-response+json when
 * the client asked for that, as Apollo labels its own. Register before Apollo's route.
 */
export function registerHttpConformance(app: FastifyInstance, endpoint = "/graphql"): void {
  app.removeContentTypeParser("text/plain");
  refuseMalformedUtf8(app);

  app.route({
    method: ["PUT", "PATCH", "DELETE"],
    url: endpoint,
    handler: async (request, reply) => {
      reply.header("allow", ALLOWED_METHODS);
      // The server's error handler gives it the GraphQL error shape and code BAD_REQUEST.
      throw Object.assign(new Error(`${request.method} is not supported here: use GET or POST`), { statusCode: 405 });
    },
  });

  app.addHook("onSend", async (request, reply, payload) => {
    if (request.routeOptions.url !== endpoint) return payload;
    const type = reply.getHeader("content-type");
    if (typeof type === "string" && type.startsWith(`${JSON_TYPE};`) && negotiateResponseType(request.headers.accept) === GRAPHQL_RESPONSE_TYPE) {
      reply.header("content-type", `${GRAPHQL_RESPONSE_TYPE}; charset=utf-8`);
    }
    return payload;
  });
}

/**
 * The status of a well-formed request that GraphQL refused (a request error), per the
 * media type of the answer: `application/graphql-response+json` keeps Apollo's 4xx, and
 * `application/json` gets 200, as the spec says a server SHOULD (legacy clients read the
 * body, not the status). Other statuses (401, 403, 429, 503) are the contract's and stay.
 */
export function requestErrorStatusPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response }) {
          if (response.http.status !== 400 || response.body.kind !== "single") return;
          const { data, errors } = response.body.singleResult;
          if (data !== undefined || !errors?.length) return;
          if (!errors.every((error) => GRAPHQL_REQUEST_ERROR_CODES.has(String(error.extensions?.code)))) return;
          if (negotiateResponseType(request.http?.headers.get("accept")) === JSON_TYPE) response.http.status = 200;
        },
      };
    },
  };
}
