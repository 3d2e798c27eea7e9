import { print } from "graphql";
import { RefreshSessionDocument } from "../../client/generated/graphql.js";

/**
 * What a frontend keeps: the access and refresh tokens, and a `fetch` that sends the
 * access token and, when the server answers 401 (expired or revoked token), trades the
 * refresh token for a new pair once and retries. Both real clients use it.
 */
export class ClientSession {
  accessToken: string | undefined;
  refreshToken: string | undefined;
  refreshes = 0;
  /** Every request body sent, to check what went over the wire. */
  readonly sent: string[] = [];

  constructor(private readonly url: string) {}

  remember(payload: { accessToken: string; refreshToken: string }): void {
    this.accessToken = payload.accessToken;
    this.refreshToken = payload.refreshToken;
  }

  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const send = () => {
      const headers = new Headers(init.headers);
      if (this.accessToken) headers.set("authorization", `Bearer ${this.accessToken}`);
      if (typeof init.body === "string") this.sent.push(init.body);
      return fetch(input, { ...init, headers });
    };
    const response = await send();
    if (response.status !== 401 || !this.refreshToken) return response;
    await this.refresh();
    return send();
  };

  private async refresh(): Promise<void> {
    this.refreshes += 1;
    const response = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: print(RefreshSessionDocument), variables: { refreshToken: this.refreshToken } }),
    });
    const body = (await response.json()) as { data?: { refreshSession: { accessToken: string; refreshToken: string } } };
    if (!body.data) throw new Error("the session could not be refreshed: sign in again");
    this.remember(body.data.refreshSession);
  }
}
