// One queue: its figures and settings, refreshed every second; peek, send, purge and redrive.

import { api, describe, seg } from "./api.js";
import { fill, h, pairs, replace, setText, table } from "./dom.js";
import { bytes, count, duration, label, setting, time } from "./format.js";
import { queueHref, recordDepth } from "./queues.js";
import { sparkline } from "./sparkline.js";

const FIGURES = ["ready", "in_flight", "delayed", "oldest_ready_age_ms", "ready_bytes"];

export function mount(main, [name]) {
  const path = `/queues/${seg(name)}`;
  const error = h("div", { class: "error", role: "alert" });
  const figures = h("div");
  const chart = h("div");
  const counters = h("div");
  const settings = table("Settings of the queue", [{ label: "Setting" }, { label: "Value" }]);
  const sources = h("p");
  const redrive = redriveSection(name, path, sources);
  main.append(
    h("p", {}, h("a", { href: "#/queues" }, "← All queues")),
    h("h1", {}, `Queue ${name}`),
    error,
    h("section", { "aria-labelledby": "stats-heading" }, h("h2", { id: "stats-heading" }, "Figures"), figures, chart, counters),
    peekSection(name, path),
    sendSection(name, path),
    purgeSection(name, path),
    redrive,
    h("section", { "aria-labelledby": "settings-heading" }, h("h2", { id: "settings-heading" }, "Settings"), settings.el),
  );

  let lastSettings = null;
  async function refresh() {
    let q;
    try {
      q = await api("GET", path);
    } catch (e) {
      setText(error, describe(e, `Reading queue ${name}`));
      return;
    }
    setText(error, "");
    const stats = q.stats || {};
    replace(
      figures,
      pairs(
        [
          ["Ready", count(stats.ready)],
          ["In flight", count(stats.in_flight)],
          ["Delayed", count(stats.delayed)],
          ["Oldest ready", stats.ready > 0 ? duration(stats.oldest_ready_age_ms) : "—"],
          ["Ready bytes", bytes(stats.ready_bytes)],
        ],
        "cards",
      ),
    );
    figures.firstChild.id = "queue-figures";
    replace(chart, h("p", { class: "hint" }, "Ready messages, last 60 s"), sparkline(recordDepth(name, stats.ready), { width: 360, height: 48, name: `Ready messages of ${name}` }));
    const rest = Object.entries(stats).filter(([k, v]) => !FIGURES.includes(k) && typeof v === "number");
    replace(counters, rest.length ? pairs(rest.map(([k, v]) => [label(k.replace(/_at_ms$/, "").replace(/_total$/, "")), setting(k, v)]), "cards small") : "");

    const json = JSON.stringify(q.settings || {});
    if (json !== lastSettings) {
      lastSettings = json;
      fill(
        settings.tbody,
        settings.columns,
        Object.entries(q.settings || {}).map(([k, v]) => [
          label(k.replace(/_ms$/, "")),
          k === "dead_letter_queue" && v ? h("a", { href: queueHref(v) }, v) : setting(k, v),
        ]),
        "No settings reported.",
      );
    }
    const from = q.dead_letter_sources || [];
    redrive.dataset.sources = from.join(",");
    replace(
      sources,
      from.length
        ? ["This is the dead-letter queue of ", from.map((s, i) => [i ? ", " : "", h("a", { href: queueHref(s) }, s)]), "; redrive moves its ready messages back there."]
        : "No queue names this one as its dead-letter queue; give a destination to move its messages.",
    );
  }

  return { refresh };
}

function peekSection(name, path) {
  const error = h("div", { class: "error", role: "alert" });
  const limit = h("input", { id: "peek-limit", type: "number", min: 1, max: 100, value: 10 });
  const messages = table("Ready messages, oldest first, as of the last peek (peeking leases nothing)", [
    { label: "Message ID" },
    { label: "Enqueued" },
    { label: "Deliveries", num: true },
    { label: "Headers" },
    { label: "Body" },
  ]);
  messages.el.id = "peeked";
  fill(messages.tbody, messages.columns, [], "Press Peek to list the messages.");
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "peek-heading" },
    h("h2", { id: "peek-heading" }, "Peek"),
    h("div", { class: "row" }, h("div", { class: "field" }, h("label", { for: "peek-limit" }, "How many"), limit), h("div", { class: "field" }, h("button", { type: "submit" }, "Peek"))),
    error,
    messages.el,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setText(error, "");
    try {
      const answer = await api("GET", `${path}/messages?limit=${encodeURIComponent(limit.value || 10)}`);
      const list = Array.isArray(answer) ? answer : answer.messages || answer.items || [];
      fill(
        messages.tbody,
        messages.columns,
        list.map((m) => [
          h("span", { class: "mono" }, m.message_id),
          time(m.enqueued_at_ms),
          count(m.delivery_count),
          headersText(m.headers),
          h("span", { class: "body mono" }, m.body ?? `(binary, base64) ${m.body_base64}`),
        ]),
        `Queue ${name} has no ready messages.`,
      );
    } catch (e) {
      setText(error, describe(e, `Peeking into ${name}`));
    }
  });
  return form;
}

function headersText(headers) {
  const entries = Object.entries(headers || {});
  return entries.length ? entries.map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n") : "—";
}

/** Parses `name: value` lines; answers the headers or throws a message naming the bad line. */
function parseHeaders(text) {
  const headers = {};
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const at = line.indexOf(":");
    if (at <= 0) throw new Error(`header line ${i + 1} has no "name: value": ${line.trim()}`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  });
  return headers;
}

function sendSection(name, path) {
  const error = h("div", { class: "error", role: "alert" });
  const status = h("p", { class: "status", role: "status" });
  const body = h("textarea", { id: "send-body", name: "body", rows: 4 });
  const headers = h("textarea", { id: "send-headers", name: "headers", rows: 2, placeholder: "content-type: application/json" });
  const delay = h("input", { id: "send-delay", type: "number", min: 0, name: "delay_ms" });
  const group = h("input", { id: "send-group", name: "group_id", autocomplete: "off" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "send-heading" },
    h("h2", { id: "send-heading" }, "Send a message"),
    h("div", { class: "field" }, h("label", { for: "send-body" }, "Body"), body),
    h("div", { class: "field" }, h("label", { for: "send-headers" }, "Headers ", h("span", { class: "hint" }, "(one name: value per line)")), headers),
    h(
      "div",
      { class: "row" },
      h("div", { class: "field" }, h("label", { for: "send-delay" }, "Delay, ms ", h("span", { class: "hint" }, "(optional)")), delay),
      h("div", { class: "field" }, h("label", { for: "send-group" }, "Group ID ", h("span", { class: "hint" }, "(FIFO queues)")), group),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Send")),
    ),
    error,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setText(error, "");
    setText(status, "");
    let message;
    try {
      message = { body: body.value, headers: parseHeaders(headers.value) };
    } catch (e) {
      setText(error, `Sending to ${name}: ${e.message}`);
      return;
    }
    if (delay.value) message.delay_ms = Number(delay.value);
    if (group.value.trim()) message.group_id = group.value.trim();
    try {
      const answer = await api("POST", `${path}/messages`, message);
      setText(status, `Sent message ${answer && answer.message_id ? answer.message_id : ""} to ${name}.`);
      body.value = "";
    } catch (e) {
      setText(error, describe(e, `Sending to ${name}`));
    }
  });
  return form;
}

/** A modal confirmation; answers whether the person confirmed. */
function confirmDialog(question, action) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "confirm-text" },
      h("p", { id: "confirm-text" }, question),
      h(
        "form",
        { method: "dialog", class: "actions" },
        h("button", { type: "submit", value: "cancel", class: "secondary" }, "Cancel"),
        h("button", { type: "submit", value: "confirm", class: "danger" }, action),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

function purgeSection(name, path) {
  const error = h("div", { class: "error", role: "alert" });
  const status = h("p", { class: "status", role: "status" });
  const button = h("button", { type: "button", class: "danger" }, "Purge…");
  button.addEventListener("click", async () => {
    setText(error, "");
    setText(status, "");
    if (!(await confirmDialog(`Delete every ready message of queue ${name}? Messages in flight stay with their consumers.`, "Purge"))) return;
    try {
      await api("POST", `${path}/purge`);
      setText(status, `Purged ${name}.`);
    } catch (e) {
      setText(error, describe(e, `Purging ${name}`));
    }
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "purge-heading" },
    h("h2", { id: "purge-heading" }, "Purge"),
    h("p", {}, "Deletes every ready message; this cannot be undone."),
    button,
    error,
    status,
  );
}

function redriveSection(name, path, sources) {
  const error = h("div", { class: "error", role: "alert" });
  const status = h("p", { class: "status", role: "status" });
  const destination = h("input", { id: "redrive-destination", name: "destination", autocomplete: "off" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "redrive-heading" },
    h("h2", { id: "redrive-heading" }, "Redrive"),
    sources,
    h(
      "div",
      { class: "row" },
      h("div", { class: "field" }, h("label", { for: "redrive-destination" }, "Destination ", h("span", { class: "hint" }, "(empty: the queue the messages came from)")), destination),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Redrive")),
    ),
    error,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setText(error, "");
    setText(status, "");
    const target = destination.value.trim();
    const shown = target || (form.dataset.sources || "").split(",").filter(Boolean).join(", ") || "its source";
    if (!(await confirmDialog(`Move the ready messages of ${name} to ${shown}?`, "Redrive"))) return;
    try {
      const answer = await api("POST", `${path}/redrive`, target ? { destination: target } : {});
      const moved = answer && typeof answer.moved === "number" ? `${count(answer.moved)} of ${count(answer.total)} messages moved` : "started";
      setText(status, `Redrive of ${name}: ${answer && answer.status ? answer.status + ", " : ""}${moved}.`);
    } catch (e) {
      setText(error, describe(e, `Redriving ${name}`));
    }
  });
  return form;
}
