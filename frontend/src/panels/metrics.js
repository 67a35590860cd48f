// The disentanglement-metrics panel: the scores of the model's card as bars, the
// factor x latent NMI (InfoMEC) and DCI importance heatmaps, a "Compute metrics" button
// that runs the server's metrics job and follows its progress, and a table comparing
// every served model that has metrics. Clicking a heatmap column picks that latent.

import { api, request } from "../lib/api.js";
import { fmt } from "../lib/format.js";
import { CONFIG, GRID, THEME as LAYOUT, plotAvailable } from "../lib/plot.js";
import { keyboardCells } from "../lib/plot-keys.js";

const POLL_MS = 500;

/** 75 -> "1 min 15 s", 12 -> "12 s". */
function formatSeconds(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

/** The metric catalogue (GET /api/metric-catalogue; a static site ships the same JSON at that
 * path beside its page): every score's key, label, group and description, declared once on the
 * server. Without it the page still works, with no scores to show. */
async function loadCatalogue() {
  try {
    return await request("api/metric-catalogue");
  } catch (error) {
    console.warn(`the metric catalogue is unavailable: ${error.message}`);
    return { groups: [], metrics: [] };
  }
}
export const CATALOGUE = await loadCatalogue();

/** The number under a flat dotted key ("dci.disentanglement") of a card's values, or undefined. */
export function scoreValue(values, key) {
  const value = key.split(".").reduce((node, part) => node?.[part], values);
  return typeof value === "number" ? value : undefined;
}

/** Flat score key -> label, for every score of the catalogue. */
export const LABELS = Object.fromEntries(CATALOGUE.metrics.flatMap((m) => m.scores.map((s) => [s.key, s.label])));

/** [label, value getter, group, description, key] of every shown score, in the catalogue's order:
 * what the bars and the comparison show; the key also names the card's null and ceiling
 * (`metrics.baselines`) where it has them. An estimate (`stands_in_for`, e.g. the fast DCI) is
 * shown only where the metric it estimates is missing, so it is never shown as that metric. */
export const SCORES = CATALOGUE.metrics.flatMap((metric) =>
  metric.scores
    .filter((score) => score.shown)
    .map((score) => [
      score.label,
      (v) => (metric.stands_in_for && v?.[metric.stands_in_for] ? undefined : scoreValue(v, score.key)),
      metric.group,
      score.description,
      score.key,
    ]),
);
const PALETTE = ["#5fa8ff", "#7bd88f", "#f0a35e", "#b39df3", "#e8c468", "#6fd3d0"];
const FAMILY_COLORS = Object.fromEntries(CATALOGUE.groups.map((group, i) => [group.name, PALETTE[i % PALETTE.length]]));


/** The metrics of a model's card, or null when there are none (or they do not fit it). A
 * model with ordered latents (a flow) is scored on its top latents: a prefix of its latent. */
export function modelMetrics(model) {
  const m = model?.metrics;
  const fits = m?.latent_dim === model?.latent_dim || (model?.capabilities?.ordered && m?.latent_dim <= model.latent_dim);
  return m && m.values && m.matrices && fits ? m : null;
}

function clear(el, text = "") {
  if (plotAvailable()) window.Plotly.purge(el);
  el.replaceChildren();
  if (text) el.append(Object.assign(document.createElement("p"), { className: "muted", textContent: text }));
}


export class MetricsPanel {
  /**
   * @param {object} els  {bars, nmi, dci, compare, button, progress, status}
   * @param {object} hooks  {onPickDim(dim), onComputed(modelId, metrics), onError(error)}
   */
  constructor(els, hooks) {
    this.els = els;
    this.hooks = hooks;
    this.model = null;
    this.models = [];
    this.jobs = new Map(); // model id -> {job_id, progress, stage, started} of a job this page follows
    els.button.addEventListener("click", () => this.compute());
    els.cancel.addEventListener("click", () => this.cancel());
    this.heatmaps = new Map(); // heatmap element -> what it shows now (for the keyboard)
    for (const el of [els.nmi, els.dci]) {
      el.keyboard = keyboardCells(el, {
        size: () => {
          const shown = this.heatmaps.get(el);
          return shown ? [shown.factorNames.length, shown.matrix[0]?.length ?? 0] : [0, 0];
        },
        describe: (row, col) => {
          const { matrix, factorNames, active, unit } = this.heatmaps.get(el);
          return `z${col}${active[col] === false ? " (inactive)" : ""} · ${factorNames[row]}: ${unit} ${fmt.score(matrix[row][col])}`;
        },
        pick: (_, col) => this.hooks.onPickDim(col),
      });
    }
  }

  /** Show `model`'s metrics, and the comparison of `models` (ModelInfo list). */
  show(model, models) {
    this.model = model;
    this.models = models;
    this.renderCompare();
    this._render(modelMetrics(model));
    this._progress();
  }

  _render(m) {
    this.els.button.textContent = m ? "Recompute" : "Compute metrics";
    if (!m) {
      this.els.status.textContent = "No metrics yet: compute them (a few minutes on a CPU), or run `latentatlas evaluate`.";
      for (const el of [this.els.bars, this.els.nmi, this.els.dci]) clear(el);
      return;
    }
    const votes = m.votes ?? {};
    this.els.status.textContent =
      `${m.samples.toLocaleString()} samples (seed ${m.seed}), FactorVAE/BetaVAE ${votes.train?.toLocaleString()} + ` +
      `${votes.eval?.toLocaleString()} votes of ${votes.batch_size}; ` +
      `${Math.round(m.seconds?.total ?? 0)} s on ${m.device}, ${m.created?.slice(0, 10) ?? ""}. Click a column to pick its latent.`;
    if (!plotAvailable()) {
      clear(this.els.bars, "Plotly is not available (run `npm install` in frontend/).");
      return;
    }
    this.renderBars(m);
    const active = m.matrices.infomec_active ?? [];
    const nmiTitle = `NMI I(factor; z) / H(factor)${m.infomec_latents === "codes" ? " · codes" : ""}`;
    this.renderHeatmap(this.els.nmi, m.matrices.infomec_nmi, m.factor_names, active, nmiTitle, "NMI");
    const importance = m.matrices.dci_importance; // latents x factors: shown factors x latents
    const byFactor = m.factor_names.map((_, k) => importance.map((row) => row[k]));
    const dciTitle = m.values.dci ? "DCI importance (exact gradient boosting)" : "DCI-est importance (fast boosting: an estimate, not DCI)";
    this.renderHeatmap(this.els.dci, byFactor, m.factor_names, active, dciTitle, "importance");
  }

  /** The scores as bars, with a tick for each one's shuffled-rows null and its ceiling where
   * the card has them (`metrics.baselines`). */
  renderBars(m) {
    const rows = SCORES.map(([label, get, family, about, key]) => ({ label, value: get(m.values), family, about, key }))
      .filter((r) => typeof r.value === "number");
    const baseline = (kind) => rows.map((r) => m.baselines?.[kind]?.[r.key] ?? null);
    const trace = {
      type: "bar",
      name: "score",
      showlegend: false,
      orientation: "h",
      y: rows.map((r) => r.label),
      x: rows.map((r) => r.value),
      text: rows.map((r) => r.value.toFixed(2)),
      textposition: "outside",
      cliponaxis: false,
      marker: { color: rows.map((r) => FAMILY_COLORS[r.family]) },
      customdata: rows.map((r) => r.about),
      hovertemplate: "%{y}: %{x:.3f}<br>%{customdata}<extra></extra>",
    };
    const tick = (kind, name, color) => ({
      type: "scatter", mode: "markers", name, y: rows.map((r) => r.label), x: baseline(kind),
      marker: { symbol: "line-ns", size: 14, line: { width: 2.5, color } },
      hovertemplate: `%{y}: ${name} %{x:.3f}<extra></extra>`,
    });
    const traces = [trace];
    if (m.baselines) traces.push(tick("null_mean", "shuffled-rows null", "#e06c9f"), tick("ceiling", "ceiling (perfect latents)", "#e8e8e8"));
    const layout = {
      ...LAYOUT,
      height: 30 + 19 * rows.length,
      margin: { l: 96, r: 36, t: 6, b: 22 },
      xaxis: { range: [0, 1.05], gridcolor: GRID, zerolinecolor: GRID, fixedrange: true },
      yaxis: { autorange: "reversed", fixedrange: true },
      bargap: 0.25,
      showlegend: Boolean(m.baselines),
      legend: { orientation: "h", y: -0.02, yanchor: "top", x: 0, font: { size: 10 } },
    };
    if (m.baselines) {
      layout.height += 22;
      layout.margin = { ...layout.margin, b: 44 };
    }
    window.Plotly.react(this.els.bars, traces, layout, CONFIG);
  }

  /** A factors x latents heatmap on a fixed 0-1 colour scale (so models compare by colour),
   *  its colour bar titled `unit`; inactive latents are shaded and marked ∅. */
  renderHeatmap(el, matrix, factorNames, active, title, unit) {
    this.heatmaps.set(el, { matrix, factorNames, active, unit });
    el.keyboard?.reset();
    const dims = matrix[0]?.length ?? 0;
    const columns = Array.from({ length: dims }, (_, d) => d);
    const inactive = columns.filter((d) => active[d] === false);
    const trace = {
      type: "heatmap",
      z: matrix,
      x: columns,
      y: factorNames,
      zmin: 0,
      zmax: 1,
      colorscale: "Viridis",
      colorbar: { thickness: 10, len: 0.9, outlinewidth: 0, title: { text: unit, side: "right", font: { size: 10 } } },
      customdata: matrix.map((row) => row.map((_, d) => (active[d] === false ? " (inactive)" : ""))),
      hovertemplate: "%{x}%{customdata} · %{y}: %{z:.3f}<br>click (or Enter) to pick this latent<extra></extra>",
      xgap: 1,
      ygap: 1,
    };
    const layout = {
      ...LAYOUT,
      title: { text: title, font: { size: 12 }, x: 0, xanchor: "left", y: 0.98 },
      height: 74 + 22 * factorNames.length,
      margin: { l: 92, r: 8, t: 26, b: 30 },
      xaxis: {
        tickvals: columns,
        ticktext: columns.map((d) => (active[d] === false ? `z${d}∅` : `z${d}`)),
        fixedrange: true,
      },
      yaxis: { autorange: "reversed", fixedrange: true },
      shapes: inactive.map((d) => ({
        type: "rect", xref: "x", yref: "paper", x0: d - 0.5, x1: d + 0.5, y0: 0, y1: 1,
        fillcolor: "rgba(15,17,20,0.7)", line: { width: 0 },
      })),
      hovermode: "closest",
    };
    window.Plotly.react(el, [trace], layout, CONFIG);
    el.removeAllListeners?.("plotly_click");
    el.on("plotly_click", (event) => {
      const dim = Number(event.points?.[0]?.x);
      if (Number.isInteger(dim)) this.hooks.onPickDim(dim);
    });
  }

  /** Scores and held-out PSNR (rows) x the served models with metrics on the shown model's
   * dataset (columns: scores on different data do not compare); the best of each row in bold. */
  renderCompare() {
    const table = this.els.compare;
    table.replaceChildren();
    const dataset = this.model?.dataset;
    const models = (this.models ?? []).filter((m) => modelMetrics(m) && (!dataset || m.dataset === dataset));
    if (!models.length) {
      table.append(Object.assign(document.createElement("caption"), { className: "muted", textContent: `No served model on ${dataset ?? "this dataset"} has metrics yet.` }));
      return;
    }
    const head = table.createTHead().insertRow();
    head.append(Object.assign(document.createElement("th"), { textContent: "score", scope: "col" }));
    for (const m of models) {
      const scored = modelMetrics(m).latent_dim;
      const th = Object.assign(document.createElement("th"), { textContent: m.capabilities?.ordered ? `${m.id} (top ${scored})` : m.id, scope: "col" });
      th.title = `${m.kind.toUpperCase()}, ${m.dataset}, ${m.latent_dim} latents, ${modelMetrics(m).samples.toLocaleString()} samples` +
        (m.capabilities?.ordered ? `; its metrics score only its top ${scored} ordered latents` : "");
      if (m.id === this.model?.id) th.className = "current";
      head.append(th);
    }
    const body = table.createTBody();
    const psnr = ["PSNR dB", null, null, "held-out reconstruction PSNR (1,000 images)"];
    for (const [label, get, , about] of [...SCORES, psnr]) {
      const values = models.map((m) => (get ? get(modelMetrics(m).values) : m.heldout?.psnr_db));
      if (values.every((v) => typeof v !== "number")) continue;
      // An exactly invertible model (a flow) reconstructs perfectly by construction: never "best".
      const ranked = values.filter((v, i) => typeof v === "number" && (get || !models[i].capabilities?.likelihood));
      const best = ranked.length ? Math.max(...ranked) : null;
      const row = body.insertRow();
      row.append(Object.assign(document.createElement("th"), { textContent: label, scope: "row", title: about }));
      values.forEach((v) => {
        const cell = row.insertCell();
        cell.textContent = fmt.score(v);
        if (models.length > 1 && v === best) cell.className = "best";
      });
    }
  }

  /** The job's size from the panel's inputs (the server checks the ranges). */
  _request() {
    const number = (el) => Number.parseInt(el.value, 10);
    return { samples: number(this.els.samples), train_votes: number(this.els.trainVotes), eval_votes: number(this.els.evalVotes) };
  }

  /** Start (or join) the server's metrics job for the shown model and follow it. */
  async compute() {
    const model = this.model;
    if (!model || this.jobs.has(model.id)) return;
    const started = performance.now();
    this.jobs.set(model.id, { progress: 0, stage: "starting", started });
    this._progress();
    try {
      const { job_id: jobId } = await api.startMetrics(model.id, this._request());
      for (;;) {
        const last = this.jobs.get(model.id);
        const reply = await api.job(jobId);
        const moved = !last || reply.progress !== last.progress;
        const job = { ...reply, started, movedAt: moved ? performance.now() : last.movedAt };
        this.jobs.set(model.id, job);
        if (this.model?.id === model.id) this._progress();
        if (job.status === "done") {
          this.jobs.delete(model.id);
          this.hooks.onComputed(model.id, job.result);
          return;
        }
        if (job.status === "cancelled") {
          this.jobs.delete(model.id);
          if (this.model?.id === model.id) {
            this._progress();
            this.els.status.textContent = "Cancelled: nothing was written.";
          }
          return;
        }
        if (job.status === "failed") throw new Error(job.error || "the metrics job failed");
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } catch (error) {
      this.jobs.delete(model.id);
      if (this.model?.id === model.id) this._progress();
      this.hooks.onError(error, `metrics of ${model.id}`);
    }
  }

  /** Stop the shown model's job (the server stops it at its next progress report). */
  async cancel() {
    const job = this.model ? this.jobs.get(this.model.id) : null;
    if (!job?.job_id) return;
    try {
      await api.cancelJob(job.job_id);
    } catch (error) {
      this.hooks.onError(error, "cancelling the metrics job");
    }
  }

  _progress() {
    const job = this.model ? this.jobs.get(this.model.id) : null;
    const { progress, button, cancel } = this.els;
    progress.hidden = !job;
    button.disabled = Boolean(job);
    cancel.hidden = !job?.job_id;
    if (job) {
      const fraction = job.progress ?? 0;
      progress.value = fraction;
      progress.textContent = `${Math.round(100 * fraction)}%`;
      // The rate is measured when the progress last moved: while a long stage (exact DCI's fits) reports
      // nothing, the estimate counts down instead of climbing with the time spent.
      const now = performance.now();
      const movedAt = job.movedAt ?? now;
      const atMove = ((movedAt - job.started) / 1000) * ((1 - fraction) / fraction);
      const left = Math.max(0, atMove - (now - movedAt) / 1000);
      const remaining = left > 0 ? ` · about ${formatSeconds(left)} left` : " · finishing this stage";
      const eta = fraction > 0.02 ? remaining : "";
      this.els.status.textContent = `Computing: ${job.stage ?? ""} (${Math.round(100 * fraction)}%${eta})`;
    }
  }
}
