// Shared harness for interop tests against real NTP implementations (chrony, NTPsec), used by every
// test/interop/*.test.ts. Facts it relies on are in ../shared/PEERS.md.
//
// Safety, because these are real time daemons running as root on a shared machine:
//   - every daemon runs under `setpriv --bounding-set -sys_time`, so it physically cannot step or
//     slew the clock (clock_settime/adjtimex fail with EPERM); chronyd additionally gets -x, NTPsec
//     ntpd gets `disable ntp` + `disable kernel`;
//   - daemons listen on loopback only and have a lifetime cap (chronyd -t, `timeout` for ntpd), so a
//     crashed test run cannot leave them serving forever;
//   - everything started here is remembered and killed BY PID in stopAllPeers() (call it in
//     afterAll), TERM first, KILL after a grace period;
//   - each daemon gets a private temp dir (mode 700: chronyd refuses a command socket otherwise).
//
// Usage:
//   const chronyd = peerOrSkip("chronyd");          // undefined → skip; throws if REQUIRE_INTEROP=1
//   describe.skipIf(!chronyd)("…", () => {
//     let server: ChronydServer;
//     beforeAll(async () => { server = await startChronydServer({ stratum: 8 }); });
//     afterAll(stopAllPeers);
//     …
//   });
//
// Files: peer-find.ts (locating peers, peerOrSkip), peer-process.ts (ports, temp dirs, processes,
// locks, readiness), peer-chrony.ts (chronyd server/client, chronyc), peer-ntpsec.ts (ntpd, ntpq,
// ntpdig), peer-ntpsec-nts.ts (ntpd as an NTS server in a private network namespace). Import
// everything from here.
export * from "./peer-find.js";
export * from "./peer-process.js";
export * from "./peer-chrony.js";
export * from "./peer-ntpsec.js";
export * from "./peer-ntpsec-nts.js";
