// The overview: rates from successive counters of /api/v1/overview, connections per protocol,
// messages, disk and memory, and how many queues, topics, groups and exchanges there are.

import { api, describe } from "./api.js";
import { h, pairs, replace, setText, syncRows, table } from "./dom.js";
import { bytes, count, duration, label, rate } from "./format.js";
import { Series, sparkline } from "./sparkline.js";

// Kept across visits of the page, so the charts do not start empty each time.
let previous = null;
const rateSeries = new Map();

/** The first of `paths` (dotted) that `o` has. */
function pick(o, ...paths) {
  for (const path of paths) {
    let v = o;
    for (const part of path.split(".")) v = v === null || v === undefined ? undefined : v[part];
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** The monotonically increasing counters of the answer, `{name: value}`. */
function counters(o) {
  const source = pick(o, "counters", "totals") || o;
  const out = {};
  for (const [k, v] of Object.entries(source)) {
    if (typeof v === "number" && (source !== o || k.endsWith("_total"))) out[k] = v;
  }
  return out;
}

/** Connections (and channels) per protocol as rows `[protocol, connections, channels]`. */
function perProtocol(o) {
  const connections = pick(o, "connections", "protocols");
  const channels = pick(o, "channels") || {};
  if (Array.isArray(connections)) {
    return connections.map((c) => [c.protocol ?? c.name, c.connections ?? c.count, c.channels]);
  }
  if (connections && typeof connections === "object") {
    return Object.entries(connections).map(([protocol, v]) =>
      typeof v === "object" && v !== null
        ? [protocol, v.connections ?? v.count, v.channels]
        : [protocol, v, typeof channels === "object" ? channels[protocol] : undefined],
    );
  }
  return [];
}

export function mount(main) {
  const error = h("div", { class: "error", role: "alert" });
  const summary = h("div");
  const rates = table("Counters since the broker started, and their rate over the last poll", [
    { label: "Counter" },
    { label: "Per second", num: true },
    { label: "Total", num: true },
    { label: "Last 60 s" },
  ]);
  const protocols = table("Open connections and channels per protocol", [
    { label: "Protocol" },
    { label: "Connections", num: true },
    { label: "Channels", num: true },
  ]);
  const about = h("div");
  main.append(
    h("h1", {}, "Overview"),
    error,
    summary,
    h("h2", {}, "Rates"),
    rates.el,
    h("h2", {}, "Connections"),
    protocols.el,
    h("h2", {}, "Broker"),
    about,
  );

  async function refresh() {
    let o;
    try {
      o = await api("GET", "/overview");
    } catch (e) {
      setText(error, describe(e, "Reading the overview"));
      return;
    }
    setText(error, "");
    const now = performance.now();
    const values = counters(o);
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const perSecond = {};
    for (const [name, value] of Object.entries(values)) {
      const before = previous && previous.values[name];
      if (seconds > 0 && typeof before === "number") {
        perSecond[name] = Math.max(0, (value - before) / seconds);
        if (!rateSeries.has(name)) rateSeries.set(name, new Series(60));
        rateSeries.get(name).push(perSecond[name]);
      }
    }
    previous = { at: now, values };

    const counts = pick(o, "counts") || {};
    const messages = pick(o, "messages") || {};
    replace(
      summary,
      pairs(
        [
          ["Queues", count(pick(counts, "queues") ?? pick(o, "queues"))],
          ["Topics", count(pick(counts, "topics") ?? pick(o, "topics"))],
          ["Groups", count(pick(counts, "groups") ?? pick(o, "groups"))],
          ["Exchanges", count(pick(counts, "exchanges") ?? pick(o, "exchanges"))],
          ["Messages ready", count(pick(messages, "ready") ?? pick(o, "messages_ready", "ready"))],
          ["Messages in flight", count(pick(messages, "in_flight") ?? pick(o, "messages_in_flight", "in_flight"))],
          ["Disk free", bytes(pick(o, "disk_free_bytes", "disk.free_bytes", "disk.available_bytes"))],
          ["Memory (resident)", bytes(pick(o, "memory_rss_bytes", "resident_memory_bytes", "rss_bytes", "memory.rss_bytes", "memory_bytes"))],
        ],
        "cards",
      ),
    );

    syncRows(
      rates.tbody,
      rates.columns,
      Object.keys(values).sort(),
      (name) => name,
      (name) => [
        label(name.replace(/_total$/, "")),
        name in perSecond ? rate(perSecond[name]) : "…",
        count(values[name]),
        rateSeries.has(name) ? sparkline(rateSeries.get(name), { name: `${label(name)} per second` }) : "",
      ],
      "The server reports no counters.",
    );
    syncRows(
      protocols.tbody,
      protocols.columns,
      perProtocol(o),
      (r) => String(r[0]),
      (r) => [String(r[0]), count(r[1]), count(r[2])],
      "No connections.",
    );
    replace(
      about,
      pairs([
        ["Version", pick(o, "version") ?? "—"],
        ["Uptime", duration(pick(o, "uptime_ms", "uptime_seconds") !== undefined ? (o.uptime_ms ?? o.uptime_seconds * 1000) : undefined)],
        ["Data directory", pick(o, "data_dir") ?? "—"],
      ]),
    );
  }

  return { refresh };
}
