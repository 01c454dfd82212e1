// The REST API under /api/v1 (docs/http-api.md), and whether the server answers at all.

/** An error answer of the API: its status and the `{"error": {code, message}}` it carried. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The server did not answer (stopped, restarting, unreachable). */
export class ServerDown extends Error {
  constructor(cause) {
    super(`the server does not answer (${cause})`);
    this.name = "ServerDown";
  }
}

const listeners = new Set();
let up = true;

/** Calls `fn(up, detail)` whenever the server goes from answering to not answering or back. */
export function onServerState(fn) {
  listeners.add(fn);
}

function report(nowUp, detail) {
  if (nowUp === up && nowUp) return;
  up = nowUp;
  for (const fn of listeners) fn(nowUp, detail);
}

/** Percent-encodes a name for a path segment. */
export const seg = encodeURIComponent;

/**
 * Calls the API: `await api("POST", "/queues/orders/purge")`. Answers the parsed JSON (or null
 * for 204); throws ApiError with the server's own message, or ServerDown.
 */
export async function api(method, path, body) {
  const init = { method, cache: "no-store", headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch("/api/v1" + path, init);
  } catch (e) {
    const down = new ServerDown(e.message || e);
    report(false, down.message);
    throw down;
  }
  report(true);
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && data.error;
    const code = (error && error.code) || `http_${response.status}`;
    const message = (error && error.message) || text.trim() || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, code, message);
  }
  return data;
}

/** The items of a list endpoint, following `next` over at most `maxPages` pages of 1000. */
export async function listAll(path, maxPages = 10) {
  const items = [];
  let after = null;
  for (let page = 0; page < maxPages; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const query = `${sep}limit=1000${after ? `&after=${seg(after)}` : ""}`;
    const answer = await api("GET", path + query);
    if (Array.isArray(answer)) return answer;
    items.push(...((answer && answer.items) || []));
    after = answer && answer.next;
    if (!after) break;
  }
  return items;
}

/** A line for a person: the API's message, prefixed by what was being done. */
export function describe(error, doing) {
  if (error instanceof ApiError) return `${doing}: ${error.message} (${error.code}, HTTP ${error.status})`;
  if (error instanceof ServerDown) return `${doing}: ${error.message}`;
  return `${doing}: ${error && error.message ? error.message : error}`;
}
