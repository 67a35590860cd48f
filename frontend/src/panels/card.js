// A model's card (the explorer and the static site): a list of facts (what it is, what it was
// trained on, for how long and how well, from the server's model description) and its training
// curves, drawn with Plotly (the per-dimension KL curves apart, in kl-dims.js).

import { chooseScale, curveY, scaleControl, scaleNote, yAxis } from "../lib/curves.js";
import { PALETTE, THEME, axis, placeholder, plotAvailable, NO_PLOTLY } from "../lib/plot.js";
import { KL_DIM_PREFIX, KlDimsPlot } from "./kl-dims.js";

const SKIP = new Set(["step", "steps", "seconds", "time", "wall_seconds", "lr"]);

function fact(dl, term, value, title) {
  if (value == null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (title) dd.title = title;
  dl.append(dt, dd);
}

/** The main facts of `model` (ModelDetail) into `dl`; every other short card field into `extra` (optional). */
function renderCardFacts(model, dl, extra = null) {
  dl.replaceChildren();
  extra?.replaceChildren();
  const card = model.card ?? {};
  const heldout = model.heldout ?? card.heldout ?? {};
  const num = (v, digits = 2) => (typeof v === "number" ? v.toFixed(digits) : v);
  fact(dl, "Kind", model.kind?.toUpperCase());
  fact(dl, "Family", model.family);
  fact(dl, "Dataset", `${model.dataset}${model.dataset_size ? ` (${model.dataset_size.toLocaleString()} images)` : ""}`);
  fact(dl, "Images", `${model.image_size}×${model.image_size} × ${model.channels} ch`);
  const codebookSize = Array.isArray(model.codebooks) ? model.codebooks[0]?.length : null;
  fact(dl, "Latents", `${model.latent_dim}${codebookSize ? ` × ${codebookSize} codes` : " continuous"}`);
  if (model.factor_names?.length) {
    fact(dl, "Factors", model.factor_names.map((n, i) => `${n} (${model.factor_sizes?.[i] ?? "?"})`).join(", "));
  }
  fact(dl, "Steps", model.steps?.toLocaleString());
  if (heldout.psnr_db != null) fact(dl, "Held-out PSNR", `${num(heldout.psnr_db)} dB`, heldout.samples ? `${heldout.samples} held-out images` : "");
  if (heldout.iou != null) fact(dl, "Held-out IoU", num(heldout.iou, 3));
  if (card.wall_seconds != null) fact(dl, "Training time", `${(card.wall_seconds / 60).toFixed(1)} min${card.device ? ` on ${card.device}` : ""}`);
  if (!extra) return;
  const shown = new Set(["curves", "latent_stats", "heldout", "dataset", "id", "kind", "steps"]);
  for (const [key, value] of Object.entries(card)) {
    if (shown.has(key) || value == null) continue;
    if (typeof value === "object") {
      const text = JSON.stringify(value);
      if (text.length <= 200) fact(extra, key, text);
    } else {
      fact(extra, key, typeof value === "number" ? String(Number(value.toPrecision(6))) : String(value));
    }
  }
}

/** The card panel: facts, the other short card fields (when the page has room: `extra`, `more`)
 * and the training curves, on a y axis the reader picks (auto / log / linear). */
export class CardPanel {
  /** @param {object} els  {card (dl), lossPlot; optional: extra (dl), more (its disclosure)} */
  constructor(els) {
    this.els = els;
    this.model = null;
    const { wrap, select } = scaleControl("loss-scale", () => this.model && this.drawCurves());
    this.scale = select;
    this.note = Object.assign(document.createElement("p"), { id: "loss-note", className: "hint muted" });
    els.lossPlot.before(wrap);
    els.lossPlot.after(this.note);
    this.klDims = new KlDimsPlot(this.note);
  }

  show(model) {
    const { card, extra, more } = this.els;
    this.model = model;
    renderCardFacts(model, card, extra ?? null);
    if (more) more.hidden = !extra.children.length;
    this.drawCurves();
    this.klDims.show(model);
  }

  drawCurves() {
    const scale = renderLossPlot(this.els.lossPlot, this.model.curves, this.scale.value);
    this.note.textContent = scale ? scaleNote(scale) : "";
    this.els.lossPlot.setAttribute("aria-label", `Training loss curves (${scale?.type ?? "no"} scale)`);
  }
}

/** Draw `curves` ({step: [...], loss: [...], recon: [...], ...}) into `el` on a y axis of
 *  `requested` scale (lib/curves.js); returns the scale used, or null when nothing was drawn. */
function renderLossPlot(el, curves, requested) {
  if (!plotAvailable()) {
    placeholder(el, NO_PLOTLY);
    return null;
  }
  window.Plotly.purge(el);
  el.replaceChildren();
  const steps = Array.isArray(curves?.step) ? curves.step : null;
  const names = Object.keys(curves ?? {}).filter(
    (k) => !SKIP.has(k) && !k.startsWith(KL_DIM_PREFIX) && Array.isArray(curves[k]) && curves[k].some((v) => Number.isFinite(Number(v))),
  );
  if (!steps || !names.length) {
    placeholder(el, "This model's card has no training curves.");
    return null;
  }
  // loss and recon first, solid; the auxiliary terms after, dotted.
  names.sort((a, b) => rank(a) - rank(b));
  const values = names.flatMap((name) => curves[name]);
  const scale = chooseScale(values, requested);
  const traces = names.map((name, i) => ({
    x: steps,
    y: curveY(curves[name], scale.type),
    name,
    type: "scatter",
    mode: "lines",
    line: { width: rank(name) < 2 ? 2 : 1.2, dash: rank(name) < 2 ? "solid" : "dot", color: PALETTE[i % PALETTE.length] },
    hovertemplate: `${name} %{y:.4g}<br>step %{x}<extra></extra>`,
  }));
  const layout = {
    ...THEME,
    margin: { l: 52, r: 12, t: 28, b: 40 },
    xaxis: axis({ title: { text: "step" } }),
    yaxis: yAxis(scale.type, "loss", values),
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
    height: 260,
    hovermode: "x unified",
  };
  window.Plotly.newPlot(el, traces, layout, {
    displaylogo: false,
    responsive: true,
    showLink: false,
    showSendToCloud: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"],
  });
  return scale;
}

function rank(name) {
  if (name === "loss") return 0;
  if (name === "recon" || name === "reconstruction") return 1;
  return 2;
}
