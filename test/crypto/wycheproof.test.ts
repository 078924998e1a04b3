// Every Wycheproof vector in ../shared/reference/vectors/wycheproof/: valid ones must produce and
// verify to the expected output, invalid ones must be rejected. Nothing is skipped: AES-192 is
// supported (CMAC, SIV-CMAC-384 = AEAD id 16), key sizes AES does not define must be refused, and
// each file's processed count is asserted against its numberOfTests.
import { beforeAll, describe, expect, it } from "vitest";
import {
  AEAD_AES_128_GCM_SIV, AEAD_AES_256_GCM_SIV, AEAD_AES_SIV_CMAC_256, AEAD_AES_SIV_CMAC_384,
  AEAD_AES_SIV_CMAC_512, type Aead,
} from "../../ts/core/aead.js";
import { hex, loadAead, toHex, wycheproof, type WycheproofTest } from "./helpers.js";

let aead: Aead;
beforeAll(async () => { aead = await loadAead(); });

const SIV_BY_KEY_BITS: Record<number, number> = {
  256: AEAD_AES_SIV_CMAC_256, 384: AEAD_AES_SIV_CMAC_384, 512: AEAD_AES_SIV_CMAC_512,
};
const GCM_SIV_BY_KEY_BITS: Record<number, number> = { 128: AEAD_AES_128_GCM_SIV, 256: AEAD_AES_256_GCM_SIV };

const label = (t: WycheproofTest) => `tcId ${t.tcId} (${t.comment})`;

describe("Wycheproof aes_cmac_test.json", () => {
  it("computes every valid tag, rejects every invalid tag and every non-AES key size", () => {
    const file = wycheproof("aes_cmac_test.json");
    let valid = 0, rejectedTags = 0, rejectedKeys = 0;
    for (const group of file.testGroups) {
      const aesKey = [128, 192, 256].includes(group.keySize);
      for (const t of group.tests) {
        if (!aesKey) {
          expect(t.result, label(t)).toBe("invalid");
          expect(() => aead.cmac(hex(t.key), hex(t.msg)), label(t)).toThrow(RangeError);
          rejectedKeys++;
          continue;
        }
        const tag = toHex(aead.cmac(hex(t.key), hex(t.msg)));
        if (t.result === "valid") { expect(tag, label(t)).toBe(t.tag); valid++; }
        else { expect(tag, label(t)).not.toBe(t.tag); rejectedTags++; }
      }
    }
    expect(valid + rejectedTags + rejectedKeys).toBe(file.numberOfTests);
    expect({ valid, rejectedTags, rejectedKeys }).toEqual({ valid: 63, rejectedTags: 243, rejectedKeys: 5 });
  });
});

describe("Wycheproof aes_siv_cmac_test.json (deterministic SIV, one header component)", () => {
  it("seals/opens every valid vector and rejects every invalid one", () => {
    const file = wycheproof("aes_siv_cmac_test.json");
    let valid = 0, invalid = 0;
    for (const group of file.testGroups) {
      const alg = SIV_BY_KEY_BITS[group.keySize]!;
      expect(alg).toBeDefined();
      for (const t of group.tests) {
        const key = hex(t.key), ad = [hex(t.aad!)], ct = hex(t.ct!);
        const opened = aead.open(alg, key, null, ad, ct);
        if (t.result === "valid") {
          expect(toHex(aead.seal(alg, key, null, ad, hex(t.msg))), label(t)).toBe(t.ct);
          expect(opened && toHex(opened), label(t)).toBe(t.msg);
          valid++;
        } else {
          expect(opened, label(t)).toBeNull();
          invalid++;
        }
      }
    }
    expect(valid + invalid).toBe(file.numberOfTests);
    expect(valid).toBe(118);
  });
});

describe("Wycheproof aead_aes_siv_cmac_test.json (nonce-based SIV as NTS uses it: [AD, nonce])", () => {
  it("seals/opens every valid vector (ids 15, 16, 17) and rejects every invalid one", () => {
    const file = wycheproof("aead_aes_siv_cmac_test.json");
    let valid = 0, invalid = 0;
    const byAlg: Record<number, number> = {};
    for (const group of file.testGroups) {
      const alg = SIV_BY_KEY_BITS[group.keySize]!;
      expect(alg).toBeDefined();
      for (const t of group.tests) {
        const key = hex(t.key), nonce = hex(t.iv!), ad = [hex(t.aad!)];
        const output = hex(t.tag! + t.ct!); // AEAD output is V || C
        const opened = aead.open(alg, key, nonce, ad, output);
        if (t.result === "valid") {
          expect(toHex(aead.seal(alg, key, nonce, ad, hex(t.msg))), label(t)).toBe(t.tag! + t.ct!);
          expect(opened && toHex(opened), label(t)).toBe(t.msg);
          valid++;
          byAlg[alg] = (byAlg[alg] ?? 0) + 1;
        } else {
          expect(opened, label(t)).toBeNull();
          invalid++;
        }
      }
    }
    expect(valid + invalid).toBe(file.numberOfTests);
    expect(byAlg).toEqual({ 15: 84, 16: 84, 17: 84 });
  });
});

describe("Wycheproof aes_gcm_siv_test.json", () => {
  it("seals/opens every valid vector (ids 30, 31) and rejects every invalid one", () => {
    const file = wycheproof("aes_gcm_siv_test.json");
    let valid = 0, invalid = 0;
    for (const group of file.testGroups) {
      const alg = GCM_SIV_BY_KEY_BITS[group.keySize]!;
      expect(alg).toBeDefined();
      for (const t of group.tests) {
        const key = hex(t.key), nonce = hex(t.iv!), ad = [hex(t.aad!)];
        const output = hex(t.ct! + t.tag!); // AEAD output is C || tag
        const opened = aead.open(alg, key, nonce, ad, output);
        if (t.result === "valid") {
          expect(toHex(aead.seal(alg, key, nonce, ad, hex(t.msg))), label(t)).toBe(t.ct! + t.tag!);
          expect(opened && toHex(opened), label(t)).toBe(t.msg);
          valid++;
        } else {
          expect(opened, label(t)).toBeNull();
          invalid++;
        }
      }
    }
    expect(valid + invalid).toBe(file.numberOfTests);
    expect(valid).toBe(136);
  });
});
