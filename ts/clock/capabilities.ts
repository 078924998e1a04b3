// Keeping CAP_SYS_TIME after dropping root, so a daemon that runs as an unprivileged user (its
// [daemon] user) can still steer the clock — as chronyd does (it keeps CAP_SYS_TIME, CAP_NET_BIND_SERVICE
// and drops the rest when it switches to _chrony).
//
// Linux clears a process's permitted and effective capabilities when its uids all become non-zero,
// unless the thread has set PR_SET_KEEPCAPS; then the permitted set survives and capset(2) can raise
// CAP_SYS_TIME into the effective set again — and, in the same call, throw every other capability
// away for good. The sequence around the privilege drop is:
//
//     keepCapabilitiesAcrossSetuid();   // prctl(PR_SET_KEEPCAPS, 1)           — as root
//     setgroups / setgid / setuid       // (ts/daemon/privileges.ts)
//     retainOnlyCapSysTime();           // capset: permitted = effective = {CAP_SYS_TIME}; KEEPCAPS off
//
// Capabilities are per thread. clock_adjtime is called from the JS main thread (koffi calls are
// synchronous on the calling thread), which is the thread that runs both functions; libuv's worker
// threads simply lose everything, which is what we want.
import { createRequire } from "node:module";

const PR_SET_KEEPCAPS = 8;
/** _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set. */
const CAPABILITY_VERSION_3 = 0x20080522;
const CAP_SYS_TIME = 25;

interface Libc {
  prctl(option: number, a: number, b: number, c: number, d: number): number;
  capset(header: Buffer, data: Buffer): number;
  errno(): number;
}

let libc: Libc | null | undefined;

function bind(): Libc | undefined {
  if (libc !== undefined) return libc ?? undefined;
  libc = null;
  if (process.platform !== "linux") return undefined;
  try {
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    const c = koffi.load("libc.so.6");
    const prctl = c.func("int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)") as Libc["prctl"];
    const capset = c.func("int capset(void *, void *)") as Libc["capset"];
    libc = { prctl, capset, errno: () => koffi.errno() };
  } catch {
    libc = null;
  }
  return libc ?? undefined;
}

/** Call as root, before setuid: the permitted capabilities survive the switch to another user. */
export function keepCapabilitiesAcrossSetuid(): void {
  const c = bind();
  if (c === undefined) throw new Error("capabilities: needs Linux with koffi");
  if (c.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_KEEPCAPS) failed (errno ${c.errno()})`);
}

/**
 * Call after setuid: CAP_SYS_TIME becomes the only permitted and effective capability of this
 * thread (everything else is gone for good), and PR_SET_KEEPCAPS is switched off again.
 * Throws if CAP_SYS_TIME was not kept (keepCapabilitiesAcrossSetuid was not called, or the process
 * never had it).
 */
export function retainOnlyCapSysTime(): void {
  const c = bind();
  if (c === undefined) throw new Error("capabilities: needs Linux with koffi");
  const header = Buffer.alloc(8);
  header.writeUInt32LE(CAPABILITY_VERSION_3, 0);
  header.writeInt32LE(0, 4); // this thread
  // struct __user_cap_data_struct[2] { effective, permitted, inheritable } — bits 0–31, then 32–63.
  const data = Buffer.alloc(24);
  data.writeUInt32LE(1 << CAP_SYS_TIME, 0);
  data.writeUInt32LE(1 << CAP_SYS_TIME, 4);
  if (c.capset(header, data) !== 0) {
    throw new Error(`capset(CAP_SYS_TIME) failed (errno ${c.errno()}): the capability was not kept across the user switch`);
  }
  c.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}
