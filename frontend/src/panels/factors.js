// Which generative factor each latent dim follows, as the server says.
// A model may say so itself (`dim_factors` in its info or card). When its card has
// disentanglement metrics, the server names each active dim whose largest normalised mutual
// information with a factor (InfoMEC's NMI matrix) reaches its threshold. Otherwise, for
// procedural datasets, the server estimates it by intervention (GET /dim-factors: from a few
// random base cells it changes one factor at a time, encodes the images and sees which dims move).
// The panel is the "Name dims" button; the names go to the store's `factors`.

import { api } from "../lib/api.js";

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

/** "n/a active dims follow one factor": counted among the dims the server calls active (it never names
 *  an inactive one). */
export function interventionSummary({ names, inactive }) {
  const active = names.filter((_, d) => !inactive?.[d]).length;
  const off = names.length - active;
  const named = names.filter(Boolean).length;
  return `${named}/${active} active dims follow one factor` + (off ? `; ${off} inactive, never named` : "");
}

/** Whether the server can name the dims by intervention: a dataset whose every index is one cell of its factor grid. */
export function canEstimate(model) {
  const sizes = model.factor_sizes;
  if (!Array.isArray(sizes) || sizes.length < 2 || !Array.isArray(model.factor_names)) return false;
  const total = sizes.reduce((a, b) => a * b, 1);
  return !model.dataset_size || model.dataset_size === total;
}

export class FactorNames {
  /**
   * @param {HTMLButtonElement} button  "Name dims"
   * @param {object} hooks  onNames(names): set the dims' names; onStatus(text); onError(error, context)
   */
  constructor(button, { onNames, onStatus, onError }) {
    this.button = button;
    this.hooks = { onNames, onStatus, onError };
    this.model = null;
    button.addEventListener("click", () => this.name());
  }

  /** The names a model comes with: declared, else from its metrics (null: none). */
  static initial(model) {
    return declaredFactors(model) ?? metricsFactors(model);
  }

  show(model) {
    this.model = model;
    // Naming dims by intervention: not for a flow's thousands of latents.
    this.button.hidden = model.capabilities.ordered || (!canEstimate(model) && !metricsFactors(model));
    this.button.disabled = false;
  }

  /** Name the dims: from the card's metrics when it has them, else by the server's intervention. */
  async name() {
    const model = this.model;
    if (!model) return;
    const fromMetrics = metricsFactors(model);
    if (fromMetrics) {
      this.hooks.onNames(fromMetrics);
      this.hooks.onStatus(`dims named from the card's metrics: ${namingRule(model)}`);
      return;
    }
    if (!canEstimate(model)) return;
    this.button.disabled = true;
    this.hooks.onStatus("naming dims by intervention on the server…");
    try {
      model.dimFactors ??= await api.dimFactors(model.id);
      if (model !== this.model) return;
      const { names, encodes } = model.dimFactors;
      this.hooks.onNames(names);
      this.hooks.onStatus(interventionSummary(model.dimFactors) + ` (${encodes} interventions)`);
    } catch (error) {
      if (model === this.model) this.hooks.onError(error, "naming dims");
    } finally {
      if (model === this.model) this.button.disabled = false;
    }
  }
}
