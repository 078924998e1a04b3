// AES block function against node:crypto (OpenSSL, AES-NI) and the FIPS 197 Appendix C examples.
import { createCipheriv, randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { Aead } from "../../ts/core/aead.js";
import { hex, loadAead, toHex } from "./helpers.js";

let aead: Aead;
beforeAll(async () => { aead = await loadAead(); });

const ecb = (key: Uint8Array, data: Uint8Array): Uint8Array => {
  const c = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
};

describe("bitsliced AES", () => {
  it("matches FIPS 197 Appendix C for 128/192/256-bit keys", () => {
    const pt = hex("00112233445566778899aabbccddeeff");
    expect(toHex(aead.encryptBlocks(hex("000102030405060708090a0b0c0d0e0f"), pt))).toBe("69c4e0d86a7b0430d8cdb78070b4c55a");
    expect(toHex(aead.encryptBlocks(hex("000102030405060708090a0b0c0d0e0f1011121314151617"), pt))).toBe("dda97ca4864cdfe06eaf70a0ec0d7191");
    expect(toHex(aead.encryptBlocks(hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), pt))).toBe("8ea2b7ca516745bfeafc49904b496089");
  });

  it("matches node:crypto AES-ECB on random keys and 1..9 blocks", () => {
    for (let i = 0; i < 300; i++) {
      const key = randomBytes([16, 24, 32][i % 3]!);
      const data = randomBytes(16 * (1 + (i % 9)));
      expect(toHex(aead.encryptBlocks(key, data))).toBe(toHex(ecb(key, data)));
    }
  });

  it("rejects unsupported key lengths", () => {
    expect(() => aead.encryptBlocks(new Uint8Array(20), new Uint8Array(16))).toThrow(RangeError);
  });
});
