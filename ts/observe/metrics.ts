// One metrics registry for the whole daemon, rendered in the Prometheus text exposition format
// (version 0.0.4). Names follow ntpd-rs where it has one (e.g. ntp_server_received_packets_total with
// a listen_address label), so existing dashboards carry over.
//
// Two ways values get in:
//  - push: `counter(...)`/`gauge(...)` families with `inc`/`set` per label set (rare events: reloads,
//    socket errors);
//  - pull: `collector(...)` reads current values only when rendered. Hot-path counters live in flat
//    numeric arrays (one per worker/socket, possibly SharedArrayBuffer-backed) and are summed at
//    render time with `sumArrays` — nothing is done per packet beyond the array increment.
export type MetricType = "counter" | "gauge";
export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels: Labels;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples(): Iterable<Sample>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A push-style family: one value per distinct label set. */
export class PushFamily {
  private readonly values = new Map<string, Sample>();
  constructor(
    readonly name: string,
    readonly type: MetricType,
  ) {}

  /** Adds `by` (default 1) to the value for `labels`. Counters only go up: negative `by` is refused. */
  inc(labels: Labels = {}, by = 1): void {
    if (this.type === "counter" && !(by >= 0)) throw new RangeError(`${this.name}: counters only increase`);
    const key = labelKey(labels);
    const s = this.values.get(key);
    if (s === undefined) this.values.set(key, { labels: { ...labels }, value: by });
    else s.value += by;
  }

  set(labels: Labels, value: number): void {
    if (this.type === "counter") throw new TypeError(`${this.name}: set() is for gauges`);
    this.values.set(labelKey(labels), { labels: { ...labels }, value });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }

  samples(): Iterable<Sample> {
    return this.values.values();
  }
}

export class MetricsRegistry {
  private readonly families = new Map<string, Family>();

  counter(name: string, help: string): PushFamily {
    const f = new PushFamily(name, "counter");
    this.add({ name, help, type: "counter", samples: () => f.samples() });
    return f;
  }

  gauge(name: string, help: string): PushFamily {
    const f = new PushFamily(name, "gauge");
    this.add({ name, help, type: "gauge", samples: () => f.samples() });
    return f;
  }

  /** A pull-style family: `read` is called at render time and returns the current samples. */
  collector(name: string, help: string, type: MetricType, read: () => Iterable<Sample>): void {
    this.add({ name, help, type, samples: read });
  }

  /** Removes a family (e.g. when a listener is closed on reload). */
  remove(name: string): void {
    this.families.delete(name);
  }

  /** Current values, by family name (tests, the management socket). */
  snapshot(): Map<string, Sample[]> {
    const out = new Map<string, Sample[]>();
    for (const f of this.families.values()) out.set(f.name, [...f.samples()]);
    return out;
  }

  /** The sum of one family's samples whose labels include `match` (tests and summaries). */
  total(name: string, match: Labels = {}): number {
    const f = this.families.get(name);
    if (f === undefined) return 0;
    let sum = 0;
    for (const s of f.samples()) {
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  /** Prometheus text exposition format 0.0.4. Families in registration order. */
  render(): string {
    const lines: string[] = [];
    for (const f of this.families.values()) {
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
      for (const s of f.samples()) {
        const entries = Object.entries(s.labels);
        const labels = entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
        lines.push(`${f.name}${labels} ${formatValue(s.value)}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  private add(f: Family): void {
    if (!NAME.test(f.name)) throw new Error(`metrics: bad metric name ${f.name}`);
    if (f.type === "counter" && !f.name.endsWith("_total")) throw new Error(`metrics: counter ${f.name} must end in _total`);
    if (this.families.has(f.name)) throw new Error(`metrics: ${f.name} registered twice`);
    this.families.set(f.name, f);
  }
}

/** Checks a label name (labels come from code, but a bad one would make the whole page unparseable). */
export function isLabelName(name: string): boolean {
  return LABEL.test(name);
}

/**
 * Element-wise sum of per-worker counter arrays (all of the same layout): out[i] = Σ arrays[k][i].
 * Arrays may be SharedArrayBuffer-backed and written concurrently; a read may see a counter one
 * increment behind, never a torn value (32/64-bit aligned element reads are atomic on our targets).
 */
export function sumArrays(arrays: readonly ArrayLike<number>[], length: number, out = new Float64Array(length)): Float64Array {
  out.fill(0);
  for (const a of arrays) {
    const n = Math.min(length, a.length);
    for (let i = 0; i < n; i++) out[i]! += a[i]!;
  }
  return out;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
