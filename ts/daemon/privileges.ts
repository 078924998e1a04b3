// Dropping root after binding privileged ports.
//
// Order matters (as in chronyd's and ntpd's droproot): supplementary groups first, then the group,
// then the user — once the user id is not 0, the process may no longer change its groups. Afterwards
// we verify: every id is what was asked for, and setuid(0) fails. A daemon that thinks it dropped
// root but did not is worse than one that refuses to start, so any mismatch throws.
//
// A steering daemon (issue 5, ts/daemon/steering.ts) must keep CAP_SYS_TIME across the switch, as
// chronyd does: `keepCapSysTime` sets PR_SET_KEEPCAPS before the switch and afterwards keeps
// CAP_SYS_TIME as the only capability (ts/clock/capabilities.ts). A failure to keep it throws: the
// operator asked for a steering daemon running as that user, and silently observing would hide it.
import { spawnSync } from "node:child_process";
import { keepCapabilitiesAcrossSetuid, retainOnlyCapSysTime } from "../clock/capabilities.js";

export interface Account {
  uid: number;
  gid: number;
  name: string;
}

/** Resolves a user (name or numeric id) through NSS (getent), so LDAP/systemd users work too. */
export function lookupUser(user: string): Account {
  const r = spawnSync("getent", ["passwd", user], { encoding: "utf8", timeout: 5000 });
  const fields = r.status === 0 ? r.stdout.trim().split("\n")[0]!.split(":") : [];
  if (fields.length >= 4) return { name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]) };
  if (/^[0-9]+$/.test(user)) return { name: user, uid: Number(user), gid: Number(user) };
  throw new Error(`unknown user ${JSON.stringify(user)}`);
}

/** Resolves a group (name or numeric id) to its id. */
export function lookupGroup(group: string): number {
  const r = spawnSync("getent", ["group", group], { encoding: "utf8", timeout: 5000 });
  const fields = r.status === 0 ? r.stdout.trim().split("\n")[0]!.split(":") : [];
  if (fields.length >= 3) return Number(fields[2]);
  if (/^[0-9]+$/.test(group)) return Number(group);
  throw new Error(`unknown group ${JSON.stringify(group)}`);
}

export interface DropResult {
  uid: number;
  gid: number;
  user: string;
  /** CAP_SYS_TIME was kept (a steering daemon). */
  keptCapSysTime: boolean;
}

/**
 * Switches this process to `user` (and `group`, default the user's primary group). Only as root;
 * throws if the switch cannot be verified. Call after every privileged socket is bound.
 */
export function dropPrivileges(user: string, group?: string, options: { keepCapSysTime?: boolean } = {}): DropResult {
  if (process.getuid === undefined || process.setuid === undefined || process.setgid === undefined || process.setgroups === undefined) {
    throw new Error("dropping privileges is not supported on this platform");
  }
  if (process.geteuid?.() !== 0) throw new Error(`cannot switch to user ${JSON.stringify(user)}: not running as root`);
  const account = lookupUser(user);
  const gid = group === undefined ? account.gid : lookupGroup(group);
  const keepCapSysTime = options.keepCapSysTime === true && account.uid !== 0;
  if (keepCapSysTime) keepCapabilitiesAcrossSetuid();
  process.setgroups([gid]);
  process.setgid(gid);
  process.setuid(account.uid);
  // Right after the switch: CAP_SYS_TIME becomes the only capability left (the rest is gone for good).
  if (keepCapSysTime) retainOnlyCapSysTime();
  const ok = process.getuid() === account.uid && process.geteuid?.() === account.uid && process.getgid?.() === gid && process.getegid?.() === gid;
  if (!ok) throw new Error(`privilege drop to ${account.name} (${account.uid}:${gid}) did not take effect`);
  if (account.uid !== 0) {
    let regained = false;
    try {
      process.setuid(0);
      regained = true;
    } catch {
      // expected: root cannot be regained
    }
    if (regained) throw new Error("privilege drop failed: the process could become root again");
  }
  return { uid: account.uid, gid, user: account.name, keptCapSysTime: keepCapSysTime };
}
