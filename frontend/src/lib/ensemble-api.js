// The ensemble endpoints of the Latent Atlas API (api.js covers the models and jobs). Built
// on api.js's `request`: same-origin JSON, failures become ApiError with the server's
// `detail`, and every request counts in `activity` so the page knows when it is idle.

import { api, request } from "./api.js";

const ensemblePath = (id) => `/api/ensembles/${encodeURIComponent(id)}`;

export const ensembleApi = {
  list: (opts) => request("/api/ensembles", opts).then((r) => r.ensembles ?? []),
  detail: (id, opts) => request(ensemblePath(id), opts),
  similarity: (id, opts) => request(`${ensemblePath(id)}/similarity`, opts),
  hotspots: (id, opts) => request(`${ensemblePath(id)}/hotspots`, opts),
  /** The finished members' training curves, grouped by beta (name without -seedN). */
  curves: (id, opts) => request(`${ensemblePath(id)}/curves`, opts),
  /** Start (or join) the ensemble's analysis job: {job_id, status, joined}. */
  analyze: (id, body, opts = {}) => request(`${ensemblePath(id)}/analyze`, { ...opts, method: "POST", json: body }),
  job: api.job,
  listModels: api.listModels,
  traverse: api.traverse,
};
