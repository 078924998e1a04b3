// Maps a key path of a parsed TOML document (e.g. `server[1].denylist.filter[2]`) back to the
// line:column where it was written, because smol-toml returns plain values without positions.
//
// The scanner runs only on text smol-toml has already accepted, so it can assume valid TOML and
// stay small: it tracks the current table header, counts `[[array]]` headers per resolved path
// (so `[server.denylist]` after the second `[[server]]` means `server[1].denylist`), follows dotted
// and quoted keys, and descends into inline tables and (multi-line) arrays to index each element.
// Cost: one pass, O(length of the text); lookups are Map hits walking up at most the path depth.

import type { Path, Where } from "./dsl.js";

export interface LineCol {
  line: number;
  col: number;
}

interface Entry {
  key: LineCol;
  value?: LineCol;
}

export class PositionIndex {
  private readonly entries = new Map<string, Entry>();

  /** @internal used by the scanner; the first definition of a path wins (tables re-opened later keep their first header). */
  record(path: Path, key: LineCol, value?: LineCol): void {
    const k = JSON.stringify(path);
    const e = this.entries.get(k);
    if (e === undefined) this.entries.set(k, value === undefined ? { key } : { key, value });
    else if (value !== undefined && e.value === undefined) e.value = value;
  }

  /**
   * Position of `path`: its value (where = "value") or its key. A path that is not written in the
   * text (a default, a missing key) falls back to its nearest written ancestor, then to 1:1.
   */
  locate(path: Path, where: Where = "value"): LineCol {
    for (let n = path.length; n >= 0; n--) {
      const e = this.entries.get(JSON.stringify(path.slice(0, n)));
      if (e === undefined) continue;
      return where === "value" && n === path.length && e.value !== undefined ? e.value : e.key;
    }
    return { line: 1, col: 1 };
  }
}

/**
 * Indexes a document smol-toml accepted. Should the scanner meet a construct it does not know (a
 * TOML extension), it stops there and keeps what it indexed: later paths fall back to ancestors.
 */
export function indexPositions(text: string): PositionIndex {
  const scanner = new Scanner(text);
  try {
    return scanner.run();
  } catch (err) {
    if (err instanceof ScanStuck) return scanner.partial();
    throw err;
  }
}

/** Like indexPositions, but throws where the scanner cannot follow the text (for tests). */
export function indexPositionsStrict(text: string): PositionIndex {
  return new Scanner(text).run();
}

export class ScanStuck extends Error {
  constructor(offset: number) {
    super(`TOML position scanner cannot follow the text at offset ${offset}`);
  }
}

const BARE_KEY = /[A-Za-z0-9_-]/;

class Scanner {
  private pos = 0;
  private readonly index = new PositionIndex();
  private readonly lineStarts: number[] = [0];
  /** Resolved array-of-tables path → number of elements so far. */
  private readonly arrayTables = new Map<string, number>();

  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === "\n" || (c === "\r" && text[i + 1] !== "\n")) this.lineStarts.push(i + 1);
    }
  }

  private lc(offset: number): LineCol {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.lineStarts[lo]! + 1 };
  }

  partial(): PositionIndex {
    return this.index;
  }

  /** Every loop must consume text; this turns a would-be endless loop into an exception. */
  private expect(char: string): void {
    if (this.text[this.pos] !== char) throw new ScanStuck(this.pos);
    this.pos++;
  }

  run(): PositionIndex {
    let table: (string | number)[] = [];
    for (;;) {
      this.skipSpaceAndComments();
      if (this.pos >= this.text.length) return this.index;
      const start = this.pos;
      if (this.text.startsWith("[[", this.pos)) {
        this.pos += 2;
        const keys = this.readKey();
        this.expect("]");
        this.expect("]");
        const parent = this.resolve(keys.slice(0, -1).map((k) => k.name));
        const arrayPath = [...parent, keys[keys.length - 1]!.name];
        const id = JSON.stringify(arrayPath);
        const n = this.arrayTables.get(id) ?? 0;
        this.arrayTables.set(id, n + 1);
        this.recordPrefixes(arrayPath, start);
        table = [...arrayPath, n];
        this.index.record(table, this.lc(start));
      } else if (this.text[this.pos] === "[") {
        this.pos += 1;
        const keys = this.readKey();
        this.expect("]");
        table = this.resolve(keys.map((k) => k.name));
        this.recordPrefixes(table, start);
      } else {
        this.keyValue(table);
      }
    }
  }

  /** Appends the current element index after every segment that names an array of tables. */
  private resolve(names: string[]): (string | number)[] {
    const out: (string | number)[] = [];
    for (const name of names) {
      out.push(name);
      const n = this.arrayTables.get(JSON.stringify(out));
      if (n !== undefined) out.push(n - 1);
    }
    return out;
  }

  private recordPrefixes(path: (string | number)[], offset: number): void {
    for (let i = 1; i <= path.length; i++) this.index.record(path.slice(0, i), this.lc(offset));
  }

  /** `a."b c".d = value` relative to `base`; records each key segment and the value. */
  private keyValue(base: (string | number)[]): void {
    const keys = this.readKey();
    const path = [...base];
    for (const k of keys) {
      path.push(k.name);
      this.index.record([...path], this.lc(k.offset));
    }
    this.skipInlineSpace();
    this.expect("=");
    this.skipInlineSpace();
    this.value(path);
  }

  private value(path: (string | number)[]): void {
    this.index.record(path, this.lc(this.pos), this.lc(this.pos));
    const c = this.text[this.pos];
    if (c === '"' || c === "'") {
      this.skipString();
    } else if (c === "[") {
      this.pos++;
      for (let i = 0; ; i++) {
        this.skipSpaceAndComments();
        if (this.text[this.pos] === "]") break;
        this.value([...path, i]);
        this.skipSpaceAndComments();
        if (this.text[this.pos] !== "]") this.expect(",");
      }
      this.pos++;
    } else if (c === "{") {
      this.pos++;
      for (;;) {
        this.skipSpaceAndComments();
        if (this.text[this.pos] === "}") break;
        this.keyValue(path);
        this.skipSpaceAndComments();
        if (this.text[this.pos] !== "}") this.expect(",");
      }
      this.pos++;
    } else {
      // Number, boolean or date-time: runs to a delimiter (date-times may contain one space).
      const start = this.pos;
      while (this.pos < this.text.length && !/[,\]}#\r\n]/.test(this.text[this.pos]!)) this.pos++;
      if (this.pos === start) throw new ScanStuck(start);
    }
  }

  /** A dotted key: segments with their offsets, quotes removed and escapes decoded. */
  private readKey(): { name: string; offset: number }[] {
    const keys: { name: string; offset: number }[] = [];
    for (;;) {
      this.skipInlineSpace();
      const offset = this.pos;
      const c = this.text[this.pos];
      if (c === '"' || c === "'") {
        const end = this.skipString();
        const body = this.text.slice(offset + 1, end - 1);
        keys.push({ name: c === '"' ? unescapeBasic(body) : body, offset });
      } else {
        while (this.pos < this.text.length && BARE_KEY.test(this.text[this.pos]!)) this.pos++;
        if (this.pos === offset) throw new ScanStuck(offset);
        keys.push({ name: this.text.slice(offset, this.pos), offset });
      }
      this.skipInlineSpace();
      if (this.text[this.pos] !== ".") return keys;
      this.pos++;
    }
  }

  /** Skips a string of any of the four kinds; returns the offset just past it. */
  private skipString(): number {
    const q = this.text[this.pos]!;
    const triple = q.repeat(3);
    if (this.text.startsWith(triple, this.pos)) {
      this.pos += 3;
      for (;;) {
        if (this.pos >= this.text.length) throw new ScanStuck(this.pos);
        if (q === '"' && this.text[this.pos] === "\\") {
          this.pos += 2;
          continue;
        }
        if (this.text.startsWith(triple, this.pos)) {
          this.pos += 3;
          // Up to two more quotes may close the content: `""""` ends with one quote in the value.
          for (let extra = 0; extra < 2 && this.text[this.pos] === q; extra++) this.pos++;
          return this.pos;
        }
        this.pos++;
      }
    }
    this.pos++;
    while (this.text[this.pos] !== q) {
      if (this.pos >= this.text.length) throw new ScanStuck(this.pos);
      this.pos += q === '"' && this.text[this.pos] === "\\" ? 2 : 1;
    }
    return ++this.pos;
  }

  private skipInlineSpace(): void {
    while (this.text[this.pos] === " " || this.text[this.pos] === "\t") this.pos++;
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.text[this.pos];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") this.pos++;
      else if (c === "#") while (this.pos < this.text.length && this.text[this.pos] !== "\n") this.pos++;
      else return;
    }
  }
}

/** TOML basic-string escapes (§ String): \b \t \n \f \r \e \" \\ \xHH \uHHHH \UHHHHHHHH. */
function unescapeBasic(s: string): string {
  return s.replace(/\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)/g, (_, e: string) => {
    if (e.length > 1) return String.fromCodePoint(parseInt(e.slice(1), 16));
    return ({ b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", e: "\x1b", '"': '"', "\\": "\\" } as Record<string, string>)[e] ?? e;
  });
}
