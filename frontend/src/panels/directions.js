// Principal directions as extra sliders (GANSpace, Härkönen et al. 2020): the server measures the
// top principal directions of the model's encoded latents (GET /directions: unit vectors v_k,
// each with its sd along it); slider k holds t_k, in sds, and the latent shown is
// anchor + sum_k t_k sd_k v_k, decoded through the page's decode path like any other latent.
// The anchor is the latent the edit started from: any other change of the latent (a slider, a
// new image, reset) becomes the new anchor and the direction sliders go back to 0.

import { api } from "../lib/api.js";
import { SliderPanel } from "./sliders.js";

/** Direction sliders span +- this many sds; "wider range" the second. */
const SPANS = { normal: 3, wide: 10 };

export class DirectionsPanel {
  /**
   * @param {object} els  panel (the section), count (select), button, wide (checkbox), note, sliders (container)
   * @param {object} deps  latent (LatentControl: the current latent, set through it); onError(error, context)
   */
  constructor(els, { latent, onError }) {
    this.els = els;
    this.latent = latent;
    this.onError = onError;
    this.model = null;
    this.found = new Map(); // model id -> the server's directions (asked for once per page)
    this.loading = false;
    this.reset();
    els.button.addEventListener("click", () => this.load());
    els.wide.addEventListener("change", () => this.build());
  }

  get busy() {
    return this.loading;
  }

  reset() {
    this.anchor = null;
    this.t = [];
    this.sliderPanel = null;
    this.els.sliders.replaceChildren();
  }

  show(model) {
    this.model = model;
    this.reset();
    this.els.panel.hidden = !model.capabilities.encode;
    this.els.note.textContent = "The principal directions of the latents of the model's held-out images, as sliders.";
    if (this.found.has(model.id)) this.build();
  }

  /** Another change of the latent: it becomes the anchor of the next edit, the sliders go to 0. */
  setLatent() {
    if (this.editing || !this.sliderPanel) return;
    this.anchor = null;
    this.t.fill(0);
    this.sliderPanel.setValues(this.t);
  }

  async load() {
    const model = this.model;
    if (!model) return;
    this.loading = true;
    this.els.button.disabled = true;
    this.els.note.textContent = "Encoding the held-out images and finding their principal directions…";
    try {
      const found = await api.directions(model.id, Number(this.els.count.value));
      this.found.set(model.id, found);
      if (model === this.model) this.build();
    } catch (error) {
      if (model === this.model) this.els.note.textContent = "";
      this.onError(error, "principal directions");
    } finally {
      this.loading = false;
      this.els.button.disabled = false;
    }
  }

  /** Sliders for the model's directions (keeping their values), over +- 3 sd or the wider range. */
  build() {
    const found = this.found.get(this.model?.id);
    if (!found) return;
    const { directions } = found;
    const k = directions.length;
    const sds = this.els.wide.checked ? SPANS.wide : SPANS.normal;
    const unit = { latent_dim: k, latent_mean: Array(k).fill(0), latent_std: Array(k).fill(1), capabilities: {} };
    const label = (d) => `PC${d + 1} · ${(100 * directions[d].explained_variance_ratio).toFixed(1)}%`;
    this.t = directions.map((_, d) => this.t[d] ?? 0);
    const onInput = (d, value) => this.move(d, value);
    this.sliderPanel = new SliderPanel(this.els.sliders, unit, onInput, { idPrefix: "direction", label, sds });
    this.sliderPanel.setValues(this.t);
    const share = directions.reduce((sum, d) => sum + d.explained_variance_ratio, 0);
    this.els.note.textContent = `${k} directions of ${found.samples} held-out images' latents, ` +
      `${(100 * share).toFixed(1)}% of their variance; each slider adds t · sd · v to the latent ` +
      `(t in sds, ±${sds}).`;
  }

  /** Slider `d` at `t` sds: the latent becomes anchor + sum_k t_k sd_k v_k. */
  move(d, t) {
    const current = this.latent.latent;
    if (!current) return;
    this.anchor ??= current.slice();
    this.t[d] = t;
    const z = this.anchor.slice();
    this.found.get(this.model.id).directions.forEach(({ vector, sd }, k) => {
      if (this.t[k]) for (let i = 0; i < z.length; i++) z[i] += this.t[k] * sd * vector[i];
    });
    this.editing = true;
    try {
      this.latent.set(z);
    } finally {
      this.editing = false;
    }
  }
}
