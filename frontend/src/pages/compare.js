// Side by side: 2-4 models trained on the same dataset, the same input through each (its
// reconstruction and PSNR from the server, its latent, its traversal grid), their cards' metrics
// in one table and one training curve of each overlaid. The view lives in the link:
// #dataset=dsprites&models=a,b,c&src=ds:1234 (an upload cannot travel: `src=upload`).

import { api } from "../lib/api.js";
import { banner } from "../lib/banner.js";
import { $ } from "../lib/dom.js";
import { fmt } from "../lib/format.js";
import { chooseScale, curveY, scaleNote, yAxis } from "../lib/curves.js";
import { CONFIG, PALETTE, THEME, axis, placeholder, plotAvailable } from "../lib/plot.js";
import { datasetIndexOf, hashParams, replaceHash } from "../lib/urlstate.js";
import { sliderLimit } from "../panels/latent.js";
import { renderScoreTable } from "../panels/score-table.js";
import { installSkipLinks } from "../lib/skip-link.js";

installSkipLinks();

const el = {
  dataset: $("dataset-select"),
  models: $("compare-models"),
  file: $("compare-file"),
  sample: $("compare-sample"),
  source: $("compare-source"),
  columns: $("compare-columns"),
  curve: $("curve-select"),
  scale: $("compare-scale"),
  curveNote: $("compare-curve-note"),
  input: $("compare-input"),
  inputImg: $("compare-input-img"),
  curves: $("compare-curves"),
  metrics: $("compare-metrics"),
};
const { setStatus, showError, clearError, reportError } = banner;
const MAX_MODELS = 4;
const state = { all: [], picked: [], details: new Map(), source: null, generation: 0, busy: 0 };

window.__latentAtlas = {
  get picked() {
    return state.picked.slice();
  },
  get idle() {
    return state.busy === 0;
  },
};

function readHash() {
  const params = hashParams();
  return {
    dataset: params.get("dataset"),
    models: (params.get("models") ?? "").split(",").filter(Boolean),
    index: datasetIndexOf(params.get("src")),
    upload: params.get("src") === "upload",
  };
}

function writeHash() {
  const parts = [`dataset=${encodeURIComponent(el.dataset.value)}`];
  if (state.picked.length) parts.push(`models=${state.picked.map(encodeURIComponent).join(",")}`);
  if (state.source?.type === "sample") parts.push(`src=ds:${state.source.index}`);
  else if (state.source?.type === "file") parts.push("src=upload");
  replaceHash(parts);
}

async function tracked(promise) {
  state.busy += 1;
  try {
    return await promise;
  } finally {
    state.busy -= 1;
  }
}

function detail(id) {
  if (!state.details.has(id)) state.details.set(id, tracked(api.getModel(id)));
  return state.details.get(id);
}

// ---------------------------------------------------------------- picking

function showDataset(name, wanted = []) {
  const models = state.all.filter((m) => m.dataset === name && !m.ensemble && m.capabilities.encode && m.capabilities.decode);
  el.models.querySelectorAll("label").forEach((l) => l.remove());
  const chosen = wanted.filter((id) => models.some((m) => m.id === id)).slice(0, MAX_MODELS);
  state.picked = chosen.length >= 2 ? chosen : defaultPicks(models);
  for (const m of models) {
    const box = Object.assign(document.createElement("input"), { type: "checkbox", value: m.id, checked: state.picked.includes(m.id) });
    box.addEventListener("change", () => pick(m.id, box));
    const label = document.createElement("label");
    label.className = "check";
    label.append(box, ` ${m.id} (${m.kind.toUpperCase()}, ${m.latent_dim}d)`);
    el.models.append(label);
  }
}

/** Three models worth comparing: one per family (kind), those with card metrics first, then the
 *  rest, so the first view contrasts approaches rather than the alphabet's neighbours. */
export function defaultPicks(models, count = 3) {
  const ranked = [...models].sort((a, b) => Number(!a.metrics) - Number(!b.metrics));
  const perKind = [...new Map(ranked.map((m) => [m.kind, m])).values()];
  const rest = ranked.filter((m) => !perKind.includes(m));
  return [...perKind, ...rest].slice(0, Math.min(count, models.length)).map((m) => m.id);
}

function pick(id, box) {
  if (box.checked && state.picked.length >= MAX_MODELS) {
    box.checked = false;
    showError(`at most ${MAX_MODELS} models side by side`);
    return;
  }
  state.picked = box.checked ? [...state.picked, id] : state.picked.filter((p) => p !== id);
  clearError();
  render();
}

// ---------------------------------------------------------------- the input through each model

async function encodeWith(id) {
  const { source } = state;
  return source.type === "file" ? api.encodeFile(id, source.file) : api.encodeIndex(id, source.index);
}

function column(model, reply, grid, color) {
  const col = document.createElement("section");
  col.className = "panel compare-column";
  col.dataset.model = model.id;
  col.style.borderTopColor = color;
  const title = document.createElement("h2");
  title.textContent = model.id;
  const family = Object.assign(document.createElement("p"), { className: "hint muted", textContent: model.family });
  const recon = Object.assign(document.createElement("img"), { className: "pixelated compare-recon", src: reply.reconstruction, alt: `${model.id}'s reconstruction` });
  const heldout = reply.heldout_psnr_db == null ? "" : ` (held-out ${reply.heldout_psnr_db.toFixed(1)} dB)`;
  const caption = Object.assign(document.createElement("p"), { className: "compare-psnr", textContent: `PSNR ${reply.psnr_db.toFixed(1)} dB${heldout}` });
  const shown = Math.min(reply.latent.length, sliderLimit(model));
  const names = model.dim_names ?? [];
  const latent = document.createElement("ol");
  latent.className = "compare-latent";
  latent.start = 0;
  for (let d = 0; d < shown; d++) {
    const item = document.createElement("li");
    item.textContent = `z${d} ${fmt.fixed(reply.latent[d], 2)}${names[d] ? ` · ${names[d].factor}` : ""}`;
    latent.append(item);
  }
  if (shown < reply.latent.length) latent.append(Object.assign(document.createElement("li"), { className: "muted", textContent: `… ${reply.latent.length - shown} more ordered latents` }));
  const traversal = Object.assign(document.createElement("img"), {
    className: "pixelated compare-grid", src: grid.image, alt: `${model.id}'s traversal: ${grid.dims.length} dims by ${grid.steps} steps`,
  });
  const rows = document.createElement("div");
  rows.className = "compare-grid-labels";
  rows.style.setProperty("--rows", String(grid.dims.length));
  for (const d of grid.dims) {
    const text = names[d] ? `z${d} ${names[d].factor}` : `z${d}`;
    rows.append(Object.assign(document.createElement("span"), { textContent: text }));
  }
  const labelled = Object.assign(document.createElement("div"), { className: "compare-traversal" });
  labelled.append(rows, traversal);
  col.append(title, family, recon, caption, latent, labelled);
  return col;
}

async function render() {
  writeHash();
  const generation = ++state.generation;
  const ids = state.picked.slice();
  const models = await Promise.all(ids.map(detail));
  if (generation !== state.generation) return;
  renderCurvesAndMetrics(models);
  if (!state.source) {
    el.columns.replaceChildren();
    return;
  }
  if (ids.length < 2) {
    el.columns.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Pick at least two models." }));
    return;
  }
  setStatus(`Encoding the input with ${ids.length} models…`);
  try {
    const columns = await tracked(Promise.all(models.map(async (model, i) => {
      const reply = await encodeWith(model.id);
      const grid = await api.traverse(model.id, reply.latent, model.traverse_dims, 11);
      return { col: column(model, reply, grid, PALETTE[i % PALETTE.length]), input: reply.input };
    })));
    if (generation !== state.generation) return;
    el.inputImg.src = columns[0].input;
    el.input.hidden = false;
    el.columns.replaceChildren(...columns.map((c) => c.col));
    el.columns.style.setProperty("--columns", String(columns.length));
    setStatus(`${ids.join(" · ")} · the same input through each`);
  } catch (error) {
    if (generation === state.generation) reportError(error, "side by side");
  }
}

function renderCurvesAndMetrics(models) {
  const curveNames = (m) =>
    Object.keys(m.curves ?? {}).filter((n) => !["step", "steps", "seconds"].includes(n) && Array.isArray(m.curves[n]));
  const common = curveNames(models[0] ?? {}).filter((n) => models.every((m) => curveNames(m).includes(n)));
  const previous = el.curve.value;
  el.curve.replaceChildren(...common.map((n) => new Option(n, n)));
  el.curve.value = common.includes(previous) ? previous : common.includes("recon") ? "recon" : common[0] ?? "";
  el.curve.disabled = !common.length;
  if (!common.length && models.length) {
    const each = models.map((m) => `${m.id}: ${curveNames(m).join(", ") || "none"}`).join("; ");
    placeholder(el.curves, `No training curve is recorded by every picked model (${each}).`);
    el.curveNote.textContent = "";
  } else {
    drawCurves(models);
  }
  renderScoreTable(el.metrics, models, { head: true });
}

function drawCurves(models) {
  if (!plotAvailable()) return;
  const name = el.curve.value;
  const shown = models.filter((m) => Array.isArray(m.curves?.[name]));
  const values = shown.flatMap((m) => m.curves[name]);
  const scale = chooseScale(values, el.scale.value);
  const traces = shown.map((m, i) => ({
    x: m.curves.step, y: curveY(m.curves[name], scale.type), name: m.id, type: "scatter", mode: "lines",
    line: { color: PALETTE[i % PALETTE.length], width: 1.6 },
    hovertemplate: `${m.id} %{y:.4g}<br>step %{x}<extra></extra>`,
  }));
  el.curves.replaceChildren();
  window.Plotly.react(el.curves, traces, {
    ...THEME, height: 280, margin: { l: 52, r: 12, t: 24, b: 40 }, xaxis: axis({ title: { text: "step" } }),
    yaxis: yAxis(scale.type, name, values),
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
  }, CONFIG);
  el.curveNote.textContent = scaleNote(scale);
}

// ---------------------------------------------------------------- sources

async function randomSample() {
  const first = state.picked[0];
  if (!first) return;
  const [sample] = await tracked(api.samples(first, 1, Math.floor(Math.random() * 2 ** 31)));
  setSource({ type: "sample", index: sample.index });
}

function setSource(source) {
  state.source = source;
  el.input.hidden = true;
  el.source.textContent = source.type === "sample" ? `Input: dataset sample ${source.index}` : `Input: ${source.file.name} (uploaded; a link cannot carry it)`;
  render();
}

async function start() {
  try {
    state.all = await tracked(api.listModels());
  } catch (error) {
    reportError(error, "could not list models");
    return;
  }
  const datasets = [...new Set(state.all.filter((m) => !m.ensemble).map((m) => m.dataset))];
  el.dataset.replaceChildren(...datasets.map((d) => new Option(d, d)));
  el.dataset.disabled = false;
  const link = readHash();
  el.dataset.value = datasets.includes(link.dataset) ? link.dataset : datasets[0];
  showDataset(el.dataset.value, link.models);
  if (link.upload) showError("this link was made with an uploaded image, which a link cannot carry: upload it again, or draw a sample");
  if (link.index != null) setSource({ type: "sample", index: link.index });
  else await randomSample().catch((error) => reportError(error, "dataset sample"));
}

el.dataset.addEventListener("change", () => {
  showDataset(el.dataset.value);
  state.source = null;
  randomSample().catch((error) => reportError(error, "dataset sample"));
});
el.sample.addEventListener("click", () => randomSample().catch((error) => reportError(error, "dataset sample")));
el.file.addEventListener("change", () => {
  const file = el.file.files?.[0];
  if (file) setSource({ type: "file", file });
  el.file.value = "";
});
el.curve.addEventListener("change", async () => drawCurves(await Promise.all(state.picked.map(detail))));
el.scale.addEventListener("change", async () => drawCurves(await Promise.all(state.picked.map(detail))));
$("error-dismiss").addEventListener("click", clearError);

start();
