// Queues: depth, in flight, delayed, oldest age and a live chart of the depth per queue; a
// form to create one.

import { api, describe, seg } from "./api.js";
import { h, setText, syncRows, table } from "./dom.js";
import { bytes, count, duration } from "./format.js";
import { Series, sparkline } from "./sparkline.js";

const WINDOW_S = 60;
/** Rows drawn at most; past them, the filter narrows the list. */
const SHOWN_MAX = 500;

/** The ready depth of each queue over the last minute of polls, shared with the queue's own page. */
export const depthHistory = new Map();

/** Records one poll of a queue's depth. */
export function recordDepth(name, ready) {
  if (!depthHistory.has(name)) depthHistory.set(name, new Series(WINDOW_S * 1000));
  depthHistory.get(name).push(ready);
  return depthHistory.get(name);
}

/** The link to a queue's page. */
export function queueHref(name) {
  return `#/queues/${seg(name)}`;
}

export function mount(main) {
  const error = h("div", { class: "error", role: "alert" });
  const queues = table("Queues, refreshed every second", [
    { label: "Queue" },
    { label: "Ready", num: true },
    { label: "In flight", num: true },
    { label: "Delayed", num: true },
    { label: "Oldest ready", num: true },
    { label: "Ready bytes", num: true },
    { label: `Ready, last ${WINDOW_S} s` },
    { label: "Dead-letter queue" },
  ]);
  queues.el.id = "queues";
  const prefix = h("input", { id: "queue-prefix", type: "search", autocomplete: "off" });
  const more = h("p", { class: "hint", role: "status" });
  main.append(
    h("h1", {}, "Queues"),
    h("p", { class: "lede" }, "Messages ready to deliver, leased to a consumer (in flight) and waiting for their delay; the age of the oldest ready message."),
    h("div", { class: "field inline" }, h("label", { for: "queue-prefix" }, "Names starting with"), prefix),
    error,
    queues.el,
    more,
    createForm(),
  );

  async function refresh() {
    let page;
    try {
      page = await api("GET", `/queues?limit=${SHOWN_MAX}&prefix=${seg(prefix.value.trim())}`);
    } catch (e) {
      setText(error, describe(e, "Listing the queues"));
      return;
    }
    setText(error, "");
    const items = page.items || [];
    setText(more, page.next ? `Showing the first ${SHOWN_MAX} queues; narrow the list by the start of their names.` : "");
    syncRows(
      queues.tbody,
      queues.columns,
      items,
      (q) => q.name,
      (q) => [
        { text: q.name, href: queueHref(q.name) },
        count(q.ready),
        count(q.in_flight),
        count(q.delayed),
        q.ready > 0 ? duration(q.oldest_ready_age_ms) : "—",
        bytes(q.ready_bytes),
        sparkline(recordDepth(q.name, q.ready), { name: `Ready messages of ${q.name}` }),
        q.dead_letter_queue ? { text: q.dead_letter_queue, href: queueHref(q.dead_letter_queue) } : "—",
      ],
      prefix.value.trim()
        ? `No queue's name starts with ${prefix.value.trim()}.`
        : "No queues yet. Create one below, or from a client (SQS CreateQueue, AMQP queue.declare).",
    );
  }

  return { refresh };
}

function createForm() {
  const status = h("p", { class: "status", role: "status" });
  const error = h("div", { class: "error", role: "alert" });
  const name = h("input", { id: "new-queue-name", name: "name", required: true, autocomplete: "off" });
  const fifo = h("input", { id: "new-queue-fifo", type: "checkbox", name: "fifo" });
  const dlq = h("input", { id: "new-queue-dlq", name: "dead_letter_queue", autocomplete: "off" });
  const maxDeliveries = h("input", { id: "new-queue-max-deliveries", type: "number", min: 1, name: "max_deliveries" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "create-queue-heading" },
    h("h2", { id: "create-queue-heading" }, "Create a queue"),
    h(
      "div",
      { class: "row" },
      h("div", { class: "field" }, h("label", { for: "new-queue-name" }, "Name"), name),
      h("div", { class: "field" }, h("label", { for: "new-queue-dlq" }, "Dead-letter queue ", h("span", { class: "hint" }, "(optional)")), dlq),
      h("div", { class: "field" }, h("label", { for: "new-queue-max-deliveries" }, "Max deliveries ", h("span", { class: "hint" }, "(before dead-lettering)")), maxDeliveries),
      h("div", { class: "field inline" }, fifo, h("label", { for: "new-queue-fifo" }, "FIFO")),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Create queue")),
    ),
    error,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setText(error, "");
    setText(status, "");
    const settings = {};
    if (fifo.checked) settings.fifo = true;
    if (dlq.value.trim()) settings.dead_letter_queue = dlq.value.trim();
    if (maxDeliveries.value) settings.max_deliveries = Number(maxDeliveries.value);
    const body = { name: name.value.trim() };
    if (Object.keys(settings).length) body.settings = settings;
    try {
      await api("POST", "/queues", body);
      setText(status, `Created queue ${body.name}.`);
      form.reset();
    } catch (e) {
      setText(error, describe(e, `Creating queue ${body.name}`));
    }
  });
  return form;
}
