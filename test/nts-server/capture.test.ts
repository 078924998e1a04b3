// The captured ntpd-rs exchange (AEAD_AES_SIV_CMAC_512, keys known) through the kernel's own NTS field
// walk and authenticator check (nts_verify_request: the same ntsParse the server path uses).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { newNtsKernel } from "./support.js";
import { REFERENCE } from "../crypto/helpers.js";
import { hex } from "../hex.js";

const capture = JSON.parse(readFileSync(`${REFERENCE}/vectors/nts/ntpd-rs_captured_exchange_aes-siv-cmac-512.json`, "utf8")) as {
  c2s_key_hex: string; s2c_key_hex: string; request: { packet_hex: string };
};

describe("ntpd-rs captured request", () => {
  it("parses as a well-formed NTS request and verifies under C2S (empty plaintext)", async () => {
    const { nts } = await newNtsKernel();
    const result = nts.verifyRequest(hex(capture.request.packet_hex), 17, hex(capture.c2s_key_hex));
    expect(result).toBeInstanceOf(Uint8Array);
    expect((result as Uint8Array).length).toBe(0);
  });

  it("fails under S2C and with any flipped bit of the authenticated part", async () => {
    const { nts } = await newNtsKernel();
    const packet = hex(capture.request.packet_hex);
    expect(nts.verifyRequest(packet, 17, hex(capture.s2c_key_hex))).toBe("bad-authenticator");
    for (const at of [0, 1, 40, 47, 60, 100, 200, packet.length - 1]) {
      const p = packet.slice();
      p[at] = p[at]! ^ 0x04;
      expect(nts.verifyRequest(p, 17, hex(capture.c2s_key_hex))).not.toBeInstanceOf(Uint8Array);
    }
  });

  it("is malformed when truncated at any length", async () => {
    const { nts } = await newNtsKernel();
    const packet = hex(capture.request.packet_hex);
    for (let n = 48; n < packet.length; n += 4) {
      expect(nts.verifyRequest(packet.subarray(0, n), 17, hex(capture.c2s_key_hex))).not.toBeInstanceOf(Uint8Array);
    }
  });
});
