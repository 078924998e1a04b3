// The worked examples of RFC 4493 §4 (AES-CMAC), RFC 5297 Appendix A (SIV) and RFC 8452
// Appendix C (AES-GCM-SIV, parsed from the RFC text so that every example is checked).
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { AEAD_AES_128_GCM_SIV, AEAD_AES_256_GCM_SIV, AEAD_AES_SIV_CMAC_256, type Aead } from "../../ts/core/aead.js";
import { REFERENCE, hex, loadAead, toHex } from "./helpers.js";

let aead: Aead;
beforeAll(async () => { aead = await loadAead(); });

describe("RFC 4493 §4 AES-CMAC examples", () => {
  const key = hex("2b7e1516 28aed2a6 abf71588 09cf4f3c");
  const m = hex(`6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
                 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710`);
  it.each([
    [0, "bb1d6929 e9593728 7fa37d12 9b756746"],
    [16, "070a16b4 6b4d4144 f79bdd9d d04a287c"],
    [40, "dfa66747 de9ae630 30ca3261 1497c827"],
    [64, "51f0bebf 7e3b9d92 fc497417 79363cfe"],
  ])("len = %i", (len, tag) => {
    expect(toHex(aead.cmac(key, m.subarray(0, len)))).toBe(toHex(hex(tag)));
  });
});

describe("RFC 5297 Appendix A", () => {
  it("A.1 deterministic authenticated encryption", () => {
    const key = hex("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
    const ad = hex("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627");
    const pt = hex("11223344 55667788 99aabbcc ddee");
    const out = hex("85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c");
    expect(toHex(aead.seal(AEAD_AES_SIV_CMAC_256, key, null, [ad], pt))).toBe(toHex(out));
    expect(toHex(aead.open(AEAD_AES_SIV_CMAC_256, key, null, [ad], out)!)).toBe(toHex(pt));
  });

  it("A.2 nonce-based authenticated encryption (two AD components + nonce)", () => {
    const key = hex("7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f");
    const ad1 = hex("00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100");
    const ad2 = hex("10203040 50607080 90a0");
    const nonce = hex("09f91102 9d74e35b d84156c5 635688c0");
    const pt = hex(`74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970
                    74207573 696e6720 5349562d 414553`);
    const out = hex(`7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17
                     dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d`);
    expect(toHex(aead.seal(AEAD_AES_SIV_CMAC_256, key, nonce, [ad1, ad2], pt))).toBe(toHex(out));
    expect(toHex(aead.open(AEAD_AES_SIV_CMAC_256, key, nonce, [ad1, ad2], out)!)).toBe(toHex(pt));
    // The order of the components matters.
    expect(aead.open(AEAD_AES_SIV_CMAC_256, key, nonce, [ad2, ad1], out)).toBeNull();
  });
});

interface GcmSivExample { plaintext: string; aad: string; key: string; nonce: string; result: string }

/** Parses the "Name (n bytes) = hex" records of RFC 8452 Appendix C, skipping page breaks. */
function parseRfc8452Examples(): GcmSivExample[] {
  const text = readFileSync(`${REFERENCE}/rfc8452.txt`, "latin1");
  const appendix = text.slice(text.indexOf("C.1.  AEAD_AES_128_GCM_SIV\n"));
  const examples: GcmSivExample[] = [];
  let current: Partial<GcmSivExample> = {};
  let field: keyof GcmSivExample | null = null;
  for (const raw of appendix.split("\n")) {
    const line = raw.replace(/\f/g, "");
    if (/^\s*$/.test(line) || /^Gueron, et al\./.test(line) || /^RFC 8452 /.test(line)) continue;
    const start = /^\s+(Plaintext|AAD|Key|Nonce|Result)\b[^=]*=\s*([0-9a-f]*)\s*$/.exec(line);
    const more = /^\s{20,}([0-9a-f]+)\s*$/.exec(line);
    if (start) {
      field = start[1]!.toLowerCase() as keyof GcmSivExample;
      if (field === "plaintext") {
        if (current.result !== undefined) examples.push(current as GcmSivExample);
        current = {};
      }
      current[field] = start[2]!;
    } else if (more && field) {
      current[field] += more[1]!;
    } else {
      field = null;
    }
  }
  if (current.result !== undefined) examples.push(current as GcmSivExample);
  return examples;
}

describe("RFC 8452 Appendix C", () => {
  const examples = parseRfc8452Examples();
  it("parses all 50 examples of C.1–C.3", () => expect(examples).toHaveLength(50));

  it("seals and opens every example", () => {
    for (const ex of examples) {
      const key = hex(ex.key);
      const alg = key.length === 16 ? AEAD_AES_128_GCM_SIV : AEAD_AES_256_GCM_SIV;
      const sealed = aead.seal(alg, key, hex(ex.nonce), [hex(ex.aad)], hex(ex.plaintext));
      expect(toHex(sealed)).toBe(ex.result);
      expect(toHex(aead.open(alg, key, hex(ex.nonce), [hex(ex.aad)], sealed)!)).toBe(ex.plaintext);
    }
  });
});
