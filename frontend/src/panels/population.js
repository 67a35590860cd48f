// The population view: N seeded dataset samples encoded by the server once (GET
// /api/models/{id}/population, cached there), drawn as a WebGL scatter in the latents' principal
// plane (the server's PCA) coloured by any generative factor, with one histogram per latent dim
// split by that factor's values. Clicking a point loads that sample into the explorer; the
// current encoded image is the marked point (placed with the server's PCA basis), and a batch
// upload's images are the "yours" points (placed likewise).

import { modelPath, request } from "../lib/api.js";
import { fmt } from "../lib/format.js";
import { CONFIG, PALETTE, THEME as LAYOUT, axis, plotAvailable } from "../lib/plot.js";

const MAX_GROUPS = 6;
const HIST_DIMS = 16;

/** A factor's values split into at most MAX_GROUPS groups of consecutive levels: [{label, levels: Set}]. */
function factorGroups(size, values) {
  const per = Math.ceil(size / MAX_GROUPS);
  const groups = [];
  for (let start = 0; start < size; start += per) {
    const end = Math.min(size, start + per) - 1;
    const [lo, hi] = [values.get(start), values.get(end)];
    const label = start === end ? `${lo}` : `${lo} – ${hi}`;
    groups.push({ label, levels: new Set(Array.from({ length: end - start + 1 }, (_, i) => start + i)) });
  }
  return groups;
}


export class PopulationPanel {
  /**
   * @param {object} els {panel, n, color, button, note, scatter, hists}
   * @param {{onPick: (index: number, caption: string) => void, onError: (error: Error, context: string) => void}} handlers
   */
  constructor(els, { onPick, onError }) {
    this.els = els;
    this.onPick = onPick;
    this.onError = onError;
    this.model = null;
    this.data = null;
    this.marker = null;
    this.yours = []; // [{latent, name}] from a batch upload
    this.generation = 0;
    this.loading = false;
    els.button.addEventListener("click", () => this.load());
    els.color.addEventListener("change", () => this._render());
  }

  get busy() {
    return this.loading;
  }

  /** The number of points drawn (0 before a population is loaded). */
  get points() {
    return this.data?.n ?? 0;
  }

  show(model) {
    this.generation += 1;
    this.model = model;
    this.data = null;
    this.marker = null;
    this.yours = [];
    const factors = model.factor_names ?? [];
    this.els.panel.hidden = !factors.length;
    this.els.color.replaceChildren(...factors.map((name, k) => new Option(name, String(k))));
    this._clear();
    this.els.note.textContent = factors.length
      ? `Encode held-out samples of ${model.dataset} and see them in the latents' principal plane.`
      : "";
  }

  /** The image changed: its encoding (the store's `base`) is the marked point. */
  setSource(source, { base = null } = {}) {
    this.setMarker(source ? base?.latent ?? null : null, source?.caption || "current image");
  }

  /** The current image's latent, drawn as a marked point (null: none). */
  setMarker(latent, caption = "current image") {
    this.marker = latent ? { latent, caption } : null;
    if (this.data) this._renderScatter();
  }

  /** A batch upload's images ([{latent, name}]): drawn as the "yours" points. */
  setYours(items) {
    this.yours = items.map(({ latent, name }) => ({ latent, name }));
    if (this.data) this._renderScatter();
  }

  /** `latent` in the server's principal plane: [PC 1, PC 2]. */
  _project(latent) {
    const { mean, components } = this.data.pca;
    const z = latent.slice(0, this.data.dims);
    return components.map((axis) => axis.reduce((sum, w, d) => sum + w * (Number(z[d]) - mean[d]), 0));
  }

  async load() {
    const model = this.model;
    if (!model || this.loading) return;
    const generation = this.generation;
    const n = Number(this.els.n.value) || 2000;
    this.loading = true;
    this.els.button.disabled = true;
    this.els.note.textContent = `Encoding ${n.toLocaleString()} samples on the server (the first time for this model and size: seconds)…`;
    const started = performance.now();
    try {
      const data = await request(`${modelPath(model.id)}/population?n=${n}&seed=0`);
      if (generation !== this.generation) return;
      this.data = data;
      this._render();
      const ms = performance.now() - started;
      const ratio = data.pca.explained_variance_ratio.map((r) => `${(100 * r).toFixed(1)} %`).join(" + ");
      const computed = data.cached ? "cached on the server" : `encoded in ${(data.seconds.render + data.seconds.encode).toFixed(1)} s`;
      this.els.note.textContent =
        `${data.n.toLocaleString()} samples (seed ${data.seed}, ${computed}; drawn in ${(ms / 1000).toFixed(1)} s). ` +
        `PCA of ${data.dims === data.latent_dim ? "the" : `the top ${data.dims} of ${data.latent_dim}`} latents: the plane holds ${ratio} of their variance. ` +
        "Click a point to load that sample.";
      this.els.panel.dataset.points = String(data.n);
    } catch (error) {
      if (generation === this.generation) {
        this.els.note.textContent = "";
        this.onError(error, "population");
      }
    } finally {
      this.loading = false;
      this.els.button.disabled = false;
    }
  }

  _clear() {
    for (const el of [this.els.scatter, this.els.hists]) {
      if (plotAvailable()) window.Plotly.purge(el);
      el.replaceChildren();
    }
    delete this.els.panel.dataset.points;
  }

  _render() {
    if (!this.data || !plotAvailable()) return;
    this._renderScatter();
    this._renderHistograms();
  }

  _colorFactor() {
    const k = Number(this.els.color.value) || 0;
    return { k, name: this.data.factor_names[k] };
  }

  _renderScatter() {
    const { data, model } = this;
    const { k, name } = this._colorFactor();
    const hover = data.indices.map((index, i) =>
      `sample ${index}<br>` + data.factor_names.map((f) => `${f} ${fmt.sig(data.factor_values[f][i])}`).join("<br>"),
    );
    const traces = [
      {
        type: "scattergl",
        mode: "markers",
        x: data.pca.x,
        y: data.pca.y,
        customdata: data.indices,
        text: hover,
        hovertemplate: "%{text}<extra></extra>",
        marker: {
          size: 4,
          opacity: 0.75,
          color: data.factors.map((f) => f[k]),
          colorscale: "Viridis",
          colorbar: { title: { text: name, side: "right" }, thickness: 10, len: 0.9 },
        },
        name: "samples",
        showlegend: false,
      },
    ];
    if (this.yours.length) {
      const points = this.yours.map((item) => this._project(item.latent));
      traces.push({
        type: "scatter", mode: "markers", name: "yours", showlegend: false,
        x: points.map((p) => p[0]), y: points.map((p) => p[1]), text: this.yours.map((item) => `yours: ${item.name}`),
        hovertemplate: "%{text}<extra></extra>", marker: { symbol: "diamond", size: 10, color: "#f0a35e", line: { color: "#ffffff", width: 1 } },
      });
    }
    if (this.marker) {
      const [px, py] = this._project(this.marker.latent);
      traces.push({
        type: "scatter",
        mode: "markers",
        x: [px],
        y: [py],
        marker: { symbol: "star", size: 16, color: "#ffffff", line: { color: "#f0a35e", width: 2 } },
        hovertemplate: `${this.marker.caption}<extra></extra>`,
        name: this.marker.caption,
        showlegend: false,
      });
    }
    const layout = {
      ...LAYOUT,
      height: 340,
      margin: { l: 40, r: 10, t: 10, b: 36 },
      xaxis: axis({ title: { text: "PC 1" } }),
      yaxis: axis({ title: { text: "PC 2" } }),
      hovermode: "closest",
      uirevision: `${model.id}:${data.n}`,
    };
    window.Plotly.react(this.els.scatter, traces, layout, CONFIG);
    if (!this.els.scatter.dataset.wired) {
      this.els.scatter.dataset.wired = "1";
      this.els.scatter.on("plotly_click", (event) => {
        const point = event.points?.find((p) => p.customdata != null);
        if (point) this.onPick(Number(point.customdata), `sample ${point.customdata}`);
      });
    }
  }

  _renderHistograms() {
    const { data, model } = this;
    const { k, name } = this._colorFactor();
    const size = model.factor_sizes?.[k] ?? Math.max(...data.factors.map((f) => f[k])) + 1;
    const levelValue = new Map();
    data.factors.forEach((f, i) => levelValue.set(f[k], fmt.sig(data.factor_values[name][i])));
    const groups = factorGroups(size, levelValue);
    const dims = Math.min(data.dims, HIST_DIMS);
    const columns = 4;
    const rows = Math.ceil(dims / columns);
    const names = model.dim_names ?? [];
    const traces = [];
    const layout = { ...LAYOUT, height: 120 * rows + 50, margin: { l: 30, r: 10, t: 50, b: 20 }, barmode: "stack", showlegend: true,
      legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom", title: { text: `${name}: ` } }, annotations: [] };
    const h = 1 / rows;
    for (let d = 0; d < dims; d++) {
      const axis = d === 0 ? "" : String(d + 1);
      const row = Math.floor(d / columns);
      const col = d % columns;
      const gap = 0.04;
      layout[`xaxis${axis}`] = { domain: [col / columns + gap / 2, (col + 1) / columns - gap / 2], anchor: `y${axis}`, showgrid: false, tickfont: { size: 9 } };
      layout[`yaxis${axis}`] = { domain: [1 - (row + 1) * h + 0.22 * h, 1 - row * h - 0.14 * h], anchor: `x${axis}`, showticklabels: false, showgrid: false };
      const label = names[d] ? `z${d} · ${names[d].factor}` : `z${d}`;
      layout.annotations.push({ text: label, x: (col + 0.5) / columns, y: 1 - row * h - 0.13 * h, xref: "paper", yref: "paper", showarrow: false, font: { size: 10 }, yanchor: "bottom" });
      // one set of bins per dim, shared by its groups (the bars stack)
      let [lo, hi] = [Infinity, -Infinity];
      for (const z of data.latents) [lo, hi] = [Math.min(lo, z[d]), Math.max(hi, z[d])];
      const width = hi > lo ? (hi - lo) / 24 : 1;
      groups.forEach((group, g) => {
        traces.push({
          type: "histogram",
          x: data.latents.filter((_, i) => group.levels.has(data.factors[i][k])).map((z) => z[d]),
          xaxis: `x${axis}`,
          yaxis: `y${axis}`,
          xbins: { start: lo - width / 2, end: hi + width / 2, size: width },
          name: group.label,
          legendgroup: group.label,
          showlegend: d === 0,
          marker: { color: PALETTE[g % MAX_GROUPS] },
          hovertemplate: `z${d} %{x}<br>${name} ${group.label}: %{y} samples<extra></extra>`,
        });
      });
    }
    window.Plotly.react(this.els.hists, traces, layout, CONFIG);
  }
}
