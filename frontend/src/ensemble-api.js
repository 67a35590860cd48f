// The ensemble endpoints of the Latent Atlas API (api.js covers the models and jobs).
// Same conventions as api.js: same-origin JSON, failures become ApiError with the server's
// `detail`, and every request counts in api.js's `activity` so the page knows when it is idle.

import { ApiError, activity, api, formatDetail } from "./api.js";

const ensemblePath = (id) => `/api/ensembles/${encodeURIComponent(id)}`;

async function readError(res) {
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
  return new ApiError(`${message || res.statusText || "request failed"} (HTTP ${res.status})`, res.status);
}

async function requestJson(path, { method = "GET", json, signal } = {}) {
  activity.inflight += 1;
  try {
    const init = { method, signal, headers: { Accept: "application/json" } };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError("cannot reach the Latent Atlas server: is it still running?", 0);
    }
    if (!res.ok) throw await readError(res);
    try {
      return await res.json();
    } catch {
      throw new ApiError(`the server sent an unreadable reply to ${method} ${path}`, res.status);
    }
  } finally {
    activity.inflight -= 1;
  }
}

export const ensembleApi = {
  list: (opts) => requestJson("/api/ensembles", opts).then((r) => r.ensembles ?? []),
  detail: (id, opts) => requestJson(ensemblePath(id), opts),
  similarity: (id, opts) => requestJson(`${ensemblePath(id)}/similarity`, opts),
  hotspots: (id, opts) => requestJson(`${ensemblePath(id)}/hotspots`, opts),
  /** Start (or join) the ensemble's analysis job: {job_id, status, joined}. */
  analyze: (id, body, opts = {}) => requestJson(`${ensemblePath(id)}/analyze`, { ...opts, method: "POST", json: body }),
  job: api.job,
  listModels: api.listModels,
  traverse: api.traverse,
};
