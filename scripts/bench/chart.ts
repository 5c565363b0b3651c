/** A small hand-written SVG line chart: throughput against copy concurrency, one line per series. */

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  /** [copies in flight, objects per second] */
  readonly points: readonly (readonly [number, number])[];
}

export interface ChartSpec {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
}

const W = 720;
const H = 440;
const M = { left: 78, right: 24, top: 64, bottom: 60 };

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const fmt = (n: number) => (Math.abs(n) >= 10_000 ? `${Math.round(n / 1000)}k` : String(Math.round(n)));

/** A round step for about `ticks` ticks over [0, max]. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

/** The chart as an SVG document; the x axis is logarithmic (base 2), the y axis linear from 0. */
export function throughputSvg(spec: ChartSpec): string {
  const xs = spec.series.flatMap((s) => s.points.map(([x]) => x));
  if (xs.length === 0) xs.push(1);
  const ys = spec.series.flatMap((s) => s.points.map(([, y]) => y));
  // Half a doubling of room either side, so the end points sit inside the plot.
  const lo = Math.log2(Math.min(...xs)) - 0.5;
  const hi = Math.log2(Math.max(...xs)) + 0.5;
  const step = niceStep(Math.max(...ys, 1) * 1.1, 5);
  const yMax = Math.ceil((Math.max(...ys, 1) * 1.05) / step) * step;
  const px = (x: number) => M.left + ((Math.log2(x) - lo) / (hi - lo)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - (y / yMax) * (H - M.top - M.bottom);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">${esc(spec.title)}</text>`,
  );
  if (spec.subtitle) parts.push(`<text x="${W / 2}" y="46" text-anchor="middle" font-size="12" fill="#555">${esc(spec.subtitle)}</text>`);
  for (let y = 0; y <= yMax + step / 2; y += step) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#e3e3e3"/>`,
      `<text x="${M.left - 8}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#333">${fmt(y)}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(
      `<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#f0f0f0"/>`,
      `<text x="${px(x).toFixed(1)}" y="${H - M.bottom + 18}" text-anchor="middle" font-size="12" fill="#333">${x}</text>`,
    );
  }
  parts.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`,
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 16}" text-anchor="middle" font-size="13">${esc(spec.xLabel)}</text>`,
    `<text transform="translate(20 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle" font-size="13">${esc(spec.yLabel)}</text>`,
  );
  spec.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = pts.map(([x, y], j) => `${j === 0 ? "M" : "L"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    if (pts.length > 1) parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="4" fill="${s.color}"/>`);
    const ly = M.top + 8 + i * 20;
    parts.push(
      `<line x1="${M.left + 16}" x2="${M.left + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"/>`,
      `<text x="${M.left + 48}" y="${ly + 4}" font-size="12">${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
