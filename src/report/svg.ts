/**
 * Small self-contained SVG charts for the run report: line charts, a histogram and stacked bars.
 * Plain strings, no DOM, so they render the same in Node, Deno and browsers.
 */

export interface Series {
  name: string;
  color: string;
  points: readonly [number, number][];
  dashed?: boolean;
}

const W = 520;
const H = 260;
const PAD = { left: 52, right: 16, top: 44, bottom: 40 };

export const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(0) : Number(v.toFixed(2)).toString());

interface Frame {
  x: (v: number) => number;
  y: (v: number) => number;
  svg: string[];
}

function frame(title: string, xLabel: string, yLabel: string, x0: number, x1: number, y0: number, y1: number): Frame {
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (v: number) => PAD.left + ((v - x0) / (x1 - x0)) * iw;
  const y = (v: number) => PAD.top + ih - ((v - y0) / (y1 - y0)) * ih;
  const svg = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(title)}">`];
  svg.push(`<text x="${PAD.left}" y="16" class="title">${escapeXml(title)}</text>`);
  const ys = niceStep(y1 - y0, 5);
  for (let v = Math.ceil(y0 / ys) * ys; v <= y1 + 1e-9; v += ys) {
    svg.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`);
    svg.push(`<text x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" class="tick" text-anchor="end">${fmt(v)}</text>`);
  }
  const xs = niceStep(x1 - x0, 8);
  for (let v = Math.ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs) {
    svg.push(`<text x="${x(v).toFixed(1)}" y="${H - PAD.bottom + 16}" class="tick" text-anchor="middle">${fmt(v)}</text>`);
  }
  svg.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${H - PAD.bottom}" class="axis"/>`);
  svg.push(`<text x="${(PAD.left + W - PAD.right) / 2}" y="${H - 6}" class="label" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  svg.push(`<text transform="translate(14 ${(PAD.top + H - PAD.bottom) / 2}) rotate(-90)" class="label" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  return { x, y, svg };
}

function legend(f: Frame, items: readonly { name: string; color: string }[]): void {
  let at = W - PAD.right;
  for (const item of [...items].reverse()) {
    const width = 18 + item.name.length * 6.5;
    at -= width + 10;
    f.svg.push(`<rect x="${at}" y="24" width="12" height="10" fill="${item.color}"/><text x="${at + 16}" y="33" class="tick">${escapeXml(item.name)}</text>`);
  }
}

export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], yRange?: [number, number]): string {
  const all = series.flatMap((s) => s.points);
  const xsAll = all.map((p) => p[0]);
  const ysAll = all.map((p) => p[1]);
  const [y0, y1] = yRange ?? [Math.min(0, ...ysAll), Math.max(1e-9, ...ysAll) * 1.1];
  const f = frame(title, xLabel, yLabel, Math.min(0, ...xsAll), Math.max(1, ...xsAll), y0, y1);
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map(([a, b], i) => `${i ? 'L' : 'M'}${f.x(a).toFixed(1)},${f.y(b).toFixed(1)}`).join('');
    f.svg.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    for (const [a, b] of s.points) f.svg.push(`<circle cx="${f.x(a).toFixed(1)}" cy="${f.y(b).toFixed(1)}" r="2.5" fill="${s.color}"><title>${escapeXml(`${s.name}: step ${a}, ${fmt(b)}`)}</title></circle>`);
  }
  legend(f, series);
  f.svg.push('</svg>');
  return f.svg.join('');
}

export function histogram(title: string, xLabel: string, all: readonly number[], color: string, bins = 24, markers: readonly { at: number; label: string }[] = []): string {
  // NaN and ±∞ cannot be placed on an axis: they are counted in the title instead.
  const values = all.filter(Number.isFinite);
  if (values.length < all.length) title = `${title} (${all.length - values.length} not finite, left out)`;
  if (!values.length) return lineChart(title, xLabel, 'count', []);
  let lo = values.reduce((m, v) => Math.min(m, v), Infinity);
  let hi = values.reduce((m, v) => Math.max(m, v), -Infinity);
  if (hi === lo) (lo -= 0.5), (hi += 0.5);
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
  const f = frame(title, xLabel, 'count', lo, hi, 0, Math.max(...counts) * 1.1);
  counts.forEach((c, i) => {
    const x = f.x(lo + i * width);
    f.svg.push(`<rect x="${x.toFixed(1)}" y="${f.y(c).toFixed(1)}" width="${Math.max(1, f.x(lo + (i + 1) * width) - x - 1).toFixed(1)}" height="${(f.y(0) - f.y(c)).toFixed(1)}" fill="${color}"><title>${fmt(lo + i * width)} … ${fmt(lo + (i + 1) * width)}: ${c}</title></rect>`);
  });
  for (const m of markers) {
    if (m.at < lo || m.at > hi) continue;
    f.svg.push(`<line x1="${f.x(m.at).toFixed(1)}" x2="${f.x(m.at).toFixed(1)}" y1="${PAD.top}" y2="${H - PAD.bottom}" class="marker"/><text x="${(f.x(m.at) + 3).toFixed(1)}" y="${PAD.top + 10}" class="tick">${escapeXml(m.label)}</text>`);
  }
  f.svg.push('</svg>');
  return f.svg.join('');
}

/**
 * Several distributions on one axis, each as the outline of its histogram scaled to its own total
 * (a share per bin), so classes of very different sizes compare by shape. Same bins for all.
 */
export function overlaidHistograms(title: string, xLabel: string, groups: readonly { name: string; color: string; values: readonly number[] }[], bins = 24): string {
  const finite = groups.map((g) => ({ ...g, values: g.values.filter(Number.isFinite) }));
  const all = finite.flatMap((g) => g.values);
  if (!all.length) return lineChart(title, xLabel, 'share', []);
  let lo = all.reduce((m, v) => Math.min(m, v), Infinity);
  let hi = all.reduce((m, v) => Math.max(m, v), -Infinity);
  if (hi === lo) (lo -= 0.5), (hi += 0.5);
  const width = (hi - lo) / bins;
  const shares = finite.map((g) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of g.values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
    return counts.map((c) => (g.values.length ? c / g.values.length : 0));
  });
  const f = frame(title, xLabel, 'share of the class', lo, hi, 0, Math.max(1e-9, ...shares.flat()) * 1.1);
  finite.forEach((g, k) => {
    if (!g.values.length) return;
    const d = shares[k]!.map((v, i) => `${i ? 'L' : 'M'}${f.x(lo + i * width).toFixed(1)},${f.y(v).toFixed(1)}H${f.x(lo + (i + 1) * width).toFixed(1)}`).join('');
    f.svg.push(`<path d="M${f.x(lo).toFixed(1)},${f.y(0).toFixed(1)}${d.slice(1).replace(/^/, 'L')}V${f.y(0).toFixed(1)}" fill="${g.color}" fill-opacity="0.15" stroke="${g.color}" stroke-width="2"><title>${escapeXml(`${g.name}: ${g.values.length}`)}</title></path>`);
  });
  legend(f, finite.map((g) => ({ name: `${g.name} (${g.values.length})`, color: g.color })));
  f.svg.push('</svg>');
  return f.svg.join('');
}

/** One horizontal stacked bar per row (e.g. per algorithm), segments in `parts` order. */
export function stackedBars(title: string, xLabel: string, rows: readonly { name: string; values: readonly number[] }[], parts: readonly { name: string; color: string }[]): string {
  const total = Math.max(1e-9, ...rows.map((r) => r.values.reduce((a, b) => a + b, 0)));
  const f = frame(title, xLabel, '', 0, total * 1.05, 0, 1);
  f.svg.length = 0;
  f.svg.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(title)}"><text x="${PAD.left}" y="16" class="title">${escapeXml(title)}</text>`);
  const left = 80;
  const iw = W - left - PAD.right;
  const scale = iw / (total * 1.05);
  const barH = Math.min(48, (H - PAD.top - PAD.bottom) / Math.max(1, rows.length) - 12);
  rows.forEach((r, i) => {
    const y = PAD.top + 12 + i * (barH + 16);
    f.svg.push(`<text x="${left - 8}" y="${(y + barH / 2 + 4).toFixed(1)}" class="tick" text-anchor="end">${escapeXml(r.name)}</text>`);
    let x = left;
    r.values.forEach((v, j) => {
      const w = v * scale;
      f.svg.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH.toFixed(1)}" fill="${parts[j]!.color}"><title>${escapeXml(`${r.name} · ${parts[j]!.name}: ${fmt(v)}`)}</title></rect>`);
      x += w;
    });
    f.svg.push(`<text x="${(x + 4).toFixed(1)}" y="${(y + barH / 2 + 4).toFixed(1)}" class="tick">${fmt(r.values.reduce((a, b) => a + b, 0))}</text>`);
  });
  f.svg.push(`<text x="${(left + W - PAD.right) / 2}" y="${H - 6}" class="label" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  legend(f, parts);
  f.svg.push('</svg>');
  return f.svg.join('');
}

/** One horizontal interval per row (a forest plot): the point, its [low, high] whisker, a line at 0. */
export function intervalChart(title: string, xLabel: string, rows: readonly { name: string; mean: number; low: number; high: number; color: string }[]): string {
  const finite = rows.filter((r) => [r.mean, r.low, r.high].every(Number.isFinite));
  const span = Math.max(0.05, ...finite.flatMap((r) => [Math.abs(r.low), Math.abs(r.high)])) * 1.1;
  const height = Math.max(H, PAD.top + PAD.bottom + rows.length * 30);
  const left = 96;
  const iw = W - left - PAD.right;
  const x = (v: number) => left + ((v + span) / (2 * span)) * iw;
  const svg = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${escapeXml(title)}"><text x="${PAD.left}" y="16" class="title">${escapeXml(title)}</text>`];
  const step = niceStep(2 * span, 6);
  for (let v = Math.ceil(-span / step) * step; v <= span + 1e-9; v += step) {
    svg.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${PAD.top}" y2="${height - PAD.bottom}" class="${Math.abs(v) < 1e-12 ? 'marker' : 'grid'}"/>`);
    svg.push(`<text x="${x(v).toFixed(1)}" y="${height - PAD.bottom + 16}" class="tick" text-anchor="middle">${fmt(v)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = PAD.top + 15 + i * 30;
    svg.push(`<text x="${left - 8}" y="${y + 4}" class="tick" text-anchor="end">${escapeXml(r.name)}</text>`);
    if (![r.mean, r.low, r.high].every(Number.isFinite)) return;
    svg.push(`<line x1="${x(r.low).toFixed(1)}" x2="${x(r.high).toFixed(1)}" y1="${y}" y2="${y}" stroke="${r.color}" stroke-width="2"/>`);
    for (const v of [r.low, r.high]) svg.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${y - 5}" y2="${y + 5}" stroke="${r.color}" stroke-width="2"/>`);
    svg.push(`<circle cx="${x(r.mean).toFixed(1)}" cy="${y}" r="4" fill="${r.color}"><title>${escapeXml(`${r.name}: ${fmt(r.mean)} [${fmt(r.low)}, ${fmt(r.high)}]`)}</title></circle>`);
  });
  svg.push(`<text x="${(left + W - PAD.right) / 2}" y="${height - 6}" class="label" text-anchor="middle">${escapeXml(xLabel)}</text></svg>`);
  return svg.join('');
}
