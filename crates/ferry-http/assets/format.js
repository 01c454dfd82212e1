// How figures read on the page.

const integer = new Intl.NumberFormat("en");
const decimal = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });

/** A count: `12,345`; a missing figure reads as a dash. */
export function count(n) {
  return typeof n === "number" && Number.isFinite(n) ? integer.format(n) : "—";
}

/** A rate per second with one decimal below 100. */
export function rate(perSecond) {
  if (typeof perSecond !== "number" || !Number.isFinite(perSecond)) return "—";
  return (perSecond < 100 ? decimal.format(perSecond) : integer.format(Math.round(perSecond))) + "/s";
}

/** Bytes in binary units: `1.5 MiB`. */
export function bytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${integer.format(value)} B` : `${decimal.format(value)} ${units[unit]}`;
}

/** A duration in milliseconds: `850 ms`, `12.5 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h`. */
export function duration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${decimal.format(s)} s`;
  const total = Math.floor(s);
  const [d, hr, min, sec] = [Math.floor(total / 86400), Math.floor(total / 3600) % 24, Math.floor(total / 60) % 60, total % 60];
  if (d > 0) return `${d} d ${hr} h`;
  if (hr > 0) return `${hr} h ${min} min`;
  return `${min} min ${sec} s`;
}

/** A time in milliseconds since the epoch, in the browser's zone: `2026-11-28 09:12:03`. */
export function time(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A yes/no setting. */
export function flag(b) {
  return b === true ? "yes" : b === false ? "no" : "—";
}

/** Any setting value: numbers grouped, `_at_ms` as times, `_ms` as durations, `_bytes` as sizes, objects as JSON. */
export function setting(name, value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return flag(value);
  if (typeof value === "number") {
    if (name.endsWith("_at_ms")) return time(value);
    if (name.endsWith("_ms")) return `${duration(value)} (${count(value)} ms)`;
    if (name.endsWith("_bytes")) return `${bytes(value)} (${count(value)} B)`;
    return count(value);
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `dead_lettered_total` → `Dead lettered total`. */
export function label(name) {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
