// `tock status` and `tock sources`: the renderers on a fixed report, the commands in-process against
// a management socket served by a daemon-like provider, and the built CLI as a process.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startManagementServer, type ManagementServer } from "../../ts/observe/management.js";
import { renderSources, renderStatus, formatDuration, formatReferenceId } from "../../ts/cli/status-output.js";
import { run as runStatus } from "../../ts/cli/status.js";
import { run as runSources } from "../../ts/cli/sources.js";
import { built, runCli } from "../daemon/process-helpers.js";
import { daemonLikeProvider, tempDir } from "./fixtures.js";

const tmp = tempDir();
let server: ManagementServer;
let configPath: string;
beforeAll(async () => {
  const path = join(tmp.dir, "observe.sock");
  server = await startManagementServer({ path, mode: 0o666, provider: daemonLikeProvider().provide });
  configPath = join(tmp.dir, "tock.toml");
  writeFileSync(configPath, `[observability]\nobservation-path = ${JSON.stringify(path)}\n`);
});
afterAll(async () => {
  await server.close();
  tmp.cleanup();
});

/** Runs a command in-process, capturing stdout/stderr. */
async function capture(run: (argv: string[]) => Promise<number>, argv: string[]) {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    const code = await run(argv);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe("renderers", () => {
  const report = daemonLikeProvider().provide();

  it("status reads like chronyc tracking", () => {
    const text = renderStatus(report);
    expect(text).toContain("Reference ID    : 7F000001 (127.0.0.1:11123)\n");
    expect(text).toContain("Stratum         : 3\n");
    expect(text).toContain("Ref time (UTC)  : Sun Nov 22 21:00:00 2026\n");
    expect(text).toContain("System time     : 0.000001200 seconds slow of NTP time\n");
    expect(text).toContain("Last offset     : +0.000123000 seconds\n");
    expect(text).toContain("Frequency       : 12.345 ppm slow\n");
    expect(text).toContain("Root dispersion : 0.001200000 seconds\n");
    expect(text).toContain("Update interval : 64.2 seconds\n");
    expect(text).toContain("Leap status     : Normal\n");
    expect(text).toContain("Clock mode      : observe (no CAP_SYS_TIME)\n");
    expect(text).toContain("Server          : 127.0.0.1:1123: received 10, answered 7, KoD 3, dropped 0\n");
    expect(text).toMatch(/Kernel clock    : frequency \+0\.000 ppm, unsynchronised/);
  });

  it("an unsynchronised daemon says so, with unknowns as '-'", () => {
    const text = renderStatus(daemonLikeProvider({ synchronised: false, sources: [] }).provide());
    expect(text).toContain("Reference ID    : 494E4954 (INIT)\n");
    expect(text).toContain("Stratum         : 16\n");
    expect(text).toContain("Ref time (UTC)  : -\n");
    expect(text).toContain("Leap status     : Not synchronised\n");
    expect(text).toContain("Frequency       : -\n");
  });

  it("sources: one line per source with its state in words, reach in octal", () => {
    const lines = renderSources(report).split("\n");
    expect(lines[0]).toMatch(/^MS Name\/IP address\s+State\s+St Poll Reach LastRx/);
    expect(lines[1]).toMatch(/^=+$/);
    expect(lines[2]).toMatch(/^\^\* 127\.0\.0\.1:11123\s+selected\s+2\s+6\s+377\s+35s\s+\+120\.0us\[\s*\+123\.0us\]\s+245\.0us\s+12\.3us \+\/- 1\.200ms$/);
    expect(lines[3]).toMatch(/^\^x pool\.example \(127\.0\.0\.2:123\)\s+falseticker\s+3\s+7\s+17\s+25m\s+\+2\.500s\[\s*\+2\.500s\]/);
    expect(lines[4]).toMatch(/^\^\? \[::1\]:11124\s+unreachable\s+-\s+4\s+0\s+-\s+-\[\s+-\]\s+-\s+-\s+\+\/- -$/);
    expect(renderSources(report)).not.toContain("Source mode");
  });

  it("sources -v explains the symbols and columns first", () => {
    const text = renderSources(report, true);
    expect(text.indexOf("Source mode")).toBeLessThan(text.indexOf("MS Name/IP address"));
    for (const word of ["selected", "candidate", "outlier", "falseticker", "unusable", "unreachable", "Reach", "LastRx", "root distance"]) expect(text).toContain(word);
  });

  it("formats durations and reference ids", () => {
    expect(formatDuration(0.0000000123)).toBe("+12ns");
    expect(formatDuration(-0.0000034)).toBe("-3.4us");
    expect(formatDuration(0.001234)).toBe("+1.234ms");
    expect(formatDuration(2, false)).toBe("2.000s");
    expect(formatReferenceId(0x47505300, null, 1)).toBe("47505300 (GPS)");
    expect(formatReferenceId(0xc0a80101, null, 2)).toBe("C0A80101 (192.168.1.1)");
  });
});

describe("tock status / tock sources in-process", () => {
  it("status -c FILE finds the socket from observation-path", async () => {
    const r = await capture(runStatus, ["-c", configPath]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Stratum         : 3");
    expect(r.stderr).toBe("");
  });

  it("status --json prints the report without the sources", async () => {
    const r = await capture(runStatus, ["-c", configPath, "--json"]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.system.stratum).toBe(3);
    expect(json.servers).toHaveLength(2);
    expect(json.sources).toBeUndefined();
  });

  it("sources -v and sources --json", async () => {
    const text = await capture(runSources, ["--socket", server.path, "-v"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("falseticker");
    expect(text.stdout).toContain("Source mode");
    const json = await capture(runSources, ["-c", configPath, "--json"]);
    expect(JSON.parse(json.stdout).sources.map((s: { state: string }) => s.state)).toEqual(["selected", "falseticker", "unreachable"]);
  });

  it("exit 3 when no daemon answers, 1 for a bad config, 2 for bad usage", async () => {
    const missing = await capture(runStatus, ["--socket", join(tmp.dir, "nobody-home.sock")]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/cannot reach the tock daemon: .*no such socket/);
    const badConfig = join(tmp.dir, "bad.toml");
    writeFileSync(badConfig, "[observability]\nobservation-path = 12\n");
    const bad = await capture(runSources, ["-c", badConfig]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.toml:2:\d+: observability\.observation-path/);
    expect((await capture(runStatus, ["-v"])).code).toBe(2);
    expect((await capture(runSources, ["extra"])).code).toBe(2);
    const help = await capture(runSources, ["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/exit status: 0 ok/);
  });

  it("exit 4 when something answers that is not a tock daemon", async () => {
    const { createServer } = await import("node:net");
    const path = join(tmp.dir, "impostor.sock");
    const impostor = createServer((s) => s.end("HTTP/1.0 400 Bad Request\r\n\r\n"));
    await new Promise<void>((r) => impostor.listen(path, r));
    try {
      const r = await capture(runStatus, ["--socket", path]);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/not JSON/);
    } finally {
      impostor.close();
    }
  });
});

describe.skipIf(!built)("tock status / sources as a process", () => {
  it("prints the same as in-process, and exit codes hold", async () => {
    const status = await runCli(["status", "-c", configPath]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("Reference ID    : 7F000001 (127.0.0.1:11123)");
    const sources = await runCli(["sources", "-c", configPath, "--json"]);
    expect(sources.code).toBe(0);
    expect(JSON.parse(sources.stdout).sources).toHaveLength(3);
    const unreachable = await runCli(["sources", "--socket", join(tmp.dir, "none.sock")]);
    expect(unreachable.code).toBe(3);
  });
});
