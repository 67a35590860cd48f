// The population view: N (up to 100,000) seeded dataset samples encoded by the server once (GET
// /api/models/{id}/population in its binary form, cached there), drawn as a WebGL scatter in the
// latents' principal plane (the server's PCA), or in the server's UMAP or t-SNE layout of them (a
// job, cached there), coloured by any generative factor, with one histogram per latent dim split
// by that factor's values. Clicking a point loads that sample into the
// explorer; a box or lasso selection shows the selected samples' images; the current encoded image
// is the marked point and a batch upload's images are the "yours" points (both placed with the
// server's PCA basis).

import { api, modelPath, request } from "../lib/api.js";
import { unpackArrays } from "../lib/array-pack.js";
import { fmt } from "../lib/format.js";
import { CONFIG, PALETTE, THEME as LAYOUT, axis, plotAvailable } from "../lib/plot.js";
import { SelectionGrid, nearestRows } from "./population-selection.js";

const MAX_GROUPS = 6;
const HIST_DIMS = 16;
const HIST_BINS = 24;
const POPULATION_TYPE = "application/vnd.latentatlas.population";
const PROGRESS_MS = 1000;
const NEIGHBOURS = 8;
const LAYOUT_POLL_MS = 500;
const LAYOUT_NAMES = { pca: "PC", umap: "UMAP", tsne: "t-SNE" };

/** A factor's levels in at most MAX_GROUPS groups of consecutive levels: {groups: [{label}], groupOf: level -> group}. */
function factorGroups(levels) {
  const per = Math.ceil(levels.length / MAX_GROUPS);
  const groups = [];
  const groupOf = new Int32Array(levels.length);
  for (let start = 0; start < levels.length; start += per) {
    const end = Math.min(levels.length, start + per) - 1;
    const [lo, hi] = [fmt.sig(levels[start]), fmt.sig(levels[end])];
    groupOf.fill(groups.length, start, end + 1);
    groups.push({ label: start === end ? `${lo}` : `${lo} – ${hi}` });
  }
  return { groups, groupOf };
}

/** The binary reply as the panel's data: the header, flat typed arrays and the plane's x and y. */
function populationData(buffer) {
  const { header, arrays } = unpackArrays(buffer);
  const { n } = header;
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) [x[i], y[i]] = [arrays.plane[2 * i], arrays.plane[2 * i + 1]];
  return { ...header, indices: arrays.indices, factors: arrays.factors, latents: arrays.latents, x, y, plane: { x, y } };
}


export class PopulationPanel {
  /**
   * @param {object} els {panel, n, layout, color, drag, button, note, scatter, hists, selection, selectionNote, grid}
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
    els.layout.addEventListener("change", () => this._applyLayout());
    els.drag.addEventListener("change", () => {
      if (this.data && plotAvailable()) window.Plotly.relayout(els.scatter, { dragmode: els.drag.value });
    });
    this.selection = new SelectionGrid({ box: els.selection, note: els.selectionNote, img: els.grid });
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
    const wait = n > 20000 ? "a minute or more" : "seconds";
    this.els.note.textContent = `Encoding ${n.toLocaleString()} samples on the server (the first time for this model and size: ${wait})…`;
    const started = performance.now();
    const polling = setInterval(() => this._showProgress(model, n, generation), PROGRESS_MS);
    try {
      const url = `${modelPath(model.id)}/population?n=${n}&seed=0`;
      const data = populationData(await request(url, { expect: "arraybuffer", accept: POPULATION_TYPE }));
      if (generation !== this.generation) return;
      this.data = data;
      this.selection.clear();
      this._render();
      const ms = performance.now() - started;
      const ratio = data.pca.explained_variance_ratio.map((r) => `${(100 * r).toFixed(1)} %`).join(" + ");
      const computed = data.cached ? "cached on the server" : `encoded in ${(data.seconds.render + data.seconds.encode).toFixed(1)} s`;
      this.els.note.textContent =
        `${data.n.toLocaleString()} samples (seed ${data.seed}, ${computed}; drawn in ${(ms / 1000).toFixed(1)} s). ` +
        `PCA of ${data.dims === data.latent_dim ? "the" : `the top ${data.dims} of ${data.latent_dim}`} latents: the plane holds ${ratio} of their variance. ` +
        "Click a point to load that sample and see its nearest; drag with box or lasso select (chosen above) to see the selected images.";
      this.els.panel.dataset.points = String(data.n);
      this.loading = false;
      if (this.els.layout.value !== "pca") await this._applyLayout();
    } catch (error) {
      if (generation === this.generation) {
        this.els.note.textContent = "";
        this.onError(error, "population");
      }
    } finally {
      clearInterval(polling);
      this.loading = false;
      this.els.button.disabled = false;
    }
  }

  /** Draw the population in the chosen layout: PCA's plane at once; UMAP or t-SNE as the
   * server's job (POST /population-layout, polled), cached there per model, n and seed. */
  async _applyLayout() {
    const { data, model } = this;
    const method = this.els.layout.value;
    if (!data || this.loading) return;
    if (method === "pca") {
      Object.assign(data, { x: data.plane.x, y: data.plane.y, layout: "pca" });
      this.els.panel.dataset.layout = "pca";
      return this._renderScatter();
    }
    const generation = this.generation;
    this.loading = true;
    this.els.button.disabled = true;
    this.els.layout.disabled = true;
    try {
      const body = { method, n: data.n, seed: data.seed };
      const started = await request(`${modelPath(model.id)}/population-layout`, { method: "POST", json: body });
      let job = await api.job(started.job_id);
      while (job.status === "queued" || job.status === "running") {
        if (generation !== this.generation) return;
        this.els.note.textContent = `${LAYOUT_NAMES[method]} layout of ${data.n.toLocaleString()} samples on the server: ${job.stage}…`;
        await new Promise((resolve) => setTimeout(resolve, LAYOUT_POLL_MS));
        job = await api.job(started.job_id);
      }
      if (generation !== this.generation || this.data !== data) return;
      if (job.status !== "done") throw new Error(`the ${LAYOUT_NAMES[method]} layout ${job.status}: ${job.error ?? job.stage}`);
      const layout = job.result;
      Object.assign(data, { x: Float32Array.from(layout.x), y: Float32Array.from(layout.y), layout: method });
      const params = Object.entries(layout.params).map(([key, value]) => `${key} ${value}`).join(", ");
      this.els.note.textContent =
        `${LAYOUT_NAMES[method]} of ${layout.n.toLocaleString()} samples (their ${layout.dims} latents standardised; ${params}; ` +
        `${layout.cached ? "cached on the server" : `${layout.seconds.toFixed(1)} s on the server`}). ` +
        "Distances between clusters mean little in this layout; the current image is placed in the PCA layout only.";
      this.els.panel.dataset.layout = method;
      this._renderScatter();
    } catch (error) {
      if (generation === this.generation) {
        this.els.layout.value = data.layout ?? "pca";
        this.onError(error, `${LAYOUT_NAMES[method]} layout`);
      }
    } finally {
      this.loading = false;
      this.els.button.disabled = false;
      this.els.layout.disabled = false;
    }
  }

  /** While the server encodes: how many of the `n` samples it has encoded (GET /population-progress). */
  async _showProgress(model, n, generation) {
    const progress = await request(`${modelPath(model.id)}/population-progress`).catch(() => null);
    if (!progress?.running || progress.n !== n || !this.loading || generation !== this.generation) return;
    const share = Math.floor((100 * progress.done) / n);
    this.els.note.textContent = `Encoding ${n.toLocaleString()} samples on the server: ${progress.done.toLocaleString()} done (${share} %, ${progress.elapsed_s.toFixed(0)} s)…`;
  }

  /** Point `row` and its NEIGHBOURS nearest points of the population (in its latents) as a grid of images. */
  _showNeighbours(row) {
    const { data } = this;
    const near = nearestRows(data.latents, data.dims, row, NEIGHBOURS);
    const index = data.indices[row];
    this.selection.show(this.model.id, [index, ...near.map((j) => data.indices[j])],
      `Sample ${index} (first) and its ${near.length} nearest of these ${data.n.toLocaleString()} (Euclidean in the latents shown).`);
  }

  _clear() {
    this.selection?.clear();
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

  /** Factor k's level of every sample (n). */
  _levels(k) {
    const { n, factors, factor_names: names } = this.data;
    const column = new Float32Array(n);
    for (let i = 0; i < n; i++) column[i] = factors[i * names.length + k];
    return column;
  }

  _renderScatter() {
    const { data, model } = this;
    const { k, name } = this._colorFactor();
    const names = data.factor_names;
    const value = (i, j) => fmt.sig(data.factor_levels[names[j]][data.factors[i * names.length + j]]);
    // built once per population: the marker moves with every new image, the 100,000 labels need not
    data.hover ??= Array.from(data.indices, (index, i) => `sample ${index}<br>` + names.map((f, j) => `${f} ${value(i, j)}`).join("<br>"));
    const large = data.n > 20000;
    const traces = [
      {
        type: "scattergl",
        mode: "markers",
        x: data.x,
        y: data.y,
        customdata: data.indices,
        text: data.hover,
        hovertemplate: "%{text}<extra></extra>",
        marker: {
          size: large ? 2 : 4,
          opacity: large ? 0.5 : 0.75,
          color: this._levels(k),
          colorscale: "Viridis",
          colorbar: { title: { text: name, side: "right" }, thickness: 10, len: 0.9 },
        },
        unselected: { marker: { opacity: 0.08 } },
        name: "samples",
        showlegend: false,
      },
    ];
    const planar = (data.layout ?? "pca") === "pca"; // the current image and uploads are placed by PCA's basis
    if (planar && this.yours.length) {
      const points = this.yours.map((item) => this._project(item.latent));
      traces.push({
        type: "scatter", mode: "markers", name: "yours", showlegend: false,
        x: points.map((p) => p[0]), y: points.map((p) => p[1]), text: this.yours.map((item) => `yours: ${item.name}`),
        hovertemplate: "%{text}<extra></extra>", marker: { symbol: "diamond", size: 10, color: "#f0a35e", line: { color: "#ffffff", width: 1 } },
      });
    }
    if (planar && this.marker) {
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
      xaxis: axis({ title: { text: `${LAYOUT_NAMES[data.layout ?? "pca"]} 1` } }),
      yaxis: axis({ title: { text: `${LAYOUT_NAMES[data.layout ?? "pca"]} 2` } }),
      hovermode: "closest",
      dragmode: this.els.drag.value,
      uirevision: `${model.id}:${data.n}:${data.layout ?? "pca"}`,
    };
    window.Plotly.react(this.els.scatter, traces, layout, CONFIG);
    if (!this.els.scatter.dataset.wired) {
      this.els.scatter.dataset.wired = "1";
      this.els.scatter.on("plotly_click", (event) => {
        const point = event.points?.find((p) => p.customdata != null);
        if (!point) return;
        this.onPick(Number(point.customdata), `sample ${point.customdata}`);
        this._showNeighbours(point.pointNumber);
      });
      this.els.scatter.on("plotly_selected", (event) => {
        const picked = (event?.points ?? []).filter((p) => p.curveNumber === 0);
        this.selection.show(this.model.id, picked.map((p) => this.data.indices[p.pointIndex]));
      });
      this.els.scatter.on("plotly_deselect", () => this.selection.clear());
    }
  }

  _renderHistograms() {
    const { data, model } = this;
    const { k, name } = this._colorFactor();
    const { groups, groupOf } = factorGroups(data.factor_levels[name]);
    const levels = this._levels(k);
    const dims = Math.min(data.dims, HIST_DIMS);
    const columns = 4;
    const rows = Math.ceil(dims / columns);
    const names = model.dim_names ?? [];
    const traces = [];
    const layout = { ...LAYOUT, height: 120 * rows + 50, margin: { l: 30, r: 10, t: 50, b: 20 }, barmode: "stack", bargap: 0, showlegend: true,
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
      // one set of bins per dim, shared by its groups (the bars stack), counted here: 100,000 points stay fast
      const z = (i) => data.latents[i * data.dims + d];
      let [lo, hi] = [Infinity, -Infinity];
      for (let i = 0; i < data.n; i++) [lo, hi] = [Math.min(lo, z(i)), Math.max(hi, z(i))];
      const width = hi > lo ? (hi - lo) / HIST_BINS : 1;
      const counts = groups.map(() => new Array(HIST_BINS).fill(0));
      for (let i = 0; i < data.n; i++) counts[groupOf[levels[i]]][Math.min(HIST_BINS - 1, Math.floor((z(i) - lo) / width))] += 1;
      const centres = Array.from({ length: HIST_BINS }, (_, b) => lo + (b + 0.5) * width);
      groups.forEach((group, g) => {
        traces.push({
          type: "bar",
          x: centres,
          y: counts[g],
          width,
          xaxis: `x${axis}`,
          yaxis: `y${axis}`,
          name: group.label,
          legendgroup: group.label,
          showlegend: d === 0,
          marker: { color: PALETTE[g % MAX_GROUPS] },
          hovertemplate: `z${d} %{x:.3g}<br>${name} ${group.label}: %{y} samples<extra></extra>`,
        });
      });
    }
    window.Plotly.react(this.els.hists, traces, layout, CONFIG);
  }
}
