// A small declarative schema language for the TOML config. One schema (ts/config/schema.ts) written
// with these builders yields three things that therefore cannot drift apart:
//   1. the TypeScript type of the validated config (inferred, see `Out<S>`),
//   2. the validator (every spec knows how to decode a raw TOML value and report what is wrong),
//   3. the README reference (docs.ts walks the same objects and prints types, defaults and docs).
// Keys are kebab-case in TOML (ntpd-rs's vocabulary) and camelCase in the typed output.

import { closest } from "./suggest.js";

export type Path = readonly (string | number)[];
/** Which part of a `key = value` pair an issue points at (the locator maps it to line:col). */
export type Where = "key" | "value";

export interface Issue {
  severity: "error" | "warning";
  path: Path;
  where: Where;
  /** "path: what is wrong; allowed: what is allowed" */
  message: string;
  what: string;
  allowed?: string;
}

/** Renders `["server", 1, "denylist", "filter", 2]` as `server[1].denylist.filter[2]`. */
export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = /^[A-Za-z0-9_-]+$/.test(seg) ? seg : JSON.stringify(seg);
      out += out === "" ? key : `.${key}`;
    }
  }
  return out === "" ? "(top level)" : out;
}

/** Collects issues; decoding never stops at the first one. */
export class Reporter {
  readonly issues: Issue[] = [];
  error(path: Path, what: string, allowed?: string, where: Where = "value"): void {
    const issue: Issue = { severity: "error", path, where, what, message: compose(path, what, allowed) };
    if (allowed !== undefined) issue.allowed = allowed;
    this.issues.push(issue);
  }
  warn(path: Path, what: string, where: Where = "key"): void {
    this.issues.push({ severity: "warning", path, where, what, message: compose(path, what, undefined) });
  }
  get errorCount(): number {
    return this.issues.filter((i) => i.severity === "error").length;
  }
}

function compose(path: Path, what: string, allowed: string | undefined): string {
  return `${formatPath(path)}: ${what}${allowed === undefined ? "" : `; allowed: ${allowed}`}`;
}

/** Reporter for schema defaults: an invalid default is a bug in the schema, not in the user's file. */
class ThrowingReporter extends Reporter {
  override error(path: Path, what: string, allowed?: string): void {
    throw new Error(`config schema bug: default of ${formatPath(path)} is invalid: ${what}; allowed: ${allowed}`);
  }
  /** Defaults are not the user's keys: no "not yet active" warnings for them. */
  override warn(): void {}
}

export const INVALID: unique symbol = Symbol("invalid");
export type Invalid = typeof INVALID;

/** Describes a raw TOML value for "found …" messages. */
export function describeRaw(raw: unknown): string {
  if (typeof raw === "string") return `the string ${JSON.stringify(raw)}`;
  if (typeof raw === "number") return Number.isInteger(raw) ? `the integer ${raw}` : `the number ${raw}`;
  if (typeof raw === "boolean") return `the boolean ${raw}`;
  if (raw instanceof Date) return "a date-time";
  if (Array.isArray(raw)) return "an array";
  if (typeof raw === "object" && raw !== null) return "a table";
  return String(raw);
}

/** Renders a raw TOML value back as TOML (docs: defaults and allowed values). */
export function tomlLiteral(raw: unknown): string {
  if (typeof raw === "string") return JSON.stringify(raw);
  if (typeof raw === "number") return raw === Infinity ? '"inf"' : String(raw);
  if (Array.isArray(raw)) return `[${raw.map(tomlLiteral).join(", ")}]`;
  if (typeof raw === "object" && raw !== null) {
    const inner = Object.entries(raw).map(([k, v]) => `${k} = ${tomlLiteral(v)}`);
    return inner.length === 0 ? "{}" : `{ ${inner.join(", ")} }`;
  }
  return String(raw);
}

export interface RefineContext {
  readonly path: Path;
  /** The raw TOML value this spec decoded (a table's raw object, for `has`). */
  readonly raw: unknown;
  /** True when the user wrote this key in this table (not filled from a default). */
  has(key: string): boolean;
  error(subPath: Path, what: string, allowed?: string, where?: Where): void;
}

/** A value's specification. `T` is the typed output. */
export abstract class Spec<T> {
  declare readonly __out: T;
  /** Human text of what is allowed, e.g. "an integer from 1 to 65535". */
  abstract allowed(): string;
  abstract decode(raw: unknown, path: Path, r: Reporter): T | Invalid;

  /** Cross-field or semantic check on the decoded value; report problems through `ctx.error`. */
  refine(check: (value: T, ctx: RefineContext) => void): Spec<T> {
    return new MappedSpec<T, T>(this, (v, ctx) => {
      check(v, ctx);
      return v;
    });
  }
  /** Changes the output (e.g. fills inherited values); may report errors and return INVALID. */
  map<U>(fn: (value: T, ctx: RefineContext) => U | Invalid): Spec<U> {
    return new MappedSpec<T, U>(this, fn);
  }
}

export type Out<S> = S extends Spec<infer T> ? T : never;

export class MappedSpec<I, O> extends Spec<O> {
  constructor(
    readonly inner: Spec<I>,
    private readonly fn: (value: I, ctx: RefineContext) => O | Invalid,
  ) {
    super();
  }
  allowed(): string {
    return this.inner.allowed();
  }
  decode(raw: unknown, path: Path, r: Reporter): O | Invalid {
    const value = this.inner.decode(raw, path, r);
    if (value === INVALID) return INVALID;
    const before = r.errorCount;
    const ctx: RefineContext = {
      path,
      raw,
      has: (key) => isTable(raw) && Object.hasOwn(raw, key),
      error: (sub, what, allowed, where = "value") => r.error([...path, ...sub], what, allowed, where),
    };
    const out = this.fn(value, ctx);
    return r.errorCount > before ? INVALID : out;
  }
}

function isTable(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === "object" && raw !== null && !Array.isArray(raw) && !(raw instanceof Date);
}

function typeError(r: Reporter, path: Path, raw: unknown, allowed: string): Invalid {
  r.error(path, `found ${describeRaw(raw)}`, allowed);
  return INVALID;
}

// ---------------------------------------------------------------- scalars

export class BoolSpec extends Spec<boolean> {
  allowed(): string {
    return "true or false";
  }
  decode(raw: unknown, path: Path, r: Reporter): boolean | Invalid {
    return typeof raw === "boolean" ? raw : typeError(r, path, raw, this.allowed());
  }
}

export interface NumberRange {
  min?: number;
  max?: number;
  /** Lower bound excluded (e.g. an interval must be > 0). */
  minExclusive?: boolean;
  /** Unit shown in docs and messages, e.g. "seconds". */
  unit?: string;
}

function rangeText(kind: string, range: NumberRange): string {
  const { min, max, minExclusive, unit } = range;
  const u = unit === undefined ? "" : ` (${unit})`;
  if (min !== undefined && max !== undefined) {
    return minExclusive ? `${kind} greater than ${min} and at most ${max}${u}` : `${kind} from ${min} to ${max}${u}`;
  }
  if (min !== undefined) return minExclusive ? `${kind} greater than ${min}${u}` : `${kind} of at least ${min}${u}`;
  if (max !== undefined) return `${kind} of at most ${max}${u}`;
  return `${kind}${u}`;
}

function outOfRange(v: number, range: NumberRange): boolean {
  const { min, max, minExclusive } = range;
  if (min !== undefined && (minExclusive ? v <= min : v < min)) return true;
  return max !== undefined && v > max;
}

export class IntSpec extends Spec<number> {
  constructor(readonly range: NumberRange) {
    super();
  }
  allowed(): string {
    return rangeText("an integer", this.range);
  }
  decode(raw: unknown, path: Path, r: Reporter): number | Invalid {
    if (typeof raw !== "number") return typeError(r, path, raw, this.allowed());
    if (!Number.isInteger(raw)) {
      r.error(path, `${raw} is not a whole number`, this.allowed());
      return INVALID;
    }
    if (outOfRange(raw, this.range)) {
      r.error(path, `${raw} is out of range`, this.allowed());
      return INVALID;
    }
    return raw;
  }
}

export class NumSpec extends Spec<number> {
  constructor(
    readonly range: NumberRange,
    /** Also accept the string "inf" (ntpd-rs's spelling of "no limit"). */
    readonly acceptInf = false,
  ) {
    super();
  }
  allowed(): string {
    return rangeText("a number", this.range) + (this.acceptInf ? ' or "inf"' : "");
  }
  decode(raw: unknown, path: Path, r: Reporter): number | Invalid {
    if (this.acceptInf && raw === "inf") return Infinity;
    if (typeof raw !== "number" || Number.isNaN(raw)) return typeError(r, path, raw, this.allowed());
    if (outOfRange(raw, this.range) || (!this.acceptInf && !Number.isFinite(raw))) {
      r.error(path, `${raw} is out of range`, this.allowed());
      return INVALID;
    }
    return raw;
  }
}

/** Signals a parse failure from a `text()` parser: `what` says what is wrong. */
export class Fail {
  constructor(readonly what: string) {}
}

/** A string, optionally parsed into a richer value (addresses, CIDRs, names). */
export class TextSpec<T> extends Spec<T> {
  constructor(
    private readonly allowedText: string,
    private readonly parse: (s: string) => T | Fail,
  ) {
    super();
  }
  allowed(): string {
    return this.allowedText;
  }
  decode(raw: unknown, path: Path, r: Reporter): T | Invalid {
    if (typeof raw !== "string") return typeError(r, path, raw, this.allowed());
    const v = this.parse(raw);
    if (v instanceof Fail) {
      r.error(path, v.what, this.allowed());
      return INVALID;
    }
    return v;
  }
}

export class EnumSpec<T extends string | number> extends Spec<T> {
  constructor(readonly values: readonly T[]) {
    super();
  }
  allowed(): string {
    return this.values.map((v) => tomlLiteral(v)).join(", ");
  }
  decode(raw: unknown, path: Path, r: Reporter): T | Invalid {
    if ((this.values as readonly unknown[]).includes(raw)) return raw as T;
    if (typeof raw !== typeof this.values[0]) return typeError(r, path, raw, `one of ${this.allowed()}`);
    const hint = typeof raw === "string" ? closest(raw, this.values.map(String)) : undefined;
    const suggestion = hint === undefined ? "" : ` (did you mean ${JSON.stringify(hint)}?)`;
    r.error(path, `${tomlLiteral(raw)} is not allowed${suggestion}`, `one of ${this.allowed()}`);
    return INVALID;
  }
}

// ---------------------------------------------------------------- compounds

export interface ListOptions {
  minItems?: number;
  maxItems?: number;
  /** Reject repeated entries (compared as written). */
  unique?: boolean;
}

export class ListSpec<T> extends Spec<T[]> {
  constructor(
    readonly item: Spec<T>,
    readonly options: ListOptions = {},
  ) {
    super();
  }
  allowed(): string {
    const { minItems, maxItems } = this.options;
    const count =
      minItems !== undefined && minItems > 0 ? ` (at least ${minItems})` : maxItems !== undefined ? ` (at most ${maxItems})` : "";
    if (unwrap(this.item) instanceof TableSpec) return `an array${count} of tables`;
    return `an array${count}, each entry ${this.item.allowed()}`;
  }
  decode(raw: unknown, path: Path, r: Reporter): T[] | Invalid {
    const name = path[path.length - 1];
    if (isTable(raw) && unwrap(this.item) instanceof TableSpec && typeof name === "string") {
      // `[server]` where `[[server]]` was meant: say so rather than "found a table".
      r.error(path, `found a single table; write each entry as [[${name}]] (double brackets)`, this.allowed(), "key");
      return INVALID;
    }
    if (!Array.isArray(raw)) return typeError(r, path, raw, this.allowed());
    const { minItems = 0, maxItems = Infinity, unique = false } = this.options;
    let ok = true;
    if (raw.length < minItems || raw.length > maxItems) {
      r.error(path, `has ${raw.length} entries`, this.allowed());
      ok = false;
    }
    const out: T[] = [];
    const seen = new Map<string, number>();
    raw.forEach((item, i) => {
      const v = this.item.decode(item, [...path, i], r);
      if (v === INVALID) ok = false;
      else out.push(v);
      if (unique) {
        const k = JSON.stringify(item);
        const first = seen.get(k);
        if (first !== undefined) {
          r.error([...path, i], `${tomlLiteral(item)} repeats entry ${first}`, "each value once");
          ok = false;
        } else seen.set(k, i);
      }
    });
    return ok ? out : INVALID;
  }
}

export interface FieldOptions {
  /** What the key does; rendered in the README. */
  doc: string;
  /** Raw TOML value used when the key is absent; decoded through the same spec. */
  default?: unknown;
  required?: true;
  /** The key is accepted and documented but nothing uses it yet: names the work that will. */
  pending?: string;
  /** Docs text for the default when it is not a literal (e.g. "one per CPU core"). */
  defaultText?: string;
}

/** A key of a table. `O` is its output type (T, or T | undefined when optional without default). */
export class Field<O> {
  declare readonly __out: O;
  constructor(
    readonly spec: Spec<unknown>,
    readonly options: FieldOptions,
  ) {}
}

export function key<T>(spec: Spec<T>, o: FieldOptions & { required: true }): Field<T>;
export function key<T>(spec: Spec<T>, o: FieldOptions & { default: unknown }): Field<T>;
export function key<T>(spec: Spec<T>, o: FieldOptions): Field<T | undefined>;
export function key<T>(spec: Spec<T>, o: FieldOptions): Field<T | undefined> {
  return new Field(spec, o);
}

type Camel<S extends string> = S extends `${infer H}-${infer R}` ? `${H}${Capitalize<Camel<R>>}` : S;
export type Fields = Record<string, Field<unknown>>;
export type TableOut<F extends Fields> = {
  [K in keyof F & string as Camel<K>]: F[K] extends Field<infer O> ? O : never;
};

export function camel(kebab: string): string {
  return kebab.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export interface TableOptions {
  /** Write this table's keys as `[name]` / `[[name]]` in messages (the top level). */
  sections?: boolean;
}

export class TableSpec<F extends Fields> extends Spec<TableOut<F>> {
  constructor(
    readonly fields: F,
    readonly options: TableOptions = {},
  ) {
    super();
  }
  allowed(): string {
    return "a table";
  }
  /** How a key is named in "allowed:" lists. */
  keyLabel(name: string): string {
    if (!this.options.sections) return name;
    const spec = unwrap(this.fields[name]?.spec);
    return spec instanceof ListSpec ? `[[${name}]]` : spec instanceof TableSpec ? `[${name}]` : name;
  }
  decode(raw: unknown, path: Path, r: Reporter): TableOut<F> | Invalid {
    if (!isTable(raw)) return typeError(r, path, raw, this.allowed());
    let ok = true;
    const names = Object.keys(this.fields);
    /** Required keys an unknown key looks like a typo of: "missing" would only repeat the hint. */
    const misspelt = new Set<string>();
    for (const k of Object.keys(raw)) {
      if (Object.hasOwn(this.fields, k)) continue;
      const isSub = isTable(raw[k]) || (Array.isArray(raw[k]) && (raw[k] as unknown[]).every(isTable) && this.options.sections);
      const hint = closest(k, names);
      if (hint !== undefined) misspelt.add(hint);
      const what = `unknown ${isSub ? "table" : "key"}${hint === undefined ? "" : ` (did you mean ${JSON.stringify(hint)}?)`}`;
      r.error([...path, k], what, names.map((n) => this.keyLabel(n)).join(", "), "key");
      ok = false;
    }
    const out: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(this.fields)) {
      const p = [...path, name];
      const { required, pending } = field.options;
      if (Object.hasOwn(raw, name)) {
        if (pending !== undefined) r.warn(p, `accepted but not yet active (${pending})`);
        const v = field.spec.decode(raw[name], p, r);
        if (v === INVALID) ok = false;
        else out[camel(name)] = v;
      } else if (required) {
        if (!misspelt.has(name)) r.error(path, `missing required key ${JSON.stringify(name)}`, field.spec.allowed(), "key");
        ok = false;
      } else if (field.options.default !== undefined) {
        out[camel(name)] = field.spec.decode(field.options.default, p, new ThrowingReporter());
      } else out[camel(name)] = undefined;
    }
    return ok ? (out as TableOut<F>) : INVALID;
  }
}

/** A value written either as a scalar or as a table, e.g. one threshold or `{ forward, backward }`. */
export class ScalarOrTableSpec<S, T> extends Spec<T> {
  constructor(
    readonly scalar: Spec<S>,
    readonly table: Spec<T>,
    private readonly lift: (value: S) => T,
  ) {
    super();
  }
  allowed(): string {
    const t = unwrap(this.table);
    const keys = t instanceof TableSpec ? Object.keys(t.fields).map((k) => `${k} = …`).join(", ") : "…";
    return `${this.scalar.allowed()}, or a table { ${keys} }`;
  }
  decode(raw: unknown, path: Path, r: Reporter): T | Invalid {
    if (isTable(raw)) return this.table.decode(raw, path, r);
    // Decode the scalar form aside, so its errors can name both forms in "allowed".
    const aside = new Reporter();
    const v = Array.isArray(raw) ? INVALID : this.scalar.decode(raw, path, aside);
    if (v !== INVALID) return this.lift(v);
    r.error(path, aside.issues[0]?.what ?? `found ${describeRaw(raw)}`, this.allowed());
    return INVALID;
  }
}

/** Strips `map`/`refine` wrappers (docs and labels look at the underlying shape). */
export function unwrap(spec: Spec<unknown> | undefined): Spec<unknown> | undefined {
  let s = spec;
  while (s instanceof MappedSpec) s = s.inner as Spec<unknown>;
  return s;
}

// ---------------------------------------------------------------- builders

export const bool = (): Spec<boolean> => new BoolSpec();
export const int = (range: NumberRange = {}): Spec<number> => new IntSpec(range);
export const num = (range: NumberRange = {}, acceptInf = false): Spec<number> => new NumSpec(range, acceptInf);
export const text = <T = string>(allowed: string, parse: (s: string) => T | Fail): Spec<T> => new TextSpec(allowed, parse);
export const oneOf = <const T extends string | number>(values: readonly T[]): Spec<T> => new EnumSpec(values);
export const list = <T>(item: Spec<T>, options?: ListOptions): Spec<T[]> => new ListSpec(item, options);
export const scalarOrTable = <S, T>(scalar: Spec<S>, tableSpec: Spec<T>, lift: (value: S) => T): Spec<T> =>
  new ScalarOrTableSpec(scalar, tableSpec, lift);
export const table = <F extends Fields>(fields: F, options?: TableOptions): TableSpec<F> => new TableSpec(fields, options);

/** Decodes a raw TOML document against a spec: the typed value (or undefined) and every issue. */
export function decodeDocument<T>(spec: Spec<T>, raw: unknown): { value: T | undefined; issues: Issue[] } {
  const r = new Reporter();
  const value = spec.decode(raw, [], r);
  return { value: value === INVALID || r.errorCount > 0 ? undefined : value, issues: r.issues };
}
