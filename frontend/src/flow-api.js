// Requests of the EOFlow panel: /truncate and /denoise for the current image (JSON by dataset
// index, or multipart with the uploaded file) and /entropy. They count in api.js's `activity`
// (the page's idle signal) and fail with ApiError carrying the server's `detail`; a
// Coalescer keeps at most one of a kind in flight, the latest request winning.

import { ApiError, activity, formatDetail } from "./api.js";

const modelPath = (id) => `/api/models/${encodeURIComponent(id)}`;
const ACCEPT_JSON = { Accept: "application/json" };

async function failure(res) {
  let message = "";
  try {
    message = formatDetail(JSON.parse(await res.text()).detail);
  } catch {
    /* not a JSON error body */
  }
  return new ApiError(`${message || res.statusText || "request failed"} (HTTP ${res.status})`, res.status);
}

async function call(path, init) {
  activity.inflight += 1;
  try {
    let res;
    try {
      res = await fetch(path, init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError("cannot reach the Latent Atlas server: is it still running?", 0);
    }
    if (!res.ok) throw await failure(res);
    return await res.json();
  } finally {
    activity.inflight -= 1;
  }
}

/** POST init for an image source: {type: "sample", index} as JSON, {type: "file", file} as multipart. */
function imageInit(source, params, signal) {
  if (source.type === "file") {
    const form = new FormData();
    form.append("image", source.file, source.file.name || "upload");
    for (const [key, value] of Object.entries(params)) form.append(key, Array.isArray(value) ? value.join(",") : String(value));
    return { method: "POST", body: form, headers: ACCEPT_JSON, signal };
  }
  return {
    method: "POST",
    body: JSON.stringify({ dataset_index: source.index, ...params }),
    headers: { ...ACCEPT_JSON, "Content-Type": "application/json" },
    signal,
  };
}

export const flowApi = {
  /** Top-C decodes of the image for every C in `keep`, with their PSNRs. */
  truncate: (id, source, keep, { signal } = {}) => call(`${modelPath(id)}/truncate`, imageInit(source, { keep }, signal)),
  /** The image plus N(0, sigma^2) noise (seeded), encoded, its top `keep` latents decoded. */
  denoise: (id, source, { sigma, keep, seed }, { signal } = {}) =>
    call(`${modelPath(id)}/denoise`, imageInit(source, { sigma, keep, seed }, signal)),
  entropy: (id, { signal } = {}) => call(`${modelPath(id)}/entropy`, { headers: ACCEPT_JSON, signal }),
};

/** Runs `task(args)` one at a time; pushes while one runs replace each other (latest wins).
 *  A task's failure goes to `onError` and does not stop the queue. */
export class Coalescer {
  constructor(task, onError) {
    this.task = task;
    this.onError = onError;
    this.pending = null;
    this.running = false;
  }

  push(args) {
    this.pending = args;
    if (!this.running) this._drain();
  }

  clear() {
    this.pending = null;
  }

  get busy() {
    return this.running || this.pending !== null;
  }

  async _drain() {
    this.running = true;
    try {
      while (this.pending !== null) {
        const args = this.pending;
        this.pending = null;
        try {
          await this.task(args);
        } catch (error) {
          this.onError(error);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
