/** A small Prometheus registry (counters, gauges, histograms) rendered in the text exposition format with Kong's names. */

type Labels = Record<string, string>;

const labelKey = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map(
      (k) => `${k}="${String(labels[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
    )
    .join(",");

const sample = (name: string, key: string, value: number) => `${name}${key ? `{${key}}` : ""} ${value}`;

interface Metric {
  render(): string[];
}

abstract class Family implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}
  protected header(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
  }
  abstract render(): string[];
}

/** Counters and gauges share one shape: a value per label set. */
class ValueFamily extends Family {
  private readonly values = new Map<string, number>();
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  /** Gauges whose label sets come and go (data planes) are replaced wholesale at scrape time. */
  reset(): void {
    this.values.clear();
  }
  render(): string[] {
    if (this.values.size === 0) return [];
    const lines = this.header();
    for (const [key, value] of this.values) lines.push(sample(this.name, key, value));
    return lines;
  }
}

class Histogram extends Family {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    private readonly buckets: number[],
  ) {
    super(name, help, "histogram");
  }
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    if (this.series.size === 0) return [];
    const lines = this.header();
    for (const [key, s] of this.series) {
      const sep = key ? `${key},` : "";
      this.buckets.forEach((le, i) => {
        lines.push(`${this.name}_bucket{${sep}le="${String(le).padStart(5, "0")}.0"} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(sample(`${this.name}_sum`, key, s.sum));
      lines.push(sample(`${this.name}_count`, key, s.count));
    }
    return lines;
  }
}

export type Counter = Pick<ValueFamily, "inc">;
export type Gauge = Pick<ValueFamily, "set" | "inc" | "reset">;
export type { Histogram };

/** Kong's default latency buckets (ms), from the prometheus plugin. */
export const KONG_LATENCY_BUCKETS = [
  1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 2000, 5000, 10000, 30000, 60000,
];

export class Registry {
  private readonly families: Metric[] = [];
  private readonly collectors: (() => void)[] = [];

  counter(name: string, help: string): Counter {
    return this.add(new ValueFamily(name, help, "counter"));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new ValueFamily(name, help, "gauge"));
  }
  histogram(name: string, help: string, buckets = KONG_LATENCY_BUCKETS): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  /** Runs before each scrape, for values cheaper to read on demand than to keep current. */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }
  render(): string {
    for (const collect of this.collectors) collect();
    return `${this.families.flatMap((f) => f.render()).join("\n")}\n`;
  }
  private add<T extends Metric>(metric: T): T {
    this.families.push(metric);
    return metric;
  }
}
