import fc from "fast-check";
import { parse, stringify } from "smol-toml";
import { describe, expect, it } from "vitest";
import type { Path } from "../../ts/config/dsl.js";
import { ScanStuck, indexPositions, indexPositionsStrict } from "../../ts/config/locate.js";

/** The text at a located position, for readable assertions. */
function at(text: string, path: Path, where: "key" | "value" = "value"): string {
  const { line, col } = indexPositions(text).locate(path, where);
  return text.split(/\r\n|\n|\r/)[line - 1]!.slice(col - 1);
}

describe("position locator", () => {
  const tricky = `# comment with = and [brackets] and "quotes"
title = "a # not a comment"   # trailing comment

[[server]]
listen = "0.0.0.0:123"

[[server]]
listen = "[::]:123"
denylist.action = "deny"
denylist.filter = [
  "10.0.0.0/8",   # first
  # a comment line inside the array
  "192.168.0.0/16",
  [ "nested", 'array' ],
]

[server.allowlist]
filter = ["0.0.0.0/0"]
"quoted key" = { inner = { deep = 'x' }, list = [1, 2] }

[[server.extra]]
a = 1
[[server.extra]]
a = 2

[ "synchronization" ]
'local-stratum' = 3
multi = """
line one "quoted" [not a table]
a = 1
"""
after = 'literal'
date = 1979-05-27 07:32:00Z
"esc\\u0061ped" = true

[[source]]
mode = "server"
`;

  it("parses as TOML (the locator only ever sees valid documents)", () => {
    expect(() => parse(tricky)).not.toThrow();
  });

  it("finds values in arrays of tables by index", () => {
    expect(at(tricky, ["server", 0, "listen"])).toBe('"0.0.0.0:123"');
    expect(at(tricky, ["server", 1, "listen"])).toBe('"[::]:123"');
    expect(at(tricky, ["source", 0, "mode"])).toBe('"server"');
  });

  it("points at the header of an array-of-tables element and of a table", () => {
    expect(at(tricky, ["server", 1], "key")).toBe("[[server]]");
    expect(at(tricky, ["synchronization"], "key")).toBe('[ "synchronization" ]');
    expect(at(tricky, ["server", 1, "allowlist"], "key")).toBe("[server.allowlist]");
  });

  it("follows dotted keys and multi-line arrays with comments", () => {
    expect(at(tricky, ["server", 1, "denylist"], "key")).toBe('denylist.action = "deny"');
    expect(at(tricky, ["server", 1, "denylist", "filter"], "key")).toBe("filter = [");
    expect(at(tricky, ["server", 1, "denylist", "filter", 0])).toBe('"10.0.0.0/8",   # first');
    expect(at(tricky, ["server", 1, "denylist", "filter", 1])).toBe('"192.168.0.0/16",');
    expect(at(tricky, ["server", 1, "denylist", "filter", 2, 1])).toBe("'array' ],");
  });

  it("resolves a sub-table header to the latest array element", () => {
    expect(at(tricky, ["server", 1, "allowlist", "filter", 0])).toBe('"0.0.0.0/0"]');
  });

  it("handles quoted keys, nested inline tables and escapes in keys", () => {
    expect(at(tricky, ["server", 1, "allowlist", "quoted key", "inner", "deep"])).toBe("'x' }, list = [1, 2] }");
    expect(at(tricky, ["server", 1, "allowlist", "quoted key", "list", 1])).toBe("2] }");
    expect(at(tricky, ["server", 1, "allowlist", "quoted key", "list"], "key")).toBe("list = [1, 2] }");
    expect(at(tricky, ["synchronization", "local-stratum"])).toBe("3");
    expect(at(tricky, ["synchronization", "escaped"], "key")).toBe('"esc\\u0061ped" = true');
  });

  it("skips multi-line strings that look like keys and tables", () => {
    expect(at(tricky, ["synchronization", "after"])).toBe("'literal'");
    expect(at(tricky, ["synchronization", "date"])).toBe("1979-05-27 07:32:00Z");
    expect(at(tricky, ["a"], "key")).not.toBe("a = 1"); // "a = 1" inside the string is not a key
  });

  it("counts nested arrays of tables per parent element", () => {
    expect(at(tricky, ["server", 1, "extra", 0, "a"])).toBe("1");
    expect(at(tricky, ["server", 1, "extra", 1, "a"])).toBe("2");
  });

  it("falls back to the nearest written ancestor, then 1:1", () => {
    expect(at(tricky, ["server", 0, "not-written"])).toBe("[[server]]");
    expect(indexPositions(tricky).locate(["nowhere", 3])).toEqual({ line: 1, col: 1 });
  });

  it("handles CRLF and CR line ends", () => {
    const crlf = '[a]\r\nb = 1\r\n[[c]]\r\nd = "x"\r\n';
    expect(indexPositions(crlf).locate(["c", 0, "d"])).toEqual({ line: 4, col: 5 });
  });

  it("follows the whole tricky document without getting stuck", () => {
    expect(() => indexPositionsStrict(tricky)).not.toThrow();
  });

  it("stops, keeping what it indexed, where smol-toml is more lenient than TOML", () => {
    // smol-toml 1.6.1 accepts these invalid documents; the scanner must neither loop nor throw.
    const lenient = ['[[server]}\nlisten = 1\n', '[[source]]\n"e = "junk"\naddress = 1\n', 'x = { "a = "inf", b = 1 }\n'];
    for (const text of lenient) {
      expect(() => parse(text)).not.toThrow();
      expect(() => indexPositionsStrict(text)).toThrow(ScanStuck);
      expect(indexPositions(text).locate(["zzz"])).toEqual({ line: 1, col: 1 });
    }
    expect(indexPositions('[[source]]\n"e = "junk"\naddress = 1\n').locate(["source", 0], "key")).toEqual({ line: 1, col: 1 });
  });

  // Property: for any document smol-toml can write, every leaf value is located at text that
  // parses back to that value.
  const key = fc.oneof(fc.constantFrom("a", "b-c", "d_e", "with space", "dot.ted", 'q"uote', "ü"), fc.string({ minLength: 1, maxLength: 6 }));
  const leaf = fc.oneof(fc.integer(), fc.boolean(), fc.string({ maxLength: 8 }), fc.double({ noNaN: true, min: -1e6, max: 1e6 }));
  const { doc } = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("value"), { maxLength: 3 }), tie("doc")),
    doc: fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  }));

  function leaves(value: unknown, path: (string | number)[], out: [Path, unknown][]): void {
    if (Array.isArray(value)) value.forEach((v, i) => leaves(v, [...path, i], out));
    else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) leaves(v, [...path, k], out);
    else out.push([path, value]);
  }

  it("locates every leaf of generated documents (property)", () => {
    fc.assert(
      fc.property(doc, (d) => {
        const text = stringify(d);
        const parsed = parse(text);
        const index = indexPositionsStrict(text);
        const lines = text.split("\n");
        const found: [Path, unknown][] = [];
        leaves(parsed, [], found);
        for (const [path, value] of found) {
          const { line, col } = index.locate(path, "value");
          const rest = lines[line - 1]!.slice(col - 1);
          // Re-parse the located text as the value of a fresh key.
          const literal = rest.match(/^("(?:[^"\\]|\\.)*"|'[^']*'|[^,\]}\s#]+)/)?.[1];
          expect(literal, `${JSON.stringify(path)} in\n${text}`).toBeDefined();
          expect(parse(`x = ${literal}`).x).toEqual(value);
        }
      }),
      { numRuns: 300 },
    );
  });
});
