// Requests of the EOFlow panel: /truncate and /denoise for the current image (JSON by dataset
// index, or multipart with the uploaded file) and /entropy. Built on api.js's `request` (counts
// in `activity`, failures become ApiError with the server's `detail`); a Coalescer keeps at
// most one of a kind in flight, the latest request winning.

import { modelPath, request } from "../lib/api.js";

/** request() options for an image source: {type: "sample", index} as JSON, {type: "file", file} as multipart. */
function imageRequest(source, params, signal) {
  if (source.type === "file") {
    const form = new FormData();
    form.append("image", source.file, source.file.name || "upload");
    for (const [key, value] of Object.entries(params)) form.append(key, Array.isArray(value) ? value.join(",") : String(value));
    return { method: "POST", body: form, signal };
  }
  return { method: "POST", json: { dataset_index: source.index, ...params }, signal };
}

export const flowApi = {
  /** Top-C decodes of the image for every C in `keep`, with their PSNRs (and PCA's, with `baselines`). */
  truncate: (id, source, keep, { signal, baselines = false } = {}) =>
    request(`${modelPath(id)}/truncate`, imageRequest(source, { keep, baselines }, signal)),
  /** The image plus N(0, sigma^2) noise (seeded), encoded, its top `keep` latents decoded (and PCA's projection). */
  denoise: (id, source, { sigma, keep, seed, baselines = false }, { signal } = {}) =>
    request(`${modelPath(id)}/denoise`, imageRequest(source, { sigma, keep, seed, baselines }, signal)),
  entropy: (id, { signal } = {}) => request(`${modelPath(id)}/entropy`, { signal }),
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
