// Exchanges and their bindings.

import { describe, listAll } from "./api.js";
import { fill, h, replace, setText, table } from "./dom.js";
import { flag } from "./format.js";
import { queueHref } from "./queues.js";

export function mount(main) {
  const error = h("div", { class: "error", role: "alert" });
  const exchanges = table("Exchanges, refreshed every second", [
    { label: "Exchange" },
    { label: "Type" },
    { label: "Durable" },
    { label: "Auto-delete" },
    { label: "Internal" },
    { label: "Bindings", num: true },
  ]);
  exchanges.el.id = "exchanges";
  const bindings = h("div", { id: "bindings" });
  main.append(
    h("h1", {}, "Exchanges"),
    h("p", { class: "lede" }, "AMQP exchanges route a published message to the queues, exchanges and topics bound to them."),
    error,
    exchanges.el,
    h("h2", {}, "Bindings"),
    bindings,
  );

  let last = null;
  async function refresh() {
    let list;
    let all;
    try {
      [list, all] = await Promise.all([listAll("/exchanges"), listAll("/bindings")]);
    } catch (e) {
      setText(error, describe(e, "Listing the exchanges"));
      return;
    }
    setText(error, "");
    const json = JSON.stringify([list, all]);
    if (json === last) return;
    last = json;
    const bySource = new Map();
    for (const b of all) {
      if (!bySource.has(b.source)) bySource.set(b.source, []);
      bySource.get(b.source).push(b);
    }
    fill(
      exchanges.tbody,
      exchanges.columns,
      list.map((x) => [x.name === "" ? "(default)" : x.name, x.type ?? "—", flag(x.durable), flag(x.auto_delete), flag(x.internal), String((bySource.get(x.name) || []).length)]),
      "No exchanges.",
    );
    const sources = [...bySource.keys()].sort();
    if (sources.length === 0) {
      replace(bindings, h("p", { class: "empty" }, "No bindings."));
      return;
    }
    replace(
      bindings,
      sources.map((source) => {
        const t = table(`Bindings of exchange ${source === "" ? "(default)" : source}`, [
          { label: "Destination" },
          { label: "Destination type" },
          { label: "Routing key" },
          { label: "Arguments" },
        ]);
        fill(
          t.tbody,
          t.columns,
          bySource.get(source).map((b) => [
            b.destination_type === "queue" ? h("a", { href: queueHref(b.destination) }, b.destination) : b.destination,
            b.destination_type ?? "—",
            b.routing_key === "" || b.routing_key === undefined ? "(empty)" : b.routing_key,
            b.arguments && Object.keys(b.arguments).length ? JSON.stringify(b.arguments) : "—",
          ]),
          "No bindings.",
        );
        return h("section", { class: "bindings" }, h("h3", {}, `From ${source === "" ? "the default exchange" : source}`), t.el);
      }),
    );
  }

  return { refresh };
}
