// One slider per latent dimension (the widget; latent-sliders.js is the panel around it).
// QLAE: the slider spans the dimension's codebook (sorted), snaps to the codes, draws a
// tick per code, and the arrow keys step code by code. Continuous latents span
// mean +- 3 sd of the encoder's outputs, with ticks at every sd.

import { fmt } from "../lib/format.js";
import { dimRanges, nearestIndex, snap } from "./latent.js";

export class SliderPanel {
  /**
   * @param {HTMLElement} container  #sliders
   * @param {object} model  ModelInfo
   * @param {(dim: number, value: number, t0: number) => void} onInput
   * @param {{limit?: number, idPrefix?: string, label?: (d: number) => string, sds?: number}} options
   *   limit: sliders for the first `limit` dims only (an ordered model's top latents), the others
   *   keep their values; idPrefix: of the inputs' ids; label: each row's name; sds: the continuous
   *   range, mean +- sds sd
   */
  constructor(container, model, onInput, options = {}) {
    const { limit = model.latent_dim, idPrefix = "latent", label = (d) => `z${d}`, sds = 3 } = options;
    this.container = container;
    this.model = model;
    this.onInput = onInput;
    this.idPrefix = idPrefix;
    this.label = label;
    this.ranges = dimRanges(model, sds).slice(0, limit);
    this.inputs = [];
    this.outputs = [];
    this.described = []; // the value each row's readout shows: a row is rewritten only when it changes
    this.baseMarks = [];
    this.bands = [];
    this.factorLabels = [];
    this._build();
  }

  _build() {
    const { container, model } = this;
    container.replaceChildren();
    container.classList.toggle("quantized", this.ranges.some((r) => r.kind === "codes"));
    const scale = Array.isArray(model.posterior_scale) ? model.posterior_scale : null;
    const inactive = Array.isArray(model.dim_inactive) ? model.dim_inactive : [];
    this.ranges.forEach((range, d) => {
      const row = document.createElement("div");
      row.className = "slider-row";
      row.dataset.dim = String(d);

      const label = document.createElement("label");
      label.className = "dim-label";
      label.htmlFor = `${this.idPrefix}-${d}`;
      const name = document.createElement("span");
      name.className = "dim-name";
      name.textContent = this.label(d);
      const factor = document.createElement("span");
      factor.className = "dim-factor";
      label.append(name, factor);
      if (inactive[d]) {
        // The server's verdict: a dimension whose posterior stays near the prior carries (almost) nothing.
        const badge = document.createElement("span");
        badge.className = "dim-badge";
        badge.textContent = "inactive";
        badge.title = `mean posterior sd ${fmt.fixed(Number(scale?.[d]))} (at least ${model.collapsed_posterior_sd}): this dimension is (nearly) collapsed to the prior`;
        label.append(badge);
      }

      const track = document.createElement("div");
      track.className = "track";
      const input = document.createElement("input");
      input.type = "range";
      input.id = `${this.idPrefix}-${d}`;
      input.dataset.dim = String(d);
      input.min = String(range.min);
      input.max = String(range.max);
      input.step = range.kind === "codes" ? "any" : String(range.step);
      input.value = String(range.kind === "codes" ? range.codes[0] : range.mean);

      const ticks = document.createElement("div");
      ticks.className = "ticks";
      ticks.setAttribute("aria-hidden", "true");
      const span = range.max - range.min;
      const tickValues = range.kind === "codes" ? range.codes : range.ticks;
      tickValues.forEach((v, i) => {
        const tick = document.createElement("span");
        tick.className = "tick";
        if (range.kind === "continuous" && i === (tickValues.length - 1) / 2) tick.classList.add("major");
        tick.style.left = `${((v - range.min) / span) * 100}%`;
        ticks.append(tick);
      });
      const band = document.createElement("span");
      band.className = "band";
      band.hidden = true;
      const base = document.createElement("span");
      base.className = "base-mark";
      base.hidden = true;
      ticks.append(band, base);
      track.append(input, ticks);

      const output = document.createElement("output");
      output.className = "dim-value";
      output.htmlFor = input.id;

      row.append(label, track, output);
      container.append(row);

      input.addEventListener("input", () => {
        const t0 = performance.now();
        const value = snap(range, Number(input.value));
        if (range.kind === "codes") input.value = String(value);
        this._describe(d, value);
        this.onInput(d, value, t0);
      });
      if (range.kind === "codes") {
        input.addEventListener("keydown", (event) => this._codeKey(event, d));
      }
      this.inputs.push(input);
      this.outputs.push(output);
      this.baseMarks.push(base);
      this.bands.push(band);
      this.factorLabels.push(factor);
    });
    const hidden = model.latent_dim - this.ranges.length;
    if (hidden > 0) {
      const more = document.createElement("p");
      more.className = "slider-more muted";
      more.textContent = `Sliders for the top ${this.ranges.length} of ${model.latent_dim} ordered latents; the other ${hidden} stay as encoded.`;
      container.append(more);
    }
  }

  /** Arrow keys, PageUp/Down, Home/End step through the sorted codes. */
  _codeKey(event, d) {
    const range = this.ranges[d];
    const input = this.inputs[d];
    const n = range.codes.length;
    const i = nearestIndex(range.codes, Number(input.value));
    const moves = {
      ArrowRight: i + 1, ArrowUp: i + 1, ArrowLeft: i - 1, ArrowDown: i - 1,
      PageUp: i + 3, PageDown: i - 3, Home: 0, End: n - 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const j = Math.max(0, Math.min(n - 1, moves[event.key]));
    if (j === i) return;
    input.value = String(range.codes[j]);
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  _describe(d, value) {
    if (this.described[d] === value) return;
    this.described[d] = value;
    const range = this.ranges[d];
    const input = this.inputs[d];
    const out = this.outputs[d];
    if (range.kind === "codes") {
      const i = nearestIndex(range.codes, value);
      out.textContent = `${fmt.fixed(value)}`;
      out.dataset.code = `${i + 1}/${range.codes.length}`;
      input.setAttribute("aria-valuetext", `code ${i + 1} of ${range.codes.length}, value ${fmt.fixed(value)}`);
    } else {
      const z = (value - range.mean) / range.sd;
      out.textContent = fmt.fixed(value);
      out.dataset.code = `${z >= 0 ? "+" : "−"}${Math.abs(z).toFixed(1)}σ`;
      out.classList.toggle("outside", value < range.min || value > range.max);
      input.setAttribute("aria-valuetext", `${fmt.fixed(value)}, ${z.toFixed(1)} sd from the mean`);
    }
  }

  /** Show `latent` on the sliders (values outside a continuous range clamp on the thumb only). */
  setValues(latent) {
    latent.forEach((v, d) => {
      const input = this.inputs[d];
      if (!input) return;
      if (input.value !== String(v)) input.value = String(v);
      this._describe(d, v);
    });
  }

  /** Mark where the encoded image's latent sits (and its posterior sd band, for VAEs). */
  setBase(latent, scale = null) {
    this.ranges.forEach((range, d) => {
      const mark = this.baseMarks[d];
      const band = this.bands[d];
      const span = range.max - range.min;
      const pos = (v) => Math.max(0, Math.min(100, ((v - range.min) / span) * 100));
      if (!latent || !Number.isFinite(latent[d])) {
        mark.hidden = true;
        band.hidden = true;
        return;
      }
      mark.hidden = false;
      mark.style.left = `${pos(latent[d])}%`;
      mark.title = `encoded value ${fmt.fixed(latent[d])}`;
      const s = scale ? Number(scale[d]) : NaN;
      if (Number.isFinite(s) && s > 0) {
        band.hidden = false;
        const lo = pos(latent[d] - s);
        const hi = pos(latent[d] + s);
        band.style.left = `${lo}%`;
        band.style.width = `${hi - lo}%`;
      } else {
        band.hidden = true;
      }
    });
  }

  /** Factor names per dim (or null), shown next to the dim name. */
  setFactors(names) {
    this.factorLabels.forEach((el, d) => {
      const name = names?.[d] ?? "";
      el.textContent = name;
      el.title = name ? `z${d} mostly follows ${name}` : "";
    });
  }

  focus(d) {
    this.inputs[d]?.focus();
  }

  /**
   * Show the rows in `order` (dim indices; null: natural order), `collapsed` dims behind a
   * "show" toggle, and `notes[d]` (e.g. "2.24 nats") beside each name. Returns the dims shown.
   */
  arrange(order = null, collapsed = new Set(), notes = [], onToggle = () => {}) {
    const rows = [...this.container.querySelectorAll(".slider-row")];
    const byDim = new Map(rows.map((row) => [Number(row.dataset.dim), row]));
    const dims = order ? order.filter((d) => byDim.has(d)) : [...byDim.keys()].sort((a, b) => a - b);
    const more = this.container.querySelector(".slider-more");
    this.container.querySelector(".collapse-toggle")?.remove();
    const focused = this.container.contains(document.activeElement) ? document.activeElement : null;
    const shown = [];
    let placed = null; // the last row put in its place
    for (const d of dims) {
      const row = byDim.get(d);
      row.hidden = collapsed.has(d) && !this.showCollapsed;
      if (!row.hidden) shown.push(d);
      let note = row.querySelector(".dim-info");
      if (!note) {
        note = Object.assign(document.createElement("span"), { className: "dim-info" });
        row.querySelector(".dim-label").append(note);
      }
      note.textContent = notes[d] ?? "";
      // appending moves the row into its place; a row already there stays (moving a row would
      // take the keyboard focus off its slider)
      const inPlace = placed ? placed.nextElementSibling : this.container.firstElementChild;
      if (row !== inPlace) this.container.append(row);
      placed = row;
    }
    const hidden = dims.filter((d) => collapsed.has(d)).length;
    if (hidden) {
      const toggle = Object.assign(document.createElement("button"), { type: "button", className: "link collapse-toggle" });
      toggle.textContent = this.showCollapsed ? `Hide the ${hidden} inactive dims` : `Show ${hidden} inactive dims`;
      toggle.addEventListener("click", () => {
        this.showCollapsed = !this.showCollapsed;
        onToggle();
      });
      this.container.append(toggle);
    }
    if (more) this.container.append(more);
    if (focused?.isConnected && document.activeElement !== focused && !focused.closest("[hidden]")) focused.focus({ preventScroll: true });
    return shown;
  }

  /** Bring dim `d`'s slider into view, focused and marked (a link's `dim`: a channel picked elsewhere). */
  focusDim(d) {
    const input = this.inputs[d];
    if (!input) return;
    const row = input.closest(".slider-row");
    row.classList.add("picked");
    row.scrollIntoView({ block: "center" });
    input.focus({ preventScroll: true });
  }
}
