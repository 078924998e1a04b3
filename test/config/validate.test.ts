import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../ts/cli/validate.js";

async function validate(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

const dir = mkdtempSync(join(tmpdir(), "tock-validate-"));
const write = (name: string, text: string): string => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

describe("tock validate", () => {
  it("prints FILE: ok and exits 0 for a valid config (the project's sample config)", async () => {
    const file = write("sample.toml", '[[source]]\nmode = "server"\naddress = "ntp11.metas.ch"\n[[source]]\nmode = "nts"\naddress = "time.cloudflare.com"\n');
    const r = await validate(["-c", file]);
    expect(r).toMatchObject({ code: 0, stdout: `${file}: ok\n` });
    expect(r.stderr).toBe("");
  });

  it("prints every error with file:line:col and exits 1", async () => {
    const file = write("bad.toml", '[[server]]\nlisten = "0.0.0.0"\n[synchronization]\nlocal-stratum = 0\n');
    const r = await validate(["--config", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n")).toEqual([
      `${file}:2:10: server[0].listen: "0.0.0.0" has no port; allowed: "IPv4:PORT" or "[IPv6]:PORT" with a port from 1 to 65535, e.g. "0.0.0.0:123" or "[::]:123"`,
      `${file}:4:17: synchronization.local-stratum: 0 is out of range; allowed: an integer from 1 to 16`,
      `${file}: 2 errors`,
      "",
    ]);
  });

  it("exits 1 for a missing file and checks every -c given", async () => {
    const good = write("good.toml", "");
    const r = await validate(["-c", good, "-c", join(dir, "nope.toml")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${good}: ok\n`);
    expect(r.stderr).toContain("nope.toml:1:1: cannot read the config file (ENOENT)");
  });

  it("exits 2 on usage errors and 0 for --help", async () => {
    expect((await validate([])).code).toBe(2);
    expect((await validate(["--bogus"])).code).toBe(2);
    expect((await validate(["file.toml"])).code).toBe(2);
    expect((await validate(["-c"])).code).toBe(2);
    const help = await validate(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: tock validate -c FILE/);
  });
});
