/** The simulated job over virtual time as an SVG: copies a second, invocations in flight, queue depths. */
import type { Sample } from "./run.ts";

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
}

const WIDTH = 760;
const PANEL = 170;
const LEFT = 78;
const RIGHT = 150;
const TOP = 58;
const GAP = 40;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function niceMax(x: number): number {
  if (x <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function panel(y0: number, title: string, tMax: number, series: readonly Series[]): string {
  const yMax = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (t: number) => LEFT + (t / tMax) * plotW;
  const y = (v: number) => y0 + PANEL - (v / yMax) * PANEL;
  const out: string[] = [];
  out.push(`<text x="${LEFT}" y="${y0 - 8}" font-size="13" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e3e3"/>`);
    out.push(
      `<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">${v.toLocaleString("en-US")}</text>`,
    );
  }
  out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y0 + PANEL}" y2="${y0 + PANEL}" stroke="#888"/>`);
  series.forEach((s, i) => {
    const d = s.points.map(([t, v], j) => `${j === 0 ? "M" : "L"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    out.push(`<rect x="${LEFT + plotW + 12}" y="${y0 + 8 + i * 18}" width="12" height="3" fill="${s.color}"/>`);
    out.push(`<text x="${LEFT + plotW + 30}" y="${y0 + 13 + i * 18}" font-size="11">${esc(s.name)}</text>`);
  });
  return out.join("\n");
}

export function timelineSvg(timeline: readonly Sample[], title: string, subtitle: string): string {
  const tMax = Math.max(1, ...timeline.map((s) => s.t));
  const rate: [number, number][] = [];
  for (let i = 1; i < timeline.length; i++) {
    const a = timeline[i - 1] as Sample;
    const b = timeline[i] as Sample;
    if (b.t > a.t) rate.push([b.t, (b.copied - a.copied) / (b.t - a.t)]);
  }
  const height = TOP + 3 * PANEL + 2 * GAP + 50;
  const plotW = WIDTH - LEFT - RIGHT;
  const panels = [
    panel(TOP + 10, "objects copied per second", tMax, [{ name: "copied/s", color: "#1f77b4", points: rate }]),
    panel(TOP + 10 + PANEL + GAP, "invocations in flight", tMax, [
      { name: "copy", color: "#d62728", points: timeline.map((s) => [s.t, s.copyInvocations]) },
      { name: "copy pollers", color: "#ff9896", points: timeline.map((s) => [s.t, s.copyPollers]) },
      { name: "list", color: "#2ca02c", points: timeline.map((s) => [s.t, s.listInvocations]) },
    ]),
    panel(TOP + 10 + 2 * (PANEL + GAP), "queue depth (messages)", tMax, [
      { name: "copy queue", color: "#9467bd", points: timeline.map((s) => [s.t, s.copyQueue]) },
      { name: "list queue", color: "#8c564b", points: timeline.map((s) => [s.t, s.listQueue]) },
    ]),
  ];
  const axisY = TOP + 10 + 3 * PANEL + 2 * GAP;
  const ticks: string[] = [];
  const step = niceMax(tMax / 6);
  for (let t = 0; t <= tMax + 1e-9; t += step) {
    const xt = LEFT + (t / tMax) * plotW;
    ticks.push(`<text x="${xt.toFixed(1)}" y="${axisY + 16}" text-anchor="middle" font-size="11" fill="#555">${t}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>
<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>
<text x="${WIDTH / 2}" y="42" text-anchor="middle" font-size="12" fill="#555">${esc(subtitle)}</text>
${panels.join("\n")}
${ticks.join("\n")}
<text x="${LEFT + plotW / 2}" y="${axisY + 34}" text-anchor="middle" font-size="12">simulated seconds</text>
</svg>
`;
}
