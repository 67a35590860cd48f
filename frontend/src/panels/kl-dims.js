// KL per latent dimension over training, for models with a Gaussian posterior (the VAE family,
// `capabilities.posterior`): the trainers log KL(q(z_d|x) || N(0, 1)) per dimension d as the
// curves `kl_dim_<d>`; a dimension whose KL stays near 0 carries no information (collapsed).
// Cards trained before these curves were logged have none: the panel says so.

import { PALETTE, THEME, CONFIG, axis, placeholder, plotAvailable, NO_PLOTLY } from "../lib/plot.js";
import { make } from "../lib/dom.js";

export const KL_DIM_PREFIX = "kl_dim_";
/** KL (nats) above which a dimension counts as in use at the last logged step. */
const ACTIVE_NATS = 0.1;

/** The per-dimension KL curves of `curves`, ordered by dimension: [{dim, values}]. */
export function klDimCurves(curves) {
  return Object.keys(curves ?? {})
    .filter((key) => key.startsWith(KL_DIM_PREFIX) && Array.isArray(curves[key]))
    .map((key) => ({ dim: Number(key.slice(KL_DIM_PREFIX.length)), values: curves[key] }))
    .filter(({ dim }) => Number.isInteger(dim))
    .sort((a, b) => a.dim - b.dim);
}

/** A small figure after `anchor`: hidden for models without a posterior, a note when not recorded. */
export class KlDimsPlot {
  constructor(anchor) {
    this.plot = make("div", { id: "kl-dims-plot", className: "kl-dims-plot" });
    this.plot.setAttribute("role", "figure");
    this.plot.setAttribute("aria-label", "KL divergence per latent dimension over training");
    this.note = make("p", { id: "kl-dims-note", className: "hint muted" });
    this.section = make("div", { id: "kl-dims", className: "kl-dims" },
      make("h3", { className: "subhead", textContent: "KL per latent dimension over training" }), this.plot, this.note);
    anchor.after(this.section);
  }

  show(model) {
    this.section.hidden = !model.capabilities?.posterior;
    if (this.section.hidden) return;
    const dims = klDimCurves(model.curves);
    const steps = model.curves?.step;
    if (!dims.length || !Array.isArray(steps)) {
      placeholder(this.plot, "");
      this.plot.hidden = true;
      this.note.textContent =
        "KL per dimension was not recorded for this model: its card predates per-dimension logging. " +
        "Retrain it (latentatlas train) to record kl_dim_<d> curves.";
      return;
    }
    this.plot.hidden = false;
    const last = dims.map(({ values }) => Number(values[values.length - 1]));
    const active = last.filter((v) => v > ACTIVE_NATS).length;
    this.note.textContent =
      `KL(q(z_d|x) ‖ N(0, 1)) per dimension, batch means over each logging window (nats, linear axis). ` +
      `At the last step ${active} of ${dims.length} dimensions carry more than ${ACTIVE_NATS} nats; ` +
      "one that stays near 0 is unused (collapsed to the prior).";
    if (!plotAvailable()) {
      placeholder(this.plot, NO_PLOTLY);
      return;
    }
    const traces = dims.map(({ dim, values }, i) => ({
      x: steps, y: values.map((v) => (Number.isFinite(Number(v)) ? Number(v) : null)), name: `z${dim}`,
      type: "scatter", mode: "lines", line: { width: 1.4, color: PALETTE[i % PALETTE.length] },
      hovertemplate: `z${dim} %{y:.3g} nats<br>step %{x}<extra></extra>`,
    }));
    window.Plotly.react(this.plot, traces, {
      ...THEME, height: 220, margin: { l: 52, r: 12, t: 24, b: 40 }, hovermode: "x unified",
      xaxis: axis({ title: { text: "step" } }), yaxis: axis({ title: { text: "KL (nats)" }, rangemode: "tozero" }),
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
    }, CONFIG);
  }
}
