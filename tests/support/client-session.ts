import { Session } from "../../client/session.js";

/**
 * The shipped session helper (client/session.ts), as the real-client tests use it: the same
 * class, with a record of what went over the wire, and a way to swap the access token for one
 * the test made (an expired one), to see the helper refresh on the server's 401.
 */
export class ClientSession extends Session {
  /** Every request body sent, to check what went over the wire. */
  readonly sent: string[];

  constructor(url: string) {
    const sent: string[] = [];
    super({
      url,
      fetch: (input, init) => {
        if (typeof init?.body === "string") sent.push(init.body);
        return fetch(input, init);
      },
    });
    this.sent = sent;
  }

  /** How many times the helper refreshed the pair. */
  get refreshes(): number {
    return this.sent.filter((body) => (JSON.parse(body) as { operationName?: string }).operationName === "SessionRefresh").length;
  }

  /** The access token held now. */
  get token(): string {
    return this.tokens!.accessToken;
  }

  /** Holds `accessToken` instead, as if the server had handed it out with 15 minutes to live. */
  useToken(accessToken: string): void {
    this.adopt({ accessToken, refreshToken: this.tokens!.refreshToken, expiresIn: 900 });
  }
}
