// Thin client for the Latent Atlas HTTP API. Every call goes to the page's own origin.
// Failures become ApiError with the server's `detail` as the message.

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** FastAPI's `detail` is a string, or a list of {loc, msg} for validation errors. */
function formatDetail(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        if (item && typeof item === "object") {
          const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
          return loc ? `${loc}: ${item.msg ?? JSON.stringify(item)}` : item.msg ?? JSON.stringify(item);
        }
        return String(item);
      })
      .join("; ");
  }
  if (typeof detail === "object" && detail.msg) return String(detail.msg);
  return JSON.stringify(detail);
}

async function errorFromResponse(res) {
  let message = "";
  try {
    const text = await res.text();
    try {
      message = formatDetail(JSON.parse(text).detail);
    } catch {
      message = text.slice(0, 300);
    }
  } catch {
    /* body unreadable */
  }
  if (!message) message = res.statusText || "request failed";
  return new ApiError(`${message} (HTTP ${res.status})`, res.status);
}

/** Requests still waiting for a reply (the page is idle when this is 0). */
export const activity = { inflight: 0 };

/**
 * One same-origin request, counted in `activity`. `opts`: {method, json (sent as JSON),
 * body (sent as is, e.g. FormData), signal, expect: "json" (default), "blob" or "arraybuffer",
 * accept: the Accept header (default: application/json when expecting JSON)}. Resolves
 * to the parsed reply; fails with ApiError carrying the server's `detail` (AbortError is
 * passed through). Other API clients (ensemble-api.js) build on it.
 */
export async function request(path, opts = {}) {
  activity.inflight += 1;
  try {
    return await send(path, opts);
  } finally {
    activity.inflight -= 1;
  }
}

async function send(path, { method = "GET", json, body, signal, expect = "json", accept } = {}) {
  const init = { method, signal, headers: {} };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  if (accept) init.headers.Accept = accept;
  else if (expect === "json") init.headers.Accept = "application/json";
  let res;
  try {
    res = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("cannot reach the Latent Atlas server: is it still running?", 0);
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (expect === "blob") return res.blob();
  if (expect === "arraybuffer") return res.arrayBuffer();
  try {
    return await res.json();
  } catch (error) {
    // a request superseded while its body was still arriving is aborted, not unreadable
    if (error.name === "AbortError") throw error;
    throw new ApiError(`the server sent an unreadable reply to ${method} ${path}`, res.status);
  }
}

export const modelPath = (id) => `/api/models/${encodeURIComponent(id)}`;

let config = null;

export const api = {
  /** The server's limits and parameter ranges (GET /api/config), asked for once per page. */
  config() {
    config ??= request("/api/config");
    config.catch(() => (config = null));
    return config;
  },
  listModels: (opts) => request("/api/models", opts).then((r) => r.models ?? []),
  getModel: (id, opts) => request(modelPath(id), opts),
  encodeFile(id, file, opts = {}) {
    const form = new FormData();
    form.append("image", file, file.name || "upload");
    return request(`${modelPath(id)}/encode`, { ...opts, method: "POST", body: form });
  },
  encodeIndex: (id, index, opts = {}) =>
    request(`${modelPath(id)}/encode`, { ...opts, method: "POST", json: { dataset_index: index } }),
  decode: (id, latent, opts = {}) =>
    request(`${modelPath(id)}/decode`, { ...opts, method: "POST", json: { latent }, expect: "blob" }),
  traverse: (id, latent, dims, steps, opts = {}) =>
    request(`${modelPath(id)}/traverse`, { ...opts, method: "POST", json: { latent, dims, steps } }),
  /** Latents from the model's prior and their decodes: {samples: [{latent, image}], seed}. */
  generate: (id, n, seed, opts = {}) => request(`${modelPath(id)}/generate`, { ...opts, method: "POST", json: { n, seed } }),
  /** Each latent dim's information (KL to the prior, or code entropy) and the dims ordered by it. */
  dimInformation: (id, opts) => request(`${modelPath(id)}/dim-information`, opts),
  /** Each dim's factor by intervention, computed once per model on the server: {names, scores, factor_names, ...}. */
  dimFactors: (id, opts) => request(`${modelPath(id)}/dim-factors`, opts),
  /** The model's ONNX graphs for decoding in the browser: {available, parts, unavailable, sweeps, ...}. */
  onnx: (id, opts) => request(`${modelPath(id)}/onnx`, opts),
  /** Frames between two images: `start`, `end` each {index} (a dataset image) or {file} (an upload);
   * {frames, latents, steps, decoder, label}, or with `gif` the animated GIF as a Blob. */
  interpolate(id, start, end, steps, { gif = false, ...opts } = {}) {
    const path = `${modelPath(id)}/interpolate${gif ? "?format=gif" : ""}`;
    const expect = gif ? "blob" : "json";
    if (start.file == null && end.file == null) {
      const json = { from: { dataset_index: start.index }, to: { dataset_index: end.index }, steps };
      return request(path, { ...opts, method: "POST", json, expect });
    }
    const form = new FormData();
    for (const [name, part] of [["from", start], ["to", end]]) {
      if (part.file != null) form.append(name, part.file, part.file.name || "upload");
      else form.append(name, String(part.index));
    }
    form.append("steps", String(steps));
    return request(path, { ...opts, method: "POST", body: form, expect });
  },
  /** The principal directions of the model's latents: {directions: [{vector, sd, explained_variance_ratio}], ...}. */
  directions: (id, count, opts) => request(`${modelPath(id)}/directions?count=${count}`, opts),
  samples: (id, n, seed, opts) =>
    request(`${modelPath(id)}/samples?n=${n}&seed=${seed}`, opts).then((r) => r.samples ?? []),
  /** Start (or join) the model's metrics job: {job_id, status, joined}. */
  startMetrics: (id, body = {}, opts = {}) => request(`${modelPath(id)}/metrics`, { ...opts, method: "POST", json: body }),
  /** Serve the shipped card's metrics again instead of a job's; the shipped metrics (null: none). */
  shippedMetrics: (id, opts = {}) => request(`${modelPath(id)}/metrics/shipped`, { ...opts, method: "POST" }),
  /** Ask the server to stop a job (it writes nothing); the job's state. */
  cancelJob: (jobId, opts = {}) => request(`/api/jobs/${encodeURIComponent(jobId)}`, { ...opts, method: "DELETE" }),
  job: (jobId, opts) => request(`/api/jobs/${encodeURIComponent(jobId)}`, opts),
};

export function liveUrl(id) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${modelPath(id)}/live`;
}
