// Which generative factor each latent dim follows.
// A model may say so itself (`dim_factors` in its info or card). When its card has
// disentanglement metrics, the server names each active dim whose largest normalised mutual
// information with a factor (InfoMEC's NMI matrix) reaches its threshold. Otherwise, for procedural
// datasets (every index is one cell of the factor grid, last factor fastest) we estimate it
// by intervention: from a few random base cells, change one factor at a time, encode the
// images, and see which dims move. A dim is named after the factor that moves it most when
// that factor accounts for at least half of its movement.

import { api } from "./api.js";

export function declaredFactors(model) {
  const names = model.dim_factors ?? model.card?.dim_factors ?? null;
  if (!Array.isArray(names) || names.length !== model.latent_dim) return null;
  return names.map((n) => (typeof n === "string" && n ? n : null));
}

/** Each dim's name from the server (`dim_names`: its best factor by the card's InfoMEC NMI,
 *  given only at or above `dim_name_threshold` and for active dims), shown with its NMI;
 *  null where unnamed, and null altogether without metrics. The server owns the naming. */
export function metricsFactors(model) {
  const names = model?.dim_names;
  if (!Array.isArray(names) || !names.some(Boolean)) return null;
  return Array.from({ length: model.latent_dim }, (_, d) => {
    const name = names[d];
    return name ? `${name.factor} ${Number(name.nmi).toFixed(2)}` : null;
  });
}

/** One line saying how the metrics name dims (the threshold is the server's). */
export function namingRule(model) {
  return `a dim is named after the factor it shares the most information with when their NMI is at least ${model.dim_name_threshold}; inactive dims are never named`;
}

export function canEstimate(model) {
  const sizes = model.factor_sizes;
  if (!Array.isArray(sizes) || sizes.length < 2 || !Array.isArray(model.factor_names)) return false;
  const total = sizes.reduce((a, b) => a * b, 1);
  return !model.dataset_size || model.dataset_size === total;
}

function ravel(factors, sizes) {
  let index = 0;
  for (let k = 0; k < sizes.length; k++) index = index * sizes[k] + factors[k];
  return index;
}

function evenly(size, m) {
  if (size <= m) return Array.from({ length: size }, (_, i) => i);
  return Array.from({ length: m }, (_, i) => Math.round((i * (size - 1)) / (m - 1)));
}

/**
 * Estimate the factor of each dim. Returns {names: [name|null per dim], scores: [[D x K]]}.
 * @param {AbortSignal} signal  aborts the remaining encodes (model changed)
 */
export async function estimateFactors(model, { bases = 4, perFactor = 6, concurrency = 3, signal, onProgress } = {}) {
  const sizes = model.factor_sizes;
  const K = sizes.length;
  const D = model.latent_dim;
  const rand = mulberry32(0x1a7e47);
  const jobs = []; // {b, k, index}
  for (let b = 0; b < bases; b++) {
    const base = sizes.map((s) => Math.floor(rand() * s));
    for (let k = 0; k < K; k++) {
      for (const v of evenly(sizes[k], perFactor)) {
        const f = base.slice();
        f[k] = v;
        jobs.push({ b, k, index: ravel(f, sizes) });
      }
    }
  }
  const latents = new Array(jobs.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const j = next++;
      const reply = await api.encodeIndex(model.id, jobs[j].index, { signal });
      latents[j] = reply.latent;
      onProgress?.(++done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  // scores[d][k]: variance of z_d while only factor k changes, in units of z_d's variance.
  const scores = Array.from({ length: D }, () => new Array(K).fill(0));
  for (let k = 0; k < K; k++) {
    for (let b = 0; b < bases; b++) {
      const group = jobs.map((job, j) => (job.k === k && job.b === b ? latents[j] : null)).filter(Boolean);
      for (let d = 0; d < D; d++) {
        const xs = group.map((z) => z[d]);
        const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
        const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
        const sd = Number(model.latent_std?.[d]) || 1;
        scores[d][k] += variance / (sd * sd) / bases;
      }
    }
  }
  const names = scores.map((row) => {
    const total = row.reduce((a, x) => a + x, 0);
    let best = 0;
    for (let k = 1; k < K; k++) if (row[k] > row[best]) best = k;
    return total > 0 && row[best] >= 0.05 && row[best] / total >= 0.5 ? model.factor_names[best] : null;
  });
  return { names, scores };
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
