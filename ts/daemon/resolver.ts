// Resolver: host name → addresses, behind an interface so tests run without DNS.
//
// The real one uses node:dns lookup() (getaddrinfo: /etc/hosts, nsswitch, then DNS — what users expect
// from `ntpdate host`), asking for ALL addresses in the resolver's order (verbatim: no IPv4-first
// reordering), optionally restricted to one family for -4/-6. IP literals resolve to themselves.
import dns from "node:dns";
import net from "node:net";

export type AddressFamily = 4 | 6;

export interface ResolvedAddress {
  address: string;
  family: AddressFamily;
}

export interface Resolver {
  /** All addresses of `host` (of `family` when given), in preference order; throws ResolveError when none. */
  resolve(host: string, family?: AddressFamily): Promise<ResolvedAddress[]>;
}

/** A name that did not resolve (or had no address of the requested family). */
export class ResolveError extends Error {
  constructor(
    readonly host: string,
    /** getaddrinfo's code (ENOTFOUND, EAI_AGAIN, …) or "ENOADDRESS" when filtering left nothing. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ResolveError";
  }
}

/** Resolves IP literals locally; returns undefined for names. Throws on a literal of the wrong family. */
function literal(host: string, family: AddressFamily | undefined): ResolvedAddress[] | undefined {
  const kind = net.isIP(host);
  if (kind === 0) return undefined;
  if (family !== undefined && kind !== family) {
    throw new ResolveError(host, "ENOADDRESS", `${host} is an IPv${kind} address, but -${family} was given`);
  }
  return [{ address: host, family: kind as AddressFamily }];
}

export class DnsResolver implements Resolver {
  async resolve(host: string, family?: AddressFamily): Promise<ResolvedAddress[]> {
    const fixed = literal(host, family);
    if (fixed !== undefined) return fixed;
    let found: dns.LookupAddress[];
    try {
      found = await dns.promises.lookup(host, { all: true, family: family ?? 0, verbatim: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EUNKNOWN";
      const what = family === undefined ? "" : ` to an IPv${family} address`;
      throw new ResolveError(host, code, `cannot resolve ${host}${what}: ${code}`);
    }
    const addresses = found
      .filter((a) => a.family === 4 || a.family === 6)
      .map((a) => ({ address: a.address, family: a.family as AddressFamily }));
    if (addresses.length === 0) {
      throw new ResolveError(host, "ENOADDRESS", `${host} has no ${family ? `IPv${family} ` : ""}address`);
    }
    return addresses;
  }
}

/** The simulated twin: a fixed table of names (IP literals always resolve, like the real one). */
export class StaticResolver implements Resolver {
  constructor(private readonly table: Record<string, ResolvedAddress[]> = {}) {}

  async resolve(host: string, family?: AddressFamily): Promise<ResolvedAddress[]> {
    const fixed = literal(host, family);
    if (fixed !== undefined) return fixed;
    const entries = this.table[host.toLowerCase()];
    if (entries === undefined) throw new ResolveError(host, "ENOTFOUND", `cannot resolve ${host}: ENOTFOUND`);
    const addresses = entries.filter((a) => family === undefined || a.family === family);
    if (addresses.length === 0) {
      throw new ResolveError(host, "ENOADDRESS", `${host} has no ${family ? `IPv${family} ` : ""}address`);
    }
    return addresses;
  }
}
