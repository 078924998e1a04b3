// The NTS exchange captured by the ntpd-rs developers (AEAD_AES_SIV_CMAC_512, both keys known):
// the NTS Authenticator and Encrypted Extension Fields EF (RFC 8915 §5.6) of the request (c2s) and
// the response (s2c) must verify and decrypt, and must fail under the other key or with any bit of
// the packet flipped.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { AEAD_AES_SIV_CMAC_512, type Aead } from "../../ts/core/aead.js";
import { REFERENCE, hex, loadAead, toHex } from "./helpers.js";

interface Capture {
  c2s_key_hex: string;
  s2c_key_hex: string;
  request: { packet_hex: string; decrypted_plaintext_hex: string };
  response: { packet_hex: string; decrypted_plaintext_hex: string };
}
const capture = JSON.parse(
  readFileSync(`${REFERENCE}/vectors/nts/ntpd-rs_captured_exchange_aes-siv-cmac-512.json`, "utf8"),
) as Capture;

const NTS_AUTHENTICATOR = 0x0404;
const pad4 = (n: number) => (n + 3) & ~3;

/**
 * Finds the NTS Authenticator EF (RFC 8915 §5.6: Nonce Length, Ciphertext Length, Nonce, Ciphertext,
 * each padded to 4 bytes) with bounds checks on every length; AD = the packet before that EF.
 */
function authenticator(packet: Uint8Array): { ad: Uint8Array; nonce: Uint8Array; ciphertext: Uint8Array } | null {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  for (let off = 48; off + 4 <= packet.length;) {
    const type = view.getUint16(off), len = view.getUint16(off + 2);
    if (len < 4 || len % 4 !== 0 || off + len > packet.length) return null;
    if (type === NTS_AUTHENTICATOR) {
      if (len < 8) return null;
      const nonceLen = view.getUint16(off + 4), ctLen = view.getUint16(off + 6);
      if (8 + pad4(nonceLen) + pad4(ctLen) > len) return null;
      const nonceAt = off + 8, ctAt = nonceAt + pad4(nonceLen);
      return {
        ad: packet.subarray(0, off),
        nonce: packet.subarray(nonceAt, nonceAt + nonceLen),
        ciphertext: packet.subarray(ctAt, ctAt + ctLen),
      };
    }
    off += len;
  }
  return null;
}

let aead: Aead;
beforeAll(async () => { aead = await loadAead(); });

function verify(packet: Uint8Array, key: Uint8Array): Uint8Array | null {
  const a = authenticator(packet);
  return a && aead.open(AEAD_AES_SIV_CMAC_512, key, a.nonce, [a.ad], a.ciphertext);
}

const cases = [
  { name: "request", packet: hex(capture.request.packet_hex), key: hex(capture.c2s_key_hex), wrong: hex(capture.s2c_key_hex), plain: capture.request.decrypted_plaintext_hex },
  { name: "response", packet: hex(capture.response.packet_hex), key: hex(capture.s2c_key_hex), wrong: hex(capture.c2s_key_hex), plain: capture.response.decrypted_plaintext_hex },
];

describe.each(cases)("ntpd-rs captured NTS $name", ({ packet, key, wrong, plain }) => {
  it("verifies and decrypts with its key", () => {
    const out = verify(packet, key);
    expect(out).not.toBeNull();
    expect(toHex(out!)).toBe(plain);
  });

  it("re-sealing the plaintext with the same nonce reproduces the authenticator (SIV is deterministic)", () => {
    const a = authenticator(packet)!;
    expect(toHex(aead.seal(AEAD_AES_SIV_CMAC_512, key, a.nonce, [a.ad], hex(plain)))).toBe(toHex(a.ciphertext));
  });

  it("fails under the other direction's key and under a keyed context of that key", () => {
    expect(verify(packet, wrong)).toBeNull();
    const k = aead.importKey(AEAD_AES_SIV_CMAC_512, wrong);
    const a = authenticator(packet)!;
    expect(k.open(a.nonce, [a.ad], a.ciphertext)).toBeNull();
    k.dispose();
  });

  it("fails with any single bit of the packet flipped (all bits)", () => {
    for (let bit = 0; bit < packet.length * 8; bit++) {
      const bad = packet.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(verify(bad, key), `bit ${bit}`).toBeNull();
    }
  });

  it("fails with any non-empty set of flipped bits, and with any single flipped key bit (property)", () => {
    // With an empty plaintext (the request) SIV never uses the CTR half of the key (RFC 5297 §2.6:
    // only S2V under K1 touches the data), so only K1's bits can matter there.
    const keyBits = plain.length === 0 ? key.length * 4 : key.length * 8;
    fc.assert(fc.property(
      fc.uniqueArray(fc.nat(packet.length * 8 - 1), { minLength: 1, maxLength: 8 }),
      fc.nat(keyBits - 1),
      (bits, keyBit) => {
        const bad = packet.slice();
        for (const b of bits) bad[b >> 3]! ^= 1 << (b & 7);
        const badKey = key.slice();
        badKey[keyBit >> 3]! ^= 1 << (keyBit & 7);
        return verify(bad, key) === null && verify(packet, badKey) === null;
      },
    ), { numRuns: 300 });
  });
});
