// Topics: each partition with its log start and end offsets.

import { api, describe, listAll, seg } from "./api.js";
import { fill, h, setText, table } from "./dom.js";
import { bytes, count } from "./format.js";

/** Topics described one by one each second; past this many, the page lists only their totals. */
const DESCRIBE_MAX = 50;

export function mount(main) {
  const error = h("div", { class: "error", role: "alert" });
  const partitions = table("Partitions of every topic, refreshed every second", [
    { label: "Topic" },
    { label: "Partition", num: true },
    { label: "Start offset", num: true },
    { label: "End offset", num: true },
    { label: "Records", num: true },
    { label: "Bytes", num: true },
  ]);
  partitions.el.id = "topics";
  const note = h("p", { class: "hint" });
  main.append(
    h("h1", {}, "Topics"),
    h("p", { class: "lede" }, "The log of each partition runs from its start offset (the oldest record retention kept) to its end offset (the next record's)."),
    error,
    partitions.el,
    note,
  );

  let last = null;
  async function refresh() {
    let rows;
    try {
      const topics = await listAll("/topics");
      const described = await Promise.all(topics.slice(0, DESCRIBE_MAX).map((t) => api("GET", `/topics/${seg(t.name)}`)));
      rows = described.flatMap((t) =>
        (t.partitions || []).map((p) => [t.name, count(p.partition), count(p.start_offset), count(p.end_offset), count(p.end_offset - p.start_offset), bytes(p.bytes)]),
      );
      for (const t of topics.slice(DESCRIBE_MAX)) rows.push([t.name, `${count(t.partitions)} partitions`, "", count(t.end_offset_total), "", bytes(t.bytes)]);
      setText(note, topics.length > DESCRIBE_MAX ? `Past the first ${DESCRIBE_MAX} topics, one line each with their totals.` : "");
    } catch (e) {
      setText(error, describe(e, "Listing the topics"));
      return;
    }
    setText(error, "");
    const json = JSON.stringify(rows);
    if (json === last) return;
    last = json;
    fill(partitions.tbody, partitions.columns, rows, "No topics yet (create one with a Kafka client or POST /api/v1/topics).");
  }

  return { refresh };
}
