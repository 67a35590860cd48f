// The seeded zoo beside a model's metrics (GET /api/zoo): for the model's dataset, one score of
// every variant as its mean with the 95 % t-interval over seeds, each seed's value, the
// shuffled-rows null it must beat (a dashed tick per variant) and the ceiling of perfect latents
// (a line); below, each claim with its Welch test and its equivalence test (TOST), Holm-adjusted,
// and the verdicts, and which variants clear their own null; and the training curves of one
// variant's seeds overlaid (GET /api/zoo/curves, lib/curve-overlay.js).

import { request } from "../lib/api.js";
import { CurveOverlay } from "../lib/curve-overlay.js";
import { fmt } from "../lib/format.js";
import { CONFIG, GRID, THEME, plotAvailable } from "../lib/plot.js";
import { LABELS } from "./metrics.js";

const label = (metric) => (metric === "psnr_db" ? "PSNR dB" : LABELS[metric] ?? metric);

export class ZooPanel {
  /** @param {object} els {section, metric, note, plot, claims, curves} */
  constructor(els) {
    this.els = els;
    this.overlay = new CurveOverlay(els.curves, "zoo-curves", { groupLabel: "variant" });
    this.curves = new Map(); // dataset -> its members' curves (a promise)
    this.table = undefined; // undefined: not asked yet; null: no zoo on this server
    this.dataset = null;
    els.metric.addEventListener("change", () => this._render());
  }

  async show(model) {
    this.dataset = model.dataset;
    if (this.table === undefined) {
      try {
        const table = await request("/api/zoo");
        this.table = table.available ? table : null;
      } catch {
        this.table = null;
      }
    }
    const data = this.table?.datasets?.[this.dataset];
    this.els.section.hidden = !data || !Object.keys(data.variants ?? {}).length;
    if (this.els.section.hidden) return;
    const metrics = [...new Set(Object.values(data.variants).flatMap((v) => Object.keys(v.scores)))];
    const previous = this.els.metric.value;
    this.els.metric.replaceChildren(...metrics.map((m) => new Option(label(m), m)));
    this.els.metric.value = metrics.includes(previous) ? previous : metrics.includes("infomec.infom") ? "infomec.infom" : metrics[0];
    const budget = this.table.budget ?? {};
    const share = typeof budget.fraction_of_paper === "number" ? ` (${(100 * budget.fraction_of_paper).toPrecision(2)} % of the paper's samples)` : "";
    this.els.note.textContent =
      `${Object.keys(data.variants).length} variants x seeds, ${budget.steps?.toLocaleString()} steps x ${budget.batch_size} each${share}. ` +
      `${this.table.estimator}. Bars: mean and 95 % interval over seeds; dots: each seed; dashed: the shuffled-rows null; line: the ceiling of perfect latents.`;
    this._render();
    this._showCurves(model);
  }

  async _showCurves(model) {
    const dataset = this.dataset;
    if (!this.curves.has(dataset)) {
      const asked = request(`/api/zoo/curves?dataset=${encodeURIComponent(dataset)}`);
      asked.catch(() => this.curves.delete(dataset));
      this.curves.set(dataset, asked);
    }
    try {
      const data = await this.curves.get(dataset);
      if (dataset !== this.dataset) return;
      this.overlay.show(data, data.groups.find((g) => g.split("-")[0] === model.kind) ?? null);
    } catch {
      this.overlay.show(null);
    }
  }

  _render() {
    const data = this.table?.datasets?.[this.dataset];
    if (!data || !plotAvailable()) return;
    const metric = this.els.metric.value;
    const names = Object.keys(data.variants).filter((v) => data.variants[v].scores[metric]);
    const stats = names.map((v) => data.variants[v].scores[metric]);
    const traces = [
      {
        type: "scatter", mode: "markers", x: names, y: stats.map((s) => s.mean), name: "mean, 95 % interval",
        marker: { size: 9, color: "#5fa8ff", symbol: "diamond" },
        error_y: { type: "data", symmetric: false, array: stats.map((s) => (s.ci95?.[1] ?? s.mean) - s.mean),
                   arrayminus: stats.map((s) => s.mean - (s.ci95?.[0] ?? s.mean)), color: "#5fa8ff", thickness: 1.5, width: 6 },
        hovertemplate: "%{x}: %{y:.3f}<extra>mean</extra>",
      },
      {
        type: "scatter", mode: "markers", name: "seeds",
        x: names.flatMap((v, i) => stats[i].values.map(() => v)), y: stats.flatMap((s) => s.values),
        marker: { size: 5, color: "rgba(240,163,94,0.8)" }, hovertemplate: "%{x}: %{y:.3f}<extra>one seed</extra>",
      },
      {
        type: "scatter", mode: "markers", name: "shuffled-rows null",
        x: names, y: names.map((v) => data.variants[v].null_mean?.[metric] ?? null),
        marker: { symbol: "line-ew", size: 22, line: { width: 2, color: "#e06c9f" } }, hovertemplate: "%{x}: null %{y:.3f}<extra></extra>",
      },
    ];
    const ceiling = data.ceiling?.[metric];
    const layout = {
      ...THEME, height: 300,
      margin: { l: 44, r: 10, t: 10, b: 70 }, showlegend: true, legend: { orientation: "h", y: -0.35 },
      xaxis: { tickangle: -30, gridcolor: GRID }, yaxis: { title: { text: label(metric) }, gridcolor: GRID },
      shapes: typeof ceiling === "number" ? [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: ceiling, y1: ceiling, line: { color: "#7bd88f", width: 1.5 } }] : [],
      annotations: typeof ceiling === "number" ? [{ xref: "paper", x: 1, y: ceiling, text: `ceiling ${fmt.score(ceiling)}`, showarrow: false, xanchor: "right", yanchor: "bottom", font: { size: 10, color: "#7bd88f" } }] : [],
    };
    window.Plotly.react(this.els.plot, traces, layout, CONFIG);
    const here = (t) => t.dataset === this.dataset && t.metric === metric;
    const claims = (this.table.claims ?? []).filter(here);
    const equivalences = (this.table.equivalence_tests ?? []).filter(here);
    const items = claims.map((c) => {
      const item = document.createElement("li");
      item.className = `claim ${c.verdict?.replace(/\s+/g, "-")}`;
      const e = equivalences.find((t) => t.better === c.better && t.than === c.than);
      const tost = e && !e.missing
        ? `; within ±${e.bound}: TOST p ${fmt.score(e.p)}, Holm ${fmt.score(e.p_holm)}: ${e.verdict}${needsT(e)}` : "";
      item.textContent = `${c.better} > ${c.than} on ${label(c.metric)}: difference ${fmt.score(c.diff)} [${fmt.score(c.ci95?.[0])}, ${fmt.score(c.ci95?.[1])}], ` +
        `Welch p ${fmt.score(c.p)}, Holm ${fmt.score(c.p_holm)}: ${c.verdict}${needsT(c)}${tost}${c.source ? ` (claimed by ${c.source})` : ""}`;
      return item;
    });
    const nulls = (this.table.null_tests ?? []).filter((t) => here(t) && !t.missing);
    if (nulls.length) {
      const item = document.createElement("li");
      item.className = "claim nulls";
      const clears = nulls.filter((t) => t.verdict === "clears its null").map((t) => `${t.variant}${needsT(t)}`);
      item.textContent = `Clears its own null (one-sided paired test over seeds, Holm): ${clears.join(", ") || "none"}` +
        ` of ${nulls.length} variants.`;
      items.push(item);
    }
    this.els.claims.replaceChildren(...items);
  }
}

/** " (needs t)" when only the t-test, not the exact rank test, establishes a verdict. */
function needsT(test) {
  return test.needs_t ? " (needs t)" : "";
}
