// NTS-KE record codec (RFC 8915 §4): round trips of every record type, the real captures in
// ../shared/reference/vectors/nts/ decode to what their JSON breakdown says, and hostile input
// (truncated, oversized, unknown-critical, garbage) comes back as an error value, never a throw.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  KeRecordDecoder,
  buildKeErrorResponse,
  buildKeRequest,
  buildKeResponse,
  decodeKeMessage,
  encodeKeRecords,
  interpretKeRequest,
  interpretKeResponse,
  type KeDecodeProgress,
  type KeRecord,
} from "../../ts/protocol/nts-ke-records.js";

const NTS = "/work/shared/reference/vectors/nts";
const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface JsonRecord {
  offset: number;
  critical: boolean;
  type: number;
  body_hex: string;
  values?: number[];
  value?: string | number;
}

function done(progress: KeDecodeProgress): readonly KeRecord[] {
  if (progress.state !== "done") throw new Error(`expected done, got ${JSON.stringify(progress)}`);
  return progress.records;
}

/** Compare a decoded record against the collector's breakdown (type, C bit, body). */
function expectMatches(record: KeRecord, expected: JsonRecord): void {
  expect(record.critical).toBe(expected.critical);
  const reencoded = encodeKeRecords([record]);
  expect(toHex(reencoded.subarray(4))).toBe(expected.body_hex);
  expect(((reencoded[0]! & 0x7f) << 8) | reencoded[1]!).toBe(expected.type);
  if (record.type === "next-protocol") expect(record.protocols).toEqual(expected.values);
  if (record.type === "aead-algorithm") expect(record.algorithms).toEqual(expected.values);
  if (record.type === "server") expect(record.host).toBe(expected.value);
  if (record.type === "port") expect(record.port).toBe(expected.value);
}

const everyType: KeRecord[] = [
  { type: "next-protocol", critical: true, protocols: [0, 0x8001] },
  { type: "aead-algorithm", critical: false, algorithms: [15, 17, 30] },
  { type: "error", critical: true, code: 2 },
  { type: "warning", critical: true, code: 7 },
  { type: "new-cookie", critical: false, cookie: Uint8Array.from([1, 2, 3, 4, 5]) },
  { type: "server", critical: true, host: "ntp.example.org." },
  { type: "port", critical: false, port: 4123 },
  { type: "unknown", critical: false, recordType: 0x1234, body: Uint8Array.from([9, 9]) },
  { type: "end-of-message", critical: true },
];

describe("record round trips", () => {
  it("every record type survives encode → decode, byte for byte", () => {
    const bytes = encodeKeRecords(everyType);
    const records = done(decodeKeMessage(bytes));
    expect(records).toEqual(everyType);
    expect(toHex(encodeKeRecords(records))).toBe(toHex(bytes));
  });

  it("random record sequences round trip, also when fed one byte at a time", () => {
    const record: fc.Arbitrary<KeRecord> = fc.oneof(
      fc.record({ type: fc.constant("next-protocol" as const), critical: fc.boolean(), protocols: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 5 }) }),
      fc.record({ type: fc.constant("aead-algorithm" as const), critical: fc.boolean(), algorithms: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 5 }) }),
      fc.record({ type: fc.constant("error" as const), critical: fc.boolean(), code: fc.integer({ min: 0, max: 0xffff }) }),
      fc.record({ type: fc.constant("warning" as const), critical: fc.boolean(), code: fc.integer({ min: 0, max: 0xffff }) }),
      fc.record({ type: fc.constant("new-cookie" as const), critical: fc.boolean(), cookie: fc.uint8Array({ minLength: 1, maxLength: 200 }) }),
      fc.record({ type: fc.constant("server" as const), critical: fc.boolean(), host: fc.stringMatching(/^[!-~]{1,60}$/) }),
      fc.record({ type: fc.constant("port" as const), critical: fc.boolean(), port: fc.integer({ min: 0, max: 0xffff }) }),
      fc.record({ type: fc.constant("unknown" as const), critical: fc.constant(false as const), recordType: fc.integer({ min: 8, max: 0x7fff }), body: fc.uint8Array({ maxLength: 40 }) }),
    );
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), fc.boolean(), (records, eomCritical) => {
        const message = [...records, { type: "end-of-message" as const, critical: eomCritical }];
        const bytes = encodeKeRecords(message);
        expect(done(decodeKeMessage(bytes))).toEqual(message);
        const decoder = new KeRecordDecoder();
        let progress: KeDecodeProgress = decoder.progress;
        for (let i = 0; i < bytes.length; i++) {
          expect(progress.state).toBe("need-more");
          progress = decoder.push(bytes.subarray(i, i + 1));
        }
        expect(done(progress)).toEqual(message);
      }),
      { numRuns: 300 },
    );
  });

  it("builders produce what the interpreters accept", () => {
    const request = buildKeRequest({ aeadAlgorithms: [17, 15], server: "127.0.0.1", port: 123 });
    const req = interpretKeRequest(done(decodeKeMessage(request)));
    expect(req).toEqual({ ok: true, value: { protocols: [0], aeadAlgorithms: [17, 15], server: "127.0.0.1", port: 123 } });
    const cookies = [new Uint8Array(100).fill(1), new Uint8Array(100).fill(2)];
    const response = buildKeResponse({ protocols: [0], aead: 15, cookies, server: "::1", port: 11123 });
    const res = interpretKeResponse(done(decodeKeMessage(response)), [17, 15]);
    expect(res).toEqual({ ok: true, value: { aead: 15, cookies, server: "::1", port: 11123 } });
    const error = interpretKeResponse(done(decodeKeMessage(buildKeErrorResponse(1))), [15]);
    expect(error).toEqual({ ok: false, failure: { kind: "error-record", code: 1 } });
  });

  it("the request matches the bytes real clients sent (Go, 2019 and 2020)", () => {
    const go = JSON.parse(readFileSync(`${NTS}/go_embeded_ntske_tls13_decrypted.json`, "utf8"));
    expect(toHex(buildKeRequest({ aeadAlgorithms: [15] }))).toBe(go.client_request_hex);
  });
});

describe("real captures", () => {
  for (const file of ["go_embeded_ntske_tls13_decrypted.json", "gonts_ntske_tls12_decrypted.json"]) {
    it(`${file}: request and response decode as the breakdown says`, () => {
      const capture = JSON.parse(readFileSync(`${NTS}/${file}`, "utf8"));
      const pairs: Array<[string, string]> = [["client_request_hex", "client_request_records"], ["server_response_hex", "server_response_records"]];
      for (const [hexKey, recordsKey] of pairs) {
        const records = done(decodeKeMessage(fromHex(capture[hexKey])));
        const expected = capture[recordsKey] as JsonRecord[];
        expect(records).toHaveLength(expected.length);
        records.forEach((r, i) => expectMatches(r, expected[i]!));
      }
      const request = interpretKeRequest(done(decodeKeMessage(fromHex(capture.client_request_hex))));
      expect(request.ok).toBe(true);
      const response = interpretKeResponse(done(decodeKeMessage(fromHex(capture.server_response_hex))), [15]);
      expect(response.ok).toBe(true);
    });
  }

  it("squell_nts-ke_response.bin: NextProto 0, AEAD 15, server, port 4123, eight 100-byte cookies", () => {
    const bytes = new Uint8Array(readFileSync(`${NTS}/squell_nts-ke_response.bin`));
    const seeds = JSON.parse(readFileSync(`${NTS}/squell_nts_fuzz_seeds.json`, "utf8"));
    const expected = seeds.files["squell_nts-ke_response.bin"].records as JsonRecord[];
    const records = done(decodeKeMessage(bytes));
    expect(records).toHaveLength(expected.length);
    records.forEach((r, i) => expectMatches(r, expected[i]!));
    const response = interpretKeResponse(records, [15]);
    if (!response.ok) throw new Error(JSON.stringify(response.failure));
    expect(response.value.aead).toBe(15);
    expect(response.value.server).toBe("2a01:3f7:5:51::4");
    expect(response.value.port).toBe(4123);
    expect(response.value.cookies.map((c) => c.length)).toEqual(new Array(8).fill(100));
    expect(toHex(encodeKeRecords(records))).toBe(toHex(bytes));
  });
});

describe("hostile input", () => {
  const eom = Uint8Array.from([0x80, 0, 0, 0]);

  it("truncated message: error value on end()", () => {
    const bytes = new Uint8Array(readFileSync(`${NTS}/squell_nts-ke_response.bin`));
    for (const cut of [0, 1, 3, 4, 5, 37, 500, bytes.length - 1]) {
      const progress = decodeKeMessage(bytes.subarray(0, cut));
      expect(progress.state).toBe("error");
      if (progress.state === "error") expect(progress.error.kind).toBe("truncated");
    }
  });

  it("oversized message or record: too-large, without buffering past the limit", () => {
    const limits = { maxBytes: 64, maxRecords: 100 };
    const big = encodeKeRecords([{ type: "new-cookie", critical: false, cookie: new Uint8Array(61) }]);
    const decoder = new KeRecordDecoder(limits);
    const progress = decoder.push(big.subarray(0, 4)); // the header alone already says 65 > 64
    expect(progress.state === "error" && progress.error.kind).toBe("too-large");
    const many = new Uint8Array(65); // 16 unknown non-critical empty records + 1 byte
    for (let i = 0; i < 64; i += 4) many.set([0x12, 0x34, 0, 0], i);
    const d2 = new KeRecordDecoder(limits);
    const p2 = d2.push(many);
    expect(p2.state === "error" && p2.error.kind).toBe("too-large");
    expect(d2.bytesReceived).toBeLessThanOrEqual(64);
  });

  it("too many records", () => {
    const records: KeRecord[] = new Array(10).fill({ type: "port", critical: false, port: 1 });
    const bytes = encodeKeRecords([...records, { type: "end-of-message", critical: true }]);
    const progress = decodeKeMessage(bytes, { maxBytes: 1000, maxRecords: 10 });
    expect(progress.state === "error" && progress.error.kind).toBe("too-many-records");
    expect(decodeKeMessage(bytes, { maxBytes: 1000, maxRecords: 11 }).state).toBe("done");
  });

  it("unknown critical record is an error, unknown non-critical is ignored", () => {
    const critical = Uint8Array.from([0x80 | 0x40, 0x01, 0, 1, 0xaa, ...eom]);
    const progress = decodeKeMessage(critical);
    expect(progress.state === "error" && progress.error).toMatchObject({ kind: "unknown-critical", recordType: 0x4001 });
    const benign = Uint8Array.from([0x40, 0x01, 0, 1, 0xaa, ...eom]);
    expect(done(decodeKeMessage(benign))).toHaveLength(2);
  });

  it("malformed bodies of known records", () => {
    const cases = [
      [0x80, 0, 0, 1, 0], // EOM with a body
      [0x80, 1, 0, 3, 0, 0, 0], // odd Next Protocol
      [0x80, 2, 0, 1, 0], // short Error
      [0x80, 3, 0, 3, 0, 0, 0], // long Warning
      [0x80, 4, 0, 1, 15], // odd AEAD
      [0, 5, 0, 0], // empty cookie
      [0x80, 6, 0, 2, 0x41, 0x20], // space in server name
      [0x80, 6, 0, 0], // empty server name
      [0x80, 7, 0, 1, 1], // short port
    ];
    for (const c of cases) {
      const progress = decodeKeMessage(Uint8Array.from([...c, ...eom]));
      expect(progress.state === "error" && progress.error.kind).toBe("malformed");
    }
  });

  it("garbage never throws: every outcome is a value, the byte bound holds", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const decoder = new KeRecordDecoder({ maxBytes: 512, maxRecords: 32 });
        let progress: KeDecodeProgress = decoder.progress;
        for (const chunk of chunks) progress = decoder.push(chunk);
        progress = decoder.end();
        expect(["done", "error"]).toContain(progress.state);
        expect(decoder.bytesReceived).toBeLessThanOrEqual(512);
        if (progress.state === "done") {
          interpretKeResponse(progress.records, [15]);
          interpretKeRequest(progress.records);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("mutated real response never throws, and decodes or fails as a value", () => {
    const bytes = new Uint8Array(readFileSync(`${NTS}/squell_nts-ke_response.bin`));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(bytes.length), (edits, cut) => {
        const mutated = bytes.slice(0, Math.max(cut, 1));
        for (const [at, value] of edits) if (at < mutated.length) mutated[at] = value;
        const progress = decodeKeMessage(mutated);
        if (progress.state === "done") interpretKeResponse(progress.records, [15]);
        else expect(progress.state).toBe("error");
      }),
      { numRuns: 2000 },
    );
  });

  it("response checks: missing NTPv4, AEAD not offered, no cookies, duplicates, warnings", () => {
    const cookie = new Uint8Array(8);
    const base = { protocols: [0], aead: 15, cookies: [cookie] };
    const check = (bytes: Uint8Array) => interpretKeResponse(done(decodeKeMessage(bytes)), [15]);
    expect(check(buildKeResponse({ ...base, protocols: [] })).ok).toBe(false);
    expect(check(buildKeResponse({ ...base, aead: 17 })).ok).toBe(false);
    expect(check(buildKeResponse({ ...base, aead: null })).ok).toBe(false);
    expect(check(buildKeResponse({ ...base, cookies: [] })).ok).toBe(false);
    expect(check(buildKeResponse({ ...base, port: 0 })).ok).toBe(false);
    expect(check(buildKeResponse({ ...base, warnings: [5] }))).toEqual({ ok: false, failure: { kind: "warning-record", code: 5 } });
    const twice = encodeKeRecords([
      { type: "next-protocol", critical: true, protocols: [0] },
      { type: "next-protocol", critical: true, protocols: [0] },
      { type: "aead-algorithm", critical: true, algorithms: [15] },
      { type: "new-cookie", critical: false, cookie },
      { type: "end-of-message", critical: true },
    ]);
    expect(check(twice).ok).toBe(false);
  });

  it("request checks: no protocol, NTPv4 without AEAD, client-only rules → Bad Request", () => {
    const check = (records: KeRecord[]) => interpretKeRequest([...records, { type: "end-of-message", critical: true }]);
    expect(check([])).toMatchObject({ ok: false, errorCode: 1 });
    expect(check([{ type: "next-protocol", critical: true, protocols: [0] }])).toMatchObject({ ok: false, errorCode: 1 });
    expect(check([{ type: "next-protocol", critical: true, protocols: [0] }, { type: "aead-algorithm", critical: true, algorithms: [15] }, { type: "new-cookie", critical: false, cookie: new Uint8Array(4) }])).toMatchObject({ ok: false, errorCode: 1 });
    expect(check([{ type: "next-protocol", critical: true, protocols: [0] }, { type: "aead-algorithm", critical: true, algorithms: [15] }]).ok).toBe(true);
  });

  it("bytes after End of Message are counted as trailing, not parsed", () => {
    const decoder = new KeRecordDecoder();
    const progress = decoder.push(Uint8Array.from([...eom, 1, 2, 3]));
    expect(progress).toMatchObject({ state: "done", trailingBytes: 3 });
    expect(decoder.push(Uint8Array.from([4]))).toMatchObject({ state: "done", trailingBytes: 4 });
  });
});
