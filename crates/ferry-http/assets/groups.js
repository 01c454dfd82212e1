// Consumer groups: state, members and, per partition, the committed offset and the lag.

import { api, describe, listAll, seg } from "./api.js";
import { fill, h, replace, setText, table } from "./dom.js";
import { count } from "./format.js";

/** Groups described one by one each second; past this many, the page lists them without lag. */
const DESCRIBE_MAX = 50;

export function mount(main) {
  const error = h("div", { class: "error", role: "alert" });
  const list = h("div", { id: "groups" });
  main.append(
    h("h1", {}, "Consumer groups"),
    h("p", { class: "lede" }, "Lag is how many records of a partition the group has not yet committed: end offset minus committed offset."),
    error,
    list,
  );

  let last = null;
  async function refresh() {
    let groups;
    let described;
    try {
      groups = await listAll("/groups");
      described = await Promise.all(groups.slice(0, DESCRIBE_MAX).map((g) => api("GET", `/groups/${seg(g.group_id)}`)));
    } catch (e) {
      setText(error, describe(e, "Listing the groups"));
      return;
    }
    setText(error, "");
    const json = JSON.stringify([groups, described]);
    if (json === last) return;
    last = json;
    if (groups.length === 0) {
      replace(list, h("p", { class: "empty" }, "No consumer groups yet."));
      return;
    }
    replace(
      list,
      groups.map((g, i) => {
        const d = described[i];
        const members = d ? (Array.isArray(d.members) ? d.members.length : d.members) : Array.isArray(g.members) ? g.members.length : g.members;
        const heading = h("h2", { id: `group-${i}` }, `Group ${g.group_id}`);
        const offsets = (d && d.offsets) || [];
        const lag = offsets.reduce((sum, o) => sum + (typeof o.lag === "number" ? o.lag : 0), 0);
        const t = table(`Offsets of group ${g.group_id}`, [
          { label: "Topic" },
          { label: "Partition", num: true },
          { label: "Committed offset", num: true },
          { label: "End offset", num: true },
          { label: "Lag", num: true },
        ]);
        fill(
          t.tbody,
          t.columns,
          offsets.map((o) => [o.topic, count(o.partition), count(o.committed_offset), count(o.end_offset), count(o.lag)]),
          d ? "No committed offsets." : "Not described (too many groups).",
        );
        return h(
          "section",
          { class: "group", "aria-labelledby": `group-${i}`, "data-group": g.group_id },
          heading,
          h("p", {}, `State ${g.state ?? "—"}, protocol ${g.protocol_type || "—"}, ${count(members)} members, total lag ${count(lag)}.`),
          t.el,
        );
      }),
    );
  }

  return { refresh };
}
