// Small live charts: the samples of a figure over the last minute as an inline SVG line.

import { h } from "./dom.js";

/** The samples of a figure over the last `windowMs`; `push` one at each poll. */
export class Series {
  constructor(windowMs = 60_000) {
    this.windowMs = windowMs;
    this.samples = [];
  }
  push(value, at = performance.now()) {
    this.samples.push({ at, value: typeof value === "number" && Number.isFinite(value) ? value : 0 });
    while (this.samples.length && this.samples[0].at < at - this.windowMs) this.samples.shift();
  }
  get values() {
    return this.samples.map((s) => s.value);
  }
}

/**
 * An SVG sparkline of `series`, `width`×`height` pixels: time runs left to right over the
 * series' window ending now (a gap in the polls shows as a straight segment), values from 0 to
 * the largest. Its accessible name says what it shows, the last value and the range, since a
 * screen reader cannot read the line.
 */
export function sparkline(series, { width = 120, height = 24, name = "value" } = {}) {
  const samples = series.samples;
  const values = series.values;
  const now = samples.length ? samples[samples.length - 1].at : 0;
  const max = Math.max(1, ...values);
  const x = (at) => (width - ((now - at) / series.windowMs) * width).toFixed(1);
  const y = (v) => (height - 1 - (v / max) * (height - 2)).toFixed(1);
  const points = samples.map((s) => `${x(s.at)},${y(s.value)}`);
  const last = values.length ? values[values.length - 1] : 0;
  const min = values.length ? Math.min(...values) : 0;
  const seconds = samples.length ? Math.round((now - samples[0].at) / 1000) : 0;
  const svg = h(
    "svg",
    {
      class: "spark",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `${name}: ${last} now; ${min} to ${Math.max(0, ...values)} over the last ${seconds} s`,
      "data-last": last,
      "data-samples": samples.length,
    },
    h("line", { class: "base", x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }),
  );
  if (samples.length > 1) {
    svg.append(h("polygon", { class: "area", points: `${x(samples[0].at)},${height} ${points.join(" ")} ${width},${height}` }));
    svg.append(h("polyline", { points: points.join(" ") }));
  }
  return svg;
}
