// Interop harness: where the real peers (chrony, NTPsec, libfaketime, …) live on this machine, and
// the skip-or-fail rule for missing ones. Part of the harness re-exported by ./peers.ts.
import fs from "node:fs";
import path from "node:path";

// --- finding peers ---------------------------------------------------------------------------------

/** True when missing peers must fail the run instead of skipping (set by .ci/run). */
export const REQUIRE_INTEROP = process.env.REQUIRE_INTEROP === "1";

export type PeerName = "chronyd" | "chronyc" | "ntpdig" | "sntp" | "ntpd" | "ntpq" | "faketime" | "openssl" | "setpriv" | "timeout";

/** Where NTPsec is unpacked (PEERS.md: dpkg -x into /opt/ntpsec, since it conflicts with chrony). */
export const NTPSEC_ROOT = process.env.TOCK_NTPSEC_ROOT ?? "/opt/ntpsec";
/** PYTHONPATH for NTPsec's Python tools (ntpq) unpacked under NTPSEC_ROOT. */
export const NTPSEC_PYTHONPATH = path.join(NTPSEC_ROOT, "usr/lib/python3/dist-packages");

const FIXED_LOCATIONS: Partial<Record<PeerName, string[]>> = {
  ntpd: [path.join(NTPSEC_ROOT, "usr/sbin/ntpd")],
  ntpq: [path.join(NTPSEC_ROOT, "usr/bin/ntpq")],
  faketime: [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
  ],
};

function executableOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Absolute path of a peer binary (or, for "faketime", the preload library), or undefined. */
export function findPeer(name: PeerName): string | undefined {
  const fixed = FIXED_LOCATIONS[name];
  if (fixed !== undefined) return fixed.find((p) => fs.existsSync(p));
  return executableOnPath(name);
}

/**
 * The peer's path, or undefined to skip the tests that need it. With REQUIRE_INTEROP=1 a missing
 * peer throws instead, so CI cannot pass by silently skipping.
 */
export function peerOrSkip(...names: PeerName[]): string | undefined {
  const missing = names.filter((n) => findPeer(n) === undefined);
  if (missing.length > 0) {
    if (REQUIRE_INTEROP) throw new Error(`interop peer(s) missing: ${missing.join(", ")} (REQUIRE_INTEROP=1)`);
    return undefined;
  }
  return findPeer(names[0] ?? "chronyd");
}

/** The peer's path; throws when missing (for start functions, after peerOrSkip decided to run). */
export function requirePeer(name: PeerName): string {
  const found = findPeer(name);
  if (found === undefined) throw new Error(`interop peer '${name}' not found`);
  return found;
}
