import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/**
 * The client's address as throttling and logs see it. Fastify gives the socket's address,
 * or with TRUST_PROXY the X-Forwarded-For entry it trusts, which is whatever text a client
 * or proxy wrote there. Here it becomes one canonical spelling per address (so
 * `2001:DB8::1` and `2001:db8:0:0:0:0:0:1` are one client), or, when it is no address at
 * all (`banana`, 300 characters), the socket's address instead: a forged header then
 * buys no fresh throttling key.
 */

/** What the address is read from: Fastify's request. */
export interface AddressSource {
  /** The socket's address, or the trusted X-Forwarded-For entry (TRUST_PROXY). */
  readonly ip: string;
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/** The longest textual IPv6 address (45 characters) with brackets, a port and some room. */
const MAX_ADDRESS_TEXT = 64;

/** `[2001:db8::1]:443` and `198.51.100.7:443`, as some proxies write them: the address part. */
const WITH_PORT = /^\[([^\]]+)\](?::\d{1,5})?$|^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;

/**
 * `text` in canonical form: IPv4 dotted decimal, IPv6 as RFC 5952 writes it (lower case,
 * the longest run of zeros compressed), an IPv4-mapped IPv6 address as its IPv4 address,
 * no zone (`%eth0`). `undefined` when `text` is not an IP address. Only the standard forms
 * are accepted (`net.isIP`), not `127.1` or `0x7f.0.0.1`.
 */
export function normaliseAddress(text: string | undefined): string | undefined {
  if (text === undefined || text.length > MAX_ADDRESS_TEXT) return undefined;
  // Every request asks, mostly for the few addresses it has seen: each answer is kept.
  const known = normalised.get(text);
  if (known !== undefined || normalised.has(text)) return known;
  if (normalised.size >= MAX_KEPT_ADDRESSES) normalised.clear();
  const answer = normalise(text);
  normalised.set(text, answer);
  return answer;
}

/** Addresses as written, and their canonical form (undefined: not an address); emptied when full. */
const normalised = new Map<string, string | undefined>();
const MAX_KEPT_ADDRESSES = 4096;

function normalise(text: string): string | undefined {
  const trimmed = text.trim();
  const bare = WITH_PORT.exec(trimmed)?.slice(1).find(Boolean) ?? trimmed;
  const withoutZone = bare.replace(/%.*$/, "");
  if (isIP(withoutZone) === 0) return undefined;
  const address = ipaddr.parse(withoutZone);
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  return address.toString();
}

/** Said when neither the trusted entry nor the socket gives an address (a socket already gone). */
export const UNKNOWN_ADDRESS = "unknown";

/** The request's client address, normalised; the socket's when the trusted entry is no address. */
export function clientAddressOf(request: AddressSource): string {
  return normaliseAddress(request.ip) ?? normaliseAddress(request.socket.remoteAddress) ?? UNKNOWN_ADDRESS;
}

/**
 * The group an address is throttled as: an IPv4 address alone, an IPv6 address by its
 * /64 (`2001:db8::/64`), since one subscriber or host usually holds a whole /64 and can
 * pick any address in it.
 */
export function throttlingGroup(address: string): string {
  if (isIP(address) !== 6) return address;
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address}/64`).toString()}/64`;
}
