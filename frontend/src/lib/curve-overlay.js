// Training curves of several runs of one design overlaid (a zoo variant's seeds, an ensemble's
// members of one beta), from GET /api/zoo/curves or /api/ensembles/{id}/curves. The reader picks
// the group, the curve, an exponential moving average (stated: y_t = a y_{t-1} + (1 - a) x_t, the
// raw curve faint behind it) and the y axis (auto / log / linear, lib/curves.js: nothing dropped
// silently).

import { chooseScale, curveY, scaleControl, scaleNote, yAxis } from "./curves.js";
import { make } from "./dom.js";
import { CONFIG, PALETTE, THEME, axis, placeholder, plotAvailable, NO_PLOTLY } from "./plot.js";

const SKIP = new Set(["step", "steps", "seconds"]);

/** The EMA of `values` with weight `alpha` on the past (0: the raw values); nulls stay gaps and do not reset it. */
export function ema(values, alpha) {
  let state = null;
  return values.map((v) => {
    if (v == null || !Number.isFinite(Number(v))) return null;
    state = state == null ? Number(v) : alpha * state + (1 - alpha) * Number(v);
    return state;
  });
}

function labelled(id, text, control) {
  return make("span", { className: "scale-control" }, make("label", { htmlFor: id, className: "muted", textContent: `${text} ` }), control);
}

export class CurveOverlay {
  /** @param {HTMLElement} container  where the controls, the plot and the note go; `prefix` names their ids. */
  constructor(container, prefix, { groupLabel = "group" } = {}) {
    this.data = null;
    this.group = make("select", { id: `${prefix}-group` });
    this.curve = make("select", { id: `${prefix}-curve` });
    this.smooth = make("input", { id: `${prefix}-smooth`, type: "range", min: "0", max: "0.98", step: "0.02", value: "0.6" });
    this.smoothValue = make("output", { htmlFor: `${prefix}-smooth` });
    const { wrap, select } = scaleControl(`${prefix}-scale`, () => this.render());
    this.scale = select;
    this.plot = make("div", { id: `${prefix}-plot`, className: "overlay-plot" });
    this.plot.setAttribute("role", "figure");
    this.note = make("p", { id: `${prefix}-note`, className: "hint muted" });
    const controls = make("div", { className: "actions overlay-controls" }, labelled(this.group.id, groupLabel, this.group),
      labelled(this.curve.id, "curve", this.curve), labelled(this.smooth.id, "EMA", this.smooth), this.smoothValue, wrap);
    container.replaceChildren(controls, this.plot, this.note);
    this.group.addEventListener("change", () => this._fillCurves());
    this.curve.addEventListener("change", () => this.render());
    this.smooth.addEventListener("input", () => this.render());
  }

  /** Show `data` (a MemberCurveSet), picking `preferred` as the group when it has one. */
  show(data, preferred = null) {
    this.data = data;
    const groups = data?.groups ?? [];
    this.group.replaceChildren(...groups.map((g) => new Option(`${g} (${this._members(g).length})`, g)));
    if (preferred && groups.includes(preferred)) this.group.value = preferred;
    this._fillCurves();
  }

  _members(group = this.group.value) {
    return (this.data?.members ?? []).filter((m) => m.group === group);
  }

  _fillCurves() {
    const members = this._members();
    const keys = [...new Set(members.flatMap((m) => Object.keys(m.curves)))].filter((k) => !SKIP.has(k)).sort();
    const previous = this.curve.value;
    this.curve.replaceChildren(...keys.map((k) => new Option(k, k)));
    this.curve.value = keys.includes(previous) ? previous : keys.includes("loss") ? "loss" : keys[0] ?? "";
    this.render();
  }

  render() {
    const alpha = Number(this.smooth.value);
    this.smoothValue.textContent = alpha.toFixed(2);
    const name = this.curve.value;
    const members = this._members().filter((m) => Array.isArray(m.curves[name]));
    if (!members.length) {
      placeholder(this.plot, this.data?.members?.length ? "No member of this group records that curve." : "No member curves to show.");
      this.note.textContent = "";
      return;
    }
    if (!plotAvailable()) {
      placeholder(this.plot, NO_PLOTLY);
      return;
    }
    const values = members.flatMap((m) => m.curves[name]);
    const scale = chooseScale(values, this.scale.value);
    const traces = members.flatMap((m, i) => {
      const color = PALETTE[i % PALETTE.length];
      const label = m.seed == null ? m.name : `seed ${m.seed}`;
      const smoothed = { x: m.curves.step, y: curveY(ema(m.curves[name], alpha), scale.type), name: label, type: "scatter",
        mode: "lines", line: { color, width: 1.8 }, hovertemplate: `${label} %{y:.4g}<br>step %{x}<extra></extra>` };
      if (alpha === 0) return [smoothed];
      const raw = { x: m.curves.step, y: curveY(m.curves[name], scale.type), showlegend: false, hoverinfo: "skip",
        type: "scatter", mode: "lines", line: { color, width: 1 }, opacity: 0.25, name: `${label} (raw)` };
      return [raw, smoothed];
    });
    this.plot.setAttribute("aria-label", `${name} of ${members.length} runs of ${this.group.value} over training (${scale.type} axis)`);
    window.Plotly.react(this.plot, traces, {
      ...THEME, height: 260, margin: { l: 56, r: 12, t: 28, b: 40 }, hovermode: "x unified",
      xaxis: axis({ title: { text: "step" } }), yaxis: yAxis(scale.type, name, values),
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
    }, CONFIG);
    const smoothing = alpha === 0 ? "unsmoothed" :
      `smoothed by an exponential moving average y_t = ${alpha.toFixed(2)} · y_{t−1} + ${(1 - alpha).toFixed(2)} · x_t (raw curves faint)`;
    this.note.textContent = `${members.length} runs of ${this.group.value}, ${smoothing}. ${scaleNote(scale)}`.trim();
    this.plot.dataset.runs = String(members.length);
  }
}
