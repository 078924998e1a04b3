// A private CA and a server certificate for localhost / 127.0.0.1 / ::1, made with openssl exactly
// as ../shared/PEERS.md describes (P-256, 30 days), for NTS interop tests. Also a second,
// unrelated CA to check that validation really rejects an untrusted chain.
import fs from "node:fs";
import path from "node:path";
import { runCommand } from "../interop/peers.js";

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** A CA that did not sign the server certificate. */
  otherCaCert: string;
}

async function openssl(openssl: string, dir: string, ...args: string[]): Promise<void> {
  const result = await runCommand(openssl, args, { timeoutMs: 20_000, env: { RANDFILE: path.join(dir, ".rnd") } });
  if (result.code !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
}

export async function makeTestPki(opensslPath: string, dir: string): Promise<TestPki> {
  const p = (name: string) => path.join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(opensslPath, dir, "req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "30", "-subj", "/CN=tock-test-ca");
  await openssl(opensslPath, dir, "req", "-x509", ...ec, "-keyout", p("other.key"), "-out", p("other.crt"), "-days", "30", "-subj", "/CN=tock-other-ca");
  await openssl(opensslPath, dir, "req", ...ec, "-keyout", p("srv.key"), "-out", p("srv.csr"), "-subj", "/CN=localhost");
  fs.writeFileSync(p("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
  await openssl(opensslPath, dir, "x509", "-req", "-in", p("srv.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("srv.crt"), "-days", "30", "-extfile", p("ext"));
  return { dir, caCert: p("ca.crt"), serverCert: p("srv.crt"), serverKey: p("srv.key"), otherCaCert: p("other.crt") };
}
