// The sliders panel: one slider per latent dim (sliders.js) for the shown model, the encoded
// image's mark, each dim's factor name, the slider legend for what the model has, and the
// sliders ordered by each dim's information (the server measures it), inactive dims collapsed.

import { api } from "../lib/api.js";
import { declaredFactors, metricsFactors, namingRule } from "./factors.js";
import { sliderLimit } from "./latent.js";
import { SliderPanel } from "./sliders.js";

const HINT = "Drag a slider or focus it and use the arrow keys.";

export class LatentSliders {
  /**
   * @param {object} els  container (#sliders); optional: hint, orderLabel, orderToggle, family,
   *   legendBand, legendInactive, legendTicks
   * @param {object} hooks  onInput(dim, value, t0); onArrange(dims | null): the dims shown, in
   *   order (null: all, natural order); onError(error, context)
   */
  constructor(els, { onInput, onArrange = () => {}, onError = () => {} }) {
    this.els = els;
    this.hooks = { onInput, onArrange, onError };
    this.model = null;
    this.panel = null;
    els.orderToggle?.addEventListener("change", () => this.arrange());
  }

  show(model) {
    const { els } = this;
    this.model = model;
    this.panel = new SliderPanel(els.container, model, this.hooks.onInput, { limit: sliderLimit(model) });
    if (els.hint) {
      const named = !declaredFactors(model) && metricsFactors(model);
      els.hint.textContent = named ? `${HINT} Names: ${namingRule(model)} (NMI shown).` : HINT;
    }
    this._describe(model);
    if (els.orderLabel) {
      els.orderLabel.hidden = !(model.capabilities.posterior || model.capabilities.codes);
      if (els.orderLabel.hidden) els.orderToggle.checked = false;
      if (els.orderToggle.checked) this.arrange();
    }
  }

  setBase(base) {
    this.panel?.setBase(base?.latent ?? null, base?.scale ?? null);
  }

  setLatent(latent) {
    if (latent) this.panel?.setValues(latent);
  }

  setFactors(names) {
    this.panel?.setFactors(names);
  }

  linkState() {
    const { orderToggle, orderLabel } = this.els;
    return { order: orderToggle?.checked && !orderLabel.hidden ? "info" : null };
  }

  /** Focus dim `d`'s slider; `mark` also scrolls it to the centre and marks it (a link's `dim`). */
  focus(d, { mark = false } = {}) {
    if (mark) return this.panel?.focusDim(d);
    this.panel?.focus(d);
    this.els.container.querySelector(`.slider-row[data-dim="${d}"]`)?.scrollIntoView({ block: "nearest" });
  }

  /** Order by information from a link (`order=info`). */
  restoreOrder(order) {
    if (order !== "info" || !this.els.orderToggle || this.els.orderLabel.hidden) return;
    if (this.els.orderToggle.checked) return;
    this.els.orderToggle.checked = true;
    this.arrange();
  }

  /** Order the sliders by each dim's information, the server's inactive dims collapsed; or back
   * to the natural order. */
  async arrange() {
    const model = this.model;
    if (!model || !this.panel) return;
    if (!this.els.orderToggle.checked) {
      this.panel.arrange();
      this.hooks.onArrange(null);
      return;
    }
    try {
      model.information ??= await api.dimInformation(model.id);
    } catch (error) {
      this.els.orderToggle.checked = false;
      this.hooks.onError(error, "information per dim");
      return;
    }
    if (model !== this.model) return;
    const info = model.information;
    const unit = info.measure === "kl_nats" ? "nats" : "bits";
    const notes = info.values.map((v) => `${v.toFixed(2)} ${unit}`);
    const collapsed = new Set((model.dim_inactive ?? []).flatMap((off, d) => (off ? [d] : [])));
    this.hooks.onArrange(this.panel.arrange(info.order, collapsed, notes, () => this.arrange()));
  }

  /** One line on the model's family (the server's summary) and the slider legend for what it has. */
  _describe(model) {
    const { family, legendBand, legendInactive, legendTicks } = this.els;
    if (!family) return;
    const caps = model.capabilities;
    const what = [
      caps.codes && "each latent snaps to its own codebook of values",
      caps.posterior && "the encoder gives a Gaussian posterior per latent",
      caps.ordered && "latents are ordered by explained entropy: the sliders hold the top ones",
      caps.likelihood && "an exact likelihood (bits/dim)",
      caps.sample && "it can sample from its prior",
    ].filter(Boolean);
    family.textContent = `${model.kind.toUpperCase()}: ${model.family}${what.length ? `; ${what.join("; ")}` : ""}.`;
    legendBand.hidden = !caps.posterior;
    legendInactive.hidden = !(model.dim_inactive ?? []).some(Boolean);
    legendTicks.textContent = caps.codes ? "ticks: the codebook's values" : "ticks: every sd of the encoded data (the middle one: the mean)";
  }
}
