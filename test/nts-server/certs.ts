// A private CA and a server certificate for localhost / 127.0.0.1 / ::1 (the PEERS.md recipe), made
// with openssl in a fresh temp directory (mode 0700). Removed by the caller (dir).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  ca: string;
  cert: string;
  key: string;
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "tock-nts-"));
  chmodSync(dir, 0o700);
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=tock-test-ca");
  run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost");
  writeFileSync(join(dir, "ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
  run("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.crt", "-days", "30", "-extfile", "ext");
  const p = (f: string) => join(dir, f);
  return {
    dir, caPath: p("ca.crt"), certPath: p("srv.crt"), keyPath: p("srv.key"),
    ca: readFileSync(p("ca.crt"), "utf8"), cert: readFileSync(p("srv.crt"), "utf8"), key: readFileSync(p("srv.key"), "utf8"),
  };
}
