// The console: hash routes to pages, each page refreshed every second while it is shown.
//
//   #/                 overview          overview.js
//   #/queues           queues            queues.js
//   #/queues/NAME      one queue         queue.js
//   #/topics           topics            topics.js
//   #/groups           consumer groups   groups.js
//   #/exchanges        exchanges         exchanges.js
//
// A page module exports `mount(main, params)`, which draws the page into `main` and answers
// `{refresh, unmount?}`; `refresh()` is awaited before the next one starts, so a slow server
// never has two polls of one page in flight.

import { onServerState } from "./api.js";
import * as exchanges from "./exchanges.js";
import * as groups from "./groups.js";
import * as overview from "./overview.js";
import * as queue from "./queue.js";
import * as queues from "./queues.js";
import * as topics from "./topics.js";
import { time } from "./format.js";

const REFRESH_MS = 1000;

const routes = [
  { pattern: /^\/?$/, section: "overview", page: overview },
  { pattern: /^\/queues\/?$/, section: "queues", page: queues },
  { pattern: /^\/queues\/([^/]+)$/, section: "queues", page: queue },
  { pattern: /^\/topics\/?$/, section: "topics", page: topics },
  { pattern: /^\/groups\/?$/, section: "groups", page: groups },
  { pattern: /^\/exchanges\/?$/, section: "exchanges", page: exchanges },
];

let current = null;
let timer = null;
let generation = 0;

function route() {
  const path = decodeHash(location.hash);
  for (const r of routes) {
    const m = path.match(r.pattern);
    if (m) return { ...r, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

function decodeHash(hash) {
  const path = hash.replace(/^#/, "");
  return path === "" ? "/" : path;
}

async function show(focus) {
  generation++;
  const mine = generation;
  clearTimeout(timer);
  if (current && current.unmount) current.unmount();
  current = null;
  const main = document.getElementById("main");
  main.replaceChildren();
  const r = route();
  for (const a of document.querySelectorAll("nav a[data-section]")) {
    if (r && a.dataset.section === r.section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!r) {
    const h1 = document.createElement("h1");
    h1.textContent = "Not found";
    const p = document.createElement("p");
    p.textContent = `The console has no page at ${location.hash}. `;
    const back = document.createElement("a");
    back.href = "#/";
    back.textContent = "Back to the overview";
    p.append(back);
    main.append(h1, p);
    document.title = "Not found · ferry console";
    return;
  }
  current = r.page.mount(main, r.params);
  const h1 = main.querySelector("h1");
  document.title = `${h1 ? h1.textContent : "ferry"} · ferry console`;
  if (focus && h1) {
    h1.setAttribute("tabindex", "-1");
    h1.focus();
  }
  poll(mine);
}

async function poll(mine) {
  if (mine !== generation || !current) return;
  try {
    await current.refresh();
    document.getElementById("updated").textContent = `Updated ${time(Date.now()).slice(11)}`;
  } catch (e) {
    // Each page shows its own errors; an exception here is a bug worth seeing in the console.
    console.error(e);
  }
  if (mine !== generation) return;
  timer = setTimeout(() => poll(mine), REFRESH_MS);
}

onServerState((up, detail) => {
  const banner = document.getElementById("server-down");
  if (up) {
    banner.hidden = true;
    banner.textContent = "";
  } else {
    banner.textContent = `The server is not answering (${detail}). The figures below are from the last poll; retrying every second.`;
    banner.hidden = false;
  }
});

window.addEventListener("hashchange", () => show(true));
show(false);
