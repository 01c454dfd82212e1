// The overview: rates from successive counters of /api/v1/overview, connections per protocol,
// messages by state, disk and memory, and how many queues, topics, groups and exchanges there are.

import { api, describe } from "./api.js";
import { h, pairs, replace, setText, syncRows, table } from "./dom.js";
import { bytes, count, duration, rate } from "./format.js";
import { Series, sparkline } from "./sparkline.js";

/** The counters of `totals`, in the order shown, with what a person calls them. */
const TOTALS = [
  ["enqueued", "Enqueued (queues)"],
  ["delivered", "Delivered (queues)"],
  ["acked", "Acknowledged (queues)"],
  ["nacked", "Rejected (queues)"],
  ["records", "Records appended (topics)"],
];

// Kept across visits of the page, so the charts do not start empty each time.
let previous = null;
const rateSeries = new Map();

export function mount(main) {
  const error = h("div", { class: "error", role: "alert" });
  const alarms = h("div", { role: "alert" });
  const summary = h("div");
  const rates = table("Counters since the broker started, and their rate between the last two polls", [
    { label: "Counter" },
    { label: "Per second", num: true },
    { label: "Total", num: true },
    { label: "Per second, last 60 s" },
  ]);
  rates.el.id = "rates";
  const protocols = table("Open connections per protocol (channels: AMQP)", [
    { label: "Protocol" },
    { label: "Connections", num: true },
    { label: "Channels", num: true },
  ]);
  protocols.el.id = "connections";
  const about = h("div");
  main.append(
    h("h1", {}, "Overview"),
    error,
    alarms,
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
    const totals = o.totals || {};
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const perSecond = {};
    for (const [name] of TOTALS) {
      const before = previous && previous.totals[name];
      if (seconds > 0 && typeof before === "number" && typeof totals[name] === "number") {
        // A counter that went down means the broker restarted: no rate for that interval.
        perSecond[name] = Math.max(0, (totals[name] - before) / seconds);
        if (!rateSeries.has(name)) rateSeries.set(name, new Series());
        rateSeries.get(name).push(perSecond[name]);
      }
    }
    previous = { at: now, totals };

    const counts = o.counts || {};
    const messages = o.messages || {};
    replace(
      alarms,
      (o.alarms || []).map((alarm) =>
        h("p", { class: "error" }, `The ${alarm} alarm is raised: publishers are blocked until ${alarm === "disk" ? "disk space is freed" : "memory use falls"}.`),
      ),
    );
    replace(
      summary,
      pairs(
        [
          ["Messages ready", count(messages.ready)],
          ["Messages in flight", count(messages.in_flight)],
          ["Messages delayed", count(messages.delayed)],
          ["In dead-letter queues", count(messages.dead_letter)],
          ["Queues", count(counts.queues)],
          ["Topics", count(counts.topics)],
          ["Partitions", count(counts.partitions)],
          ["Consumer groups", count(counts.groups)],
          ["Exchanges", count(counts.exchanges)],
          ["Bindings", count(counts.bindings)],
          ["Disk free", bytes(o.disk_free_bytes ?? undefined)],
          ["Memory (resident)", bytes(o.resident_memory_bytes ?? undefined)],
        ],
        "cards",
      ),
    );
    summary.firstChild.id = "summary";

    syncRows(
      rates.tbody,
      rates.columns,
      TOTALS.filter(([name]) => typeof totals[name] === "number"),
      ([name]) => name,
      ([name, what]) => [
        what,
        name in perSecond ? rate(perSecond[name]) : "…",
        count(totals[name]),
        rateSeries.has(name) ? sparkline(rateSeries.get(name), { name: `${what} per second` }) : "",
      ],
      "The server reports no counters.",
    );
    syncRows(
      protocols.tbody,
      protocols.columns,
      Object.entries(o.connections || {}),
      ([protocol]) => protocol,
      ([protocol, n]) => [protocol, count(n), protocol === "amqp" ? count(o.amqp_channels) : "—"],
      "No listeners report connections.",
    );
    replace(
      about,
      pairs([
        ["Version", o.version ?? "—"],
        ["Uptime", duration(typeof o.uptime_seconds === "number" ? o.uptime_seconds * 1000 : undefined)],
      ]),
    );
  }

  return { refresh };
}
