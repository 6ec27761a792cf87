// The playground's JSON API (docs/playground.md), one function per call. Every error the
// server sends is {"error": "..."}; it becomes the Error's message so the page can show it.

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(payload.error || `${method} ${path}: HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return payload;
}

const session = (id) => `/api/sessions/${encodeURIComponent(id)}`;

export const options = () => call("GET", "/api/options");
export const create = (config) => call("POST", "/api/sessions", config);
export const remove = (id) => call("DELETE", session(id));
export const info = (id) => call("GET", session(id));
export const step = (id, steps = 1) => call("POST", `${session(id)}/step?steps=${steps}`);
export const reset = (id) => call("POST", `${session(id)}/reset`);
export const data = (id) => call("GET", `${session(id)}/data`);
export const maps = (id, size = 64) => call("GET", `${session(id)}/maps?size=${size}`);
export const confusion = (id) => call("GET", `${session(id)}/confusion?split=test`);
export const setWeight = (id, layer, j, k, value) =>
  call("PATCH", `${session(id)}/weight`, { layer, j, k, value });

export const explain = (id, layer, j, k, example) =>
  call("GET", `${session(id)}/explain?layer=${layer}&j=${j}&k=${k}&example=${example}`);
export const gradients = (id, example) =>
  call("GET", `${session(id)}/gradients?example=${example}`);
export const backprop = (id, example) => call("GET", `${session(id)}/backprop?example=${example}`);

// The loss's computation graph is an SVG drawing, not JSON; it comes back as a Blob for an <img>.
export async function graph(id, example) {
  const path = `${session(id)}/graph?example=${example}`;
  const response = await fetch(path);
  if (!response.ok) {
    const payload = await response.json().catch(() => ({}));
    throw new Error(payload.error || `GET ${path}: HTTP ${response.status}`);
  }
  return response.blob();
}

export const exportUrl = (id, what) =>
  `${session(id)}/export/${what}${what === "data" ? "?split=test" : ""}`;

// Training frames arrive as Server-Sent Events; the server ends a stream after `frames` frames,
// and the page opens the next one for as long as it is playing.
export function stream(id, onFrame, onEnd, steps = 10, frames = 100) {
  const source = new EventSource(`${session(id)}/stream?steps=${steps}&frames=${frames}`);
  let ended = false;
  const end = (error) => {
    if (ended) return;
    ended = true;
    source.close();
    onEnd(error);
  };
  source.onmessage = (event) => onFrame(JSON.parse(event.data));
  source.addEventListener("end", () => end(null));
  source.addEventListener("error", (event) => {
    // A named "error" event from the server carries data; a bare one means the stream closed.
    end(event.data ? new Error(JSON.parse(event.data).error) : null);
  });
  return () => end(null);
}
