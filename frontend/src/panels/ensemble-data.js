// Pure data shaping for the ensemble view: channel lookup, the OPTICS display order, the
// hotspot runs along it, the reordered NMI matrix, per-seed jitter on the beta axis and the
// small formatting helpers. No DOM, no Plotly.

import { fmt } from "../lib/format.js";

const PALETTE = ["#f0a35e", "#5fa8ff", "#7bd88f", "#e06c9f", "#b39df3", "#e5d46f", "#6fd6d6", "#ff8a65", "#a1c45a", "#c792ea", "#4fc1e9", "#f78c6c"];
export const NOISE_COLOR = "#6b7580";
export const INACTIVE_COLOR = "#3d444d";

/** A distinct colour per hotspot label (labels >= 0; cycles past the palette). */
export function hotspotColor(label) {
  return label >= 0 ? PALETTE[label % PALETTE.length] : NOISE_COLOR;
}

/** `hex` (#rrggbb) as rgba() with the given opacity. */
export function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

export const fmtBeta = (b) => String(fmt.sig(b, 4));
export const channelName = (c) => `${c.member} z${c.dim}`;
/** "β4 s2" for a trained member (or its channel); an imported run (no β) by its name. */
export const memberTag = (m) => (m.beta == null ? (m.member ?? m.name) : `β${fmtBeta(m.beta)} s${m.seed}`);
/** " · β 4" for a trained member's channel, "" for an imported run's. */
export const betaPart = (c) => (c.beta == null ? "" : ` · β ${fmtBeta(c.beta)}`);

/**
 * The similarity payload indexed for lookups: `byIndex` (channel index -> channel, in the
 * payload's position), `posOf` (channel index -> row of the M x M matrices) and the labels.
 */
export function indexSimilarity(sim) {
  const posOf = new Map(sim.channels.map((c, pos) => [c.index, pos]));
  const labelOf = (index) => sim.labels[posOf.get(index)] ?? -2;
  return { ...sim, posOf, labelOf, channelOf: (index) => sim.channels[posOf.get(index)] };
}

/**
 * Channel indices in display order: OPTICS' ordering of the clustered channels, then (when
 * `showUnclustered`) every other channel in member-then-dim order.
 */
export function displayOrder(sim, showUnclustered) {
  const ordered = sim.ordering.filter((index) => sim.posOf.has(index));
  if (!showUnclustered) return ordered;
  const seen = new Set(ordered);
  return ordered.concat(sim.channels.map((c) => c.index).filter((index) => !seen.has(index)));
}

/** Maximal runs of consecutive positions sharing one hotspot label (>= 0): the bands. */
export function labelRuns(order, labelOf) {
  const runs = [];
  order.forEach((index, pos) => {
    const label = labelOf(index);
    if (label < 0) return;
    const last = runs[runs.length - 1];
    if (last && last.label === label && last.end === pos - 1) last.end = pos;
    else runs.push({ label, start: pos, end: pos });
  });
  return runs;
}

/** The NMI matrix with rows and columns in display order (null stays null: a gap). */
export function reorderMatrix(sim, order) {
  const rows = order.map((index) => sim.posOf.get(index));
  return rows.map((r) => {
    const source = sim.nmi[r];
    return rows.map((c) => source[c]);
  });
}

/** The channel of another member with the highest NMI to `index` (null when none is finite). */
export function closestPartner(sim, index) {
  const pos = sim.posOf.get(index);
  const member = sim.channels[pos].member;
  let best = null;
  let bestNmi = -Infinity;
  sim.nmi[pos].forEach((v, p) => {
    const other = sim.channels[p];
    if (other.member !== member && typeof v === "number" && v > bestNmi) {
      bestNmi = v;
      best = other.index;
    }
  });
  return best;
}

/** Whether the betas read better on a log axis (all positive, spanning a factor of 4+). */
export function logBetaAxis(betas) {
  return betas.length > 1 && betas.every((b) => b > 0) && Math.max(...betas) / Math.min(...betas) >= 4;
}

/**
 * Each channel's x position: its beta, shifted by seed so the seeds sit side by side
 * (multiplicatively on a log axis, by a share of the smallest beta gap on a linear one).
 */
export function jitteredBetas(channels, betas, seeds, log) {
  const sorted = [...new Set(betas)].sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((b, i) => b - sorted[i]);
  const gap = gaps.length ? Math.min(...gaps) : 1;
  const spread = (seed) => (seeds > 1 ? seed / (seeds - 1) - 0.5 : 0);
  return channels.map((c) => (log ? c.beta * 2 ** (0.6 * spread(c.seed)) : c.beta + 0.5 * gap * spread(c.seed)));
}

/** "β1 ×2 · β4 ×3": how many channels of each beta ("" when none has one: imported runs). */
export function betaCounts(betas) {
  const counts = new Map();
  for (const b of betas.filter((v) => v != null)) counts.set(b, (counts.get(b) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([b, n]) => `β${fmtBeta(b)} ×${n}`)
    .join(" · ");
}

/** "done 28 · running 2": the members per status, in the lifecycle's order. */
export function statusSummary(counts) {
  const order = ["done", "running", "pending", "failed"];
  const keys = Object.keys(counts ?? {}).sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  return keys.map((k) => `${k} ${counts[k]}`).join(" · ");
}

const NULL_NAMES = { as_initialised: "as initialised", signal_matched: "signal-matched" };

/**
 * One line: which hotspots beat the untrained null (their cohesion, the mean NMI of their
 * channel pairs across members, above every untrained ensemble's 95th percentile), or "" when
 * the analysis has no untrained null.
 */
export function untrainedNullLine(payload) {
  const nulls = payload.untrained_nulls ?? [];
  if (!nulls.length || !payload.hotspots.length) return "";
  const beating = payload.hotspots.filter((h) => h.beats_untrained_null).map((h) => `H${h.label}`);
  const bars = nulls.map((n) => `${fmt.score(n.cross_member_nmi_p95)} ${NULL_NAMES[n.name] ?? n.name}`).join(", ");
  const which = beating.length ? beating.join(", ") : "none";
  const n = payload.hotspots.length;
  return `Beat the untrained null: ${which} of ${n} (cohesion above untrained encoders' 95th percentile: ${bars}).`;
}
