// Small live charts: the last N samples of a figure as an inline SVG line.

import { h } from "./dom.js";

/** The last `size` samples of a figure; `push` each poll. */
export class Series {
  constructor(size = 60) {
    this.size = size;
    this.values = [];
  }
  push(value) {
    this.values.push(typeof value === "number" && Number.isFinite(value) ? value : 0);
    if (this.values.length > this.size) this.values.shift();
  }
}

/**
 * An SVG sparkline of `series`, `width`×`height` pixels, scaled from 0 to its maximum. Its
 * accessible name says what it shows, the last value and the range, since a screen reader
 * cannot read the line.
 */
export function sparkline(series, { width = 120, height = 24, name = "value" } = {}) {
  const values = series.values;
  const max = Math.max(1, ...values);
  const step = width / Math.max(1, series.size - 1);
  const x0 = width - (values.length - 1) * step;
  const points = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`);
  const last = values.length ? values[values.length - 1] : 0;
  const min = values.length ? Math.min(...values) : 0;
  const svg = h(
    "svg",
    {
      class: "spark",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `${name}: ${last} now; ${min} to ${Math.max(0, ...values)} over the last ${values.length} s`,
      "data-last": last,
      "data-samples": values.length,
    },
    h("line", { class: "base", x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }),
  );
  if (values.length > 1) {
    svg.append(h("polygon", { class: "area", points: `${x0.toFixed(1)},${height} ${points.join(" ")} ${width},${height}` }));
    svg.append(h("polyline", { points: points.join(" ") }));
  }
  return svg;
}
