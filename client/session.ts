/**
 * A signed-in session for a frontend (browser or Node), with nothing beyond `fetch`: it
 * signs in, keeps the access and refresh tokens, refreshes them before the access token
 * expires and when the server answers 401, and hands the current token to every transport
 * (HTTP through {@link Session.fetch}, tus uploads through {@link Session.accessToken},
 * graphql-ws through {@link Session.connectionParams}).
 *
 * A refresh token works once (docs/sessions.md): two refreshes of the same token at once would
 * both send it, so every caller waiting for a fresh token shares the one refresh in flight.
 *
 * ```ts
 * const session = new Session({ url: "http://127.0.0.1:4000/graphql" });
 * await session.signIn("ann@example.com", "a long passphrase");
 * const client = new Client({ url, fetch: session.fetch, exchanges: [fetchExchange], preferGetMethod: false });
 * ```
 */

/** The tokens of a session, and when the access token expires (ms since the epoch). */
export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

/** What `login`, `register` and `refreshSession` answer (the fields the session needs). */
export interface AuthPayloadLike {
  accessToken: string;
  refreshToken: string;
  /** Seconds the access token lives. */
  expiresIn: number;
}

export interface SessionOptions {
  /** The GraphQL endpoint, e.g. `http://127.0.0.1:4000/graphql`. */
  url: string;
  /** Refresh this many seconds before the access token expires (default 60). */
  refreshMarginSeconds?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Tokens kept from before (say, from `localStorage`), to resume a session. */
  tokens?: SessionTokens | null;
  /** Told each time the tokens change (null: signed out): store them to resume later. */
  onChange?: (tokens: SessionTokens | null) => void;
}

/** The server refused an operation of the session: its message, `extensions.code` and HTTP status. */
export class SessionRequestError extends Error {
  override name = "SessionRequestError";
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The session ended (signed out, revoked, or its refresh token reused): sign in again. */
export class SessionEndedError extends Error {
  override name = "SessionEndedError";
}

const ended = (error: unknown) => error instanceof SessionRequestError && (error.status === 401 || error.code === "UNAUTHENTICATED");

const PAYLOAD_FIELDS = "accessToken refreshToken expiresIn";
const LOGIN = `mutation SessionLogin($input: LoginInput!) { login(input: $input) { ${PAYLOAD_FIELDS} user { id username } } }`;
const REFRESH = `mutation SessionRefresh($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { ${PAYLOAD_FIELDS} } }`;
const LOGOUT = "mutation SessionLogout($refreshToken: String!) { logout(refreshToken: $refreshToken) }";

interface GraphQLAnswer<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export class Session {
  #tokens: SessionTokens | null;
  #refreshing: Promise<string> | null = null;
  readonly #url: string;
  readonly #marginMs: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #onChange?: (tokens: SessionTokens | null) => void;

  constructor(options: SessionOptions) {
    this.#url = options.url;
    this.#marginMs = (options.refreshMarginSeconds ?? 60) * 1000;
    // Bound, so that a browser's fetch is not called on another `this`.
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#tokens = options.tokens ?? null;
    this.#onChange = options.onChange;
  }

  /** Whether the session holds tokens (they may still turn out revoked). */
  get signedIn(): boolean {
    return this.#tokens !== null;
  }

  /** The tokens held now, to store them (null when signed out). */
  get tokens(): SessionTokens | null {
    return this.#tokens;
  }

  /** Signs in with `login`; resolves with the user, or rejects with the server's message. */
  async signIn(email: string, password: string): Promise<{ id: string; username: string }> {
    const data = await this.#post<{ login: AuthPayloadLike & { user: { id: string; username: string } } }>(LOGIN, {
      input: { email, password },
    });
    this.adopt(data.login);
    return data.login.user;
  }

  /** Keeps a pair got elsewhere: from `register`, `login` or `changePassword` sent through your own client. */
  adopt(payload: AuthPayloadLike): void {
    this.#set({
      accessToken: payload.accessToken,
      refreshToken: payload.refreshToken,
      expiresAt: Date.now() + payload.expiresIn * 1000,
    });
  }

  /**
   * The access token to send now: refreshed first when it expires within the margin. For
   * tus (`uploadFile({ accessToken: () => session.accessToken() })`) and anything else that
   * asks for a token per request. Undefined when signed out.
   */
  async accessToken(): Promise<string | undefined> {
    const tokens = this.#tokens;
    if (!tokens) return undefined;
    if (tokens.expiresAt - Date.now() > this.#marginMs) return tokens.accessToken;
    return this.refresh();
  }

  /**
   * Trades the refresh token for a new pair; callers at the same time share one refresh. The
   * new access token, or a {@link SessionEndedError} (the session is then signed out).
   */
  refresh(): Promise<string> {
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refreshOnce(): Promise<string> {
    const refreshToken = this.#tokens?.refreshToken;
    if (!refreshToken) throw new SessionEndedError("Not signed in");
    let data: { refreshSession: AuthPayloadLike };
    try {
      data = await this.#post(REFRESH, { refreshToken });
    } catch (error) {
      // Refused (ended, revoked, reused): nothing left to refresh with. A network failure or a
      // rate limit keeps the tokens, to try again.
      if (!ended(error)) throw error;
      this.#set(null);
      throw new SessionEndedError(`The session has ended: sign in again (${(error as Error).message})`);
    }
    this.adopt(data.refreshSession);
    return data.refreshSession.accessToken;
  }

  /**
   * A `fetch` for GraphQL clients (Apollo's `HttpLink`, urql's `fetch` option): sends the
   * current token, and when the server answers 401 (the token expired or was refused),
   * refreshes once and sends the request again.
   */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const send = (token: string | undefined) => {
      const headers = new Headers(init.headers);
      if (token) headers.set("authorization", `Bearer ${token}`);
      return this.#fetch(input, { ...init, headers });
    };
    const sentWith = await this.accessToken();
    const response = await send(sentWith);
    if (response.status !== 401 || !sentWith || !this.#tokens) return response;
    // Someone else may have refreshed meanwhile: use theirs rather than spend another refresh.
    const current = this.#tokens.accessToken;
    return send(current !== sentWith ? current : await this.refresh());
  };

  /**
   * graphql-ws's `connectionParams`: asked on every (re)connect, so a reconnect carries a
   * fresh token. `createClient({ url, connectionParams: session.connectionParams })`.
   */
  readonly connectionParams = async (): Promise<{ authorization?: string }> => {
    const token = await this.accessToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  };

  /** Ends the session on the server (its tokens stop working at once) and forgets it here. */
  async signOut(): Promise<void> {
    const tokens = this.#tokens;
    if (!tokens) return;
    try {
      await this.#post(LOGOUT, { refreshToken: tokens.refreshToken }, await this.accessToken().catch(() => undefined));
    } catch (error) {
      // Already ended there: signed out all the same.
      if (!ended(error)) throw error;
    } finally {
      this.#set(null);
    }
  }

  #set(tokens: SessionTokens | null): void {
    this.#tokens = tokens;
    this.#onChange?.(tokens);
  }

  /** One operation over POST: its data, or a {@link SessionRequestError} with the first error. */
  async #post<T>(query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await this.#fetch(this.#url, {
      method: "POST",
      headers,
      body: JSON.stringify({ operationName: /^\w+ (\w+)/.exec(query)?.[1], query, variables }),
    });
    let answer: GraphQLAnswer<T>;
    try {
      answer = (await response.json()) as GraphQLAnswer<T>;
    } catch {
      throw new SessionRequestError(`The server answered ${response.status} without a GraphQL response`, undefined, response.status);
    }
    const [error] = answer.errors ?? [];
    if (error || !answer.data) {
      throw new SessionRequestError(
        error?.message ?? `The server answered ${response.status} without data`,
        error?.extensions?.code,
        response.status,
      );
    }
    return answer.data;
  }
}
