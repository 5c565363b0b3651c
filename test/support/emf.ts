/**
 * CloudWatch metrics as CloudWatch would extract them from Embedded Metric
 * Format log lines (what Powertools Metrics writes to stdout): one metric per
 * name and dimension set, its dimensions' values read from the line.
 */

export interface EmittedMetric {
  readonly namespace: string;
  readonly name: string;
  /** Dimension name -> value; CloudWatch tells apart metrics of different dimension sets. */
  readonly dimensions: Readonly<Record<string, string>>;
  /** The values the line carried (one, or an array of them). */
  readonly values: readonly number[];
}

interface Directive {
  readonly Namespace?: unknown;
  readonly Dimensions?: unknown;
  readonly Metrics?: unknown;
}

/** The metrics of every EMF line (objects with an `_aws.CloudWatchMetrics` array); other lines are ignored. */
export function emfMetrics(lines: readonly Record<string, unknown>[]): EmittedMetric[] {
  const out: EmittedMetric[] = [];
  for (const line of lines) {
    const directives = (line._aws as { CloudWatchMetrics?: unknown } | undefined)?.CloudWatchMetrics;
    if (!Array.isArray(directives)) continue;
    for (const d of directives as Directive[]) {
      const sets = Array.isArray(d.Dimensions) ? (d.Dimensions as unknown[][]) : [[]];
      for (const metric of Array.isArray(d.Metrics) ? (d.Metrics as { Name?: unknown }[]) : []) {
        const name = String(metric.Name);
        const raw = line[name];
        const values = (Array.isArray(raw) ? raw : [raw]).map(Number);
        for (const set of sets) {
          const dimensions = Object.fromEntries(set.map((dim) => [String(dim), String(line[String(dim)])]));
          out.push({ namespace: String(d.Namespace), name, dimensions, values });
        }
      }
    }
  }
  return out;
}
