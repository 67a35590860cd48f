// The ensemble view's Plotly figures: the OPTICS reachability profile above the channel x
// channel NMI heatmap, with the channel x factor NMI as a narrow heatmap to its right (one
// figure: the profile shares the big heatmap's x axis, the factor columns share its y axis,
// so rows line up and zoom together; hotspot bands in all three), channel information
// against beta, the member x member NMI of whole latent spaces, and the fusion objective's
// sparkline. Hovering the heatmaps only rewrites a tooltip and highlighting only relayouts
// shapes: the 250,000-cell trace is drawn once.

import { fmt } from "../lib/format.js";
import { GRID, THEME as LAYOUT, placeholder } from "../lib/plot.js";
import {
  INACTIVE_COLOR, NOISE_COLOR, betaPart, channelName, fmtBeta, hotspotColor, jitteredBetas, labelRuns, logBetaAxis,
  memberTag, reorderMatrix, withAlpha,
} from "./ensemble-data.js";

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };
const LABELLED_CHANNELS = 40; // up to this many channels every one gets a tick label
const FACTOR_COLUMN_PX = 22; // width of one factor column beside the channel heatmap
const FACTOR_GAP = 0.015; // paper fraction between the channel and the factor heatmaps

/** The channel x factor NMI rows of `sim` (indexed), or null when it has none to show. */
function factorMatrix(sim) {
  const names = sim.factor_names ?? [];
  const rows = sim.nmi_factor;
  if (!names.length || !Array.isArray(rows) || rows.length !== sim.channels.length) return null;
  return rows;
}

/** Remove a placeholder line left in `el` before a figure is drawn into it. */
function dropPlaceholder(el) {
  for (const p of el.querySelectorAll(":scope > p.muted")) p.remove();
}

const shortName = (c) => `${memberTag(c)} z${c.dim}`;

function hotspotText(label) {
  if (label >= 0) return `hotspot ${label}`;
  return label === -1 ? "noise" : "inactive";
}

function channelLine(c, label) {
  return `${channelName(c)}${betaPart(c)} · ${fmt.score(c.info_bits)} bits · ${hotspotText(label)}`;
}

export class SimilarityPlot {
  /**
   * @param {HTMLElement} el  the figure
   * @param {HTMLElement} tip  the hover tooltip (absolutely positioned in el's parent)
   * @param {object} hooks  {onPickPair(a, b), onPickChannel(index)}: channel indices
   */
  constructor(el, tip, hooks) {
    this.el = el;
    this.tip = tip;
    this.hooks = hooks;
    this.sim = null;
    this.order = [];
    this.runs = [];
    this.clustered = 0;
    this.factors = []; // factor names of the columns beside the heatmap (none: no columns)
    this.bound = false;
    this.lastRenderMs = null;
  }

  /** Drop the figure (and its listeners) for a line of text. */
  clear(text) {
    placeholder(this.el, text);
    this.tip.hidden = true;
    this.sim = null;
    this.bound = false;
  }

  /** Draw `sim` (indexed) in `order` (channel indices); `marks` = {highlight, pair}. */
  render(sim, order, marks) {
    const t0 = performance.now();
    this.sim = sim;
    this.order = order;
    this.runs = labelRuns(order, sim.labelOf);
    dropPlaceholder(this.el);
    const n = order.length;
    const ordered = new Set(sim.ordering);
    const clustered = (this.clustered = order.filter((index) => ordered.has(index)).length);
    const ticks = this._ticks();
    const factorRows = factorMatrix(sim);
    const factors = (this.factors = factorRows ? sim.factor_names.slice() : []);
    const width = this.el.clientWidth || 800;
    const margin = { l: n <= LABELLED_CHANNELS ? 96 : 52, r: 8, t: 8, b: n <= LABELLED_CHANNELS ? 96 : 36 };
    if (factors.length) margin.b = Math.max(margin.b, 14 + 6 * Math.max(...factors.map((f) => f.length)));
    // The factor columns take a fixed number of pixels each (the colour bar sits right of them).
    const plotWidth = Math.max(200, width - margin.l - margin.r - 70);
    const factorShare = factors.length ? Math.min(0.3, Math.max(0.05, (factors.length * FACTOR_COLUMN_PX) / plotWidth)) : 0;
    const mainEnd = factors.length ? 1 - factorShare - FACTOR_GAP : 1;
    const heatmap = {
      type: "heatmap",
      z: reorderMatrix(sim, order),
      x: order.map((_, i) => i),
      y: order.map((_, i) => i),
      zmin: 0,
      zmax: 1,
      colorscale: "Viridis",
      colorbar: { thickness: 10, len: 0.78, y: 0, yanchor: "bottom", outlinewidth: 0, title: { text: "NMI", side: "right" } },
      hoverinfo: "none",
      xgap: n <= 60 ? 1 : 0,
      ygap: n <= 60 ? 1 : 0,
    };
    const reach = {
      type: "bar",
      x: order.slice(0, clustered).map((_, i) => i),
      y: sim.reachability.slice(0, clustered),
      xaxis: "x",
      yaxis: "y2",
      width: 1,
      marker: { color: order.slice(0, clustered).map((index) => hotspotColor(sim.labelOf(index))), line: { width: 0 } },
      customdata: order.slice(0, clustered).map((index) => channelLine(sim.channelOf(index), sim.labelOf(index))),
      hovertemplate: "%{customdata}<br>reachability %{y:.3f}<extra></extra>",
    };
    const traces = [heatmap, reach];
    if (factors.length) {
      // Channel x factor NMI: same rows (display order), same y axis; its own x axis.
      traces.push({
        type: "heatmap",
        z: order.map((index) => factorRows[sim.posOf.get(index)].map((v) => (typeof v === "number" ? v : null))),
        x: factors,
        y: order.map((_, i) => i),
        xaxis: "x2",
        yaxis: "y",
        zmin: 0,
        zmax: 1,
        colorscale: "Viridis",
        showscale: false,
        hoverinfo: "none",
        xgap: 1,
        ygap: n <= 60 ? 1 : 0,
      });
    }
    const layout = {
      ...LAYOUT,
      height: Math.round(Math.min(1000, Math.max(460, width * 1.08))),
      margin,
      xaxis: {
        domain: [0, mainEnd], range: [-0.5, n - 0.5], anchor: "y", showgrid: false, zeroline: false, ...ticks,
        tickangle: n <= LABELLED_CHANNELS ? -60 : 0,
      },
      ...(factors.length
        ? {
            xaxis2: {
              domain: [mainEnd + FACTOR_GAP, 1], anchor: "y", type: "category", fixedrange: true, showgrid: false,
              zeroline: false, tickangle: -60, tickfont: { size: 10 },
            },
          }
        : {}),
      yaxis: { domain: [0, 0.8], range: [n - 0.5, -0.5], showgrid: false, zeroline: false, ...ticks },
      yaxis2: {
        domain: [0.83, 1], anchor: "x", rangemode: "tozero", fixedrange: true, gridcolor: GRID, zeroline: false,
        title: { text: "reach.", font: { size: 10 } },
      },
      hovermode: "closest",
      bargap: 0,
      showlegend: false,
      shapes: this._shapes(marks, clustered),
    };
    window.Plotly.react(this.el, traces, layout, CONFIG);
    this._bind();
    this.lastRenderMs = performance.now() - t0;
  }

  /** Re-mark the highlighted hotspot and the picked pair: shapes only, the traces stay. */
  mark(marks) {
    if (!this.sim) return;
    window.Plotly.relayout(this.el, { shapes: this._shapes(marks, this.clustered) });
  }

  /** Channel labels when few, else one "H<label>" tick at the centre of each hotspot band. */
  _ticks() {
    if (this.order.length <= LABELLED_CHANNELS) {
      return {
        tickvals: this.order.map((_, i) => i),
        ticktext: this.order.map((index) => shortName(this.sim.channelOf(index))),
        tickfont: { size: 9 },
      };
    }
    return {
      tickvals: this.runs.map((r) => (r.start + r.end) / 2),
      ticktext: this.runs.map((r) => `H${r.label}`),
      tickfont: { size: 10 },
    };
  }

  _shapes({ highlight = null, pair = null } = {}, clustered) {
    const shapes = [];
    const factorColumns = this.factors.length > 0;
    for (const run of this.runs) {
      const on = highlight === run.label;
      const dim = highlight != null && !on;
      const color = hotspotColor(run.label);
      const x0 = run.start - 0.5;
      const x1 = run.end + 0.5;
      const outline = { color: withAlpha(color, dim ? 0.35 : 1), width: on ? 3 : 1.5 };
      shapes.push({ type: "rect", xref: "x", yref: "y2 domain", x0, x1, y0: 0, y1: 1, layer: "below", line: { width: 0 }, fillcolor: withAlpha(color, on ? 0.4 : dim ? 0.06 : 0.18) });
      shapes.push({ type: "rect", xref: "x", yref: "y", x0, x1, y0: x0, y1: x1, line: outline });
      // The same rows framed in the factor columns: which factors the hotspot's channels carry.
      if (factorColumns) shapes.push({ type: "rect", xref: "x2 domain", yref: "y", x0: 0, x1: 1, y0: x0, y1: x1, line: outline });
      if (on) {
        shapes.push({ type: "rect", xref: "x", yref: "y domain", x0, x1, y0: 0, y1: 1, line: { width: 0 }, fillcolor: withAlpha(color, 0.22) });
        shapes.push({ type: "rect", xref: "x domain", yref: "y", x0: 0, x1: 1, y0: x0, y1: x1, line: { width: 0 }, fillcolor: withAlpha(color, 0.22) });
      }
    }
    if (clustered < this.order.length) {
      const at = clustered - 0.5;
      const line = { color: "#c9d1d9", width: 1, dash: "dot" };
      shapes.push({ type: "line", xref: "x", yref: "y domain", x0: at, x1: at, y0: 0, y1: 1, line });
      shapes.push({ type: "line", xref: "x domain", yref: "y", x0: 0, x1: 1, y0: at, y1: at, line });
      if (factorColumns) shapes.push({ type: "line", xref: "x2 domain", yref: "y", x0: 0, x1: 1, y0: at, y1: at, line });
    }
    if (pair) {
      const row = this.order.indexOf(pair[0]);
      const col = this.order.indexOf(pair[1]);
      if (row >= 0 && col >= 0) {
        for (const [r, c] of [[row, col], [col, row]]) {
          shapes.push({ type: "rect", xref: "x", yref: "y", x0: c - 0.5, x1: c + 0.5, y0: r - 0.5, y1: r + 0.5, line: { color: "#ffffff", width: 2 } });
        }
      }
    }
    return shapes;
  }

  _bind() {
    if (this.bound) return;
    this.bound = true;
    this.el.on("plotly_hover", (event) => this._hover(event));
    this.el.on("plotly_unhover", () => (this.tip.hidden = true));
    // Zooming or panning moves the cells under the tooltip; re-marking (shapes only) does not.
    this.el.on("plotly_relayout", (update) => {
      if (!("shapes" in (update ?? {}))) this.tip.hidden = true;
    });
    this.el.on("plotly_click", (event) => {
      const point = event.points?.[0];
      if (!point) return;
      if (point.curveNumber === 2) {
        // A factor cell: that row's channel, paired with its closest partner.
        const row = this.order[Math.round(point.y)];
        if (row != null) this.hooks.onPickChannel(row);
        return;
      }
      const col = this.order[Math.round(point.x)];
      if (point.curveNumber === 0) this.hooks.onPickPair(this.order[Math.round(point.y)], col);
      else if (col != null) this.hooks.onPickChannel(col);
    });
  }

  _hover(event) {
    const point = event.points?.[0];
    if (!point || (point.curveNumber !== 0 && point.curveNumber !== 2)) {
      this.tip.hidden = true;
      return;
    }
    const sim = this.sim;
    const a = this.order[Math.round(point.y)];
    let lines;
    if (point.curveNumber === 2) {
      lines = [`channel ${channelLine(sim.channelOf(a), sim.labelOf(a))}`, `factor ${point.x}`, `NMI ${fmt.score(point.z)}`];
    } else {
      const b = this.order[Math.round(point.x)];
      lines = [
        `row ${channelLine(sim.channelOf(a), sim.labelOf(a))}`,
        `col ${channelLine(sim.channelOf(b), sim.labelOf(b))}`,
        `NMI ${fmt.score(point.z)} · VI ${fmt.score(sim.vi[sim.posOf.get(a)][sim.posOf.get(b)])} bits`,
      ];
    }
    this.tip.textContent = lines.join("\n");
    const host = this.tip.parentElement.getBoundingClientRect();
    const x = event.event.clientX - host.left;
    const y = event.event.clientY - host.top;
    this.tip.hidden = false;
    const flip = x > host.width - this.tip.offsetWidth - 24;
    this.tip.style.left = `${flip ? x - this.tip.offsetWidth - 14 : x + 14}px`;
    this.tip.style.top = `${y + 14}px`;
  }
}

/** Channel information (bits) against beta (imported runs: per run); clicking a dot calls `onPick(channel index)`. */
export function renderInfoPlot(el, sim, ensemble, onPick) {
  const runs = ensemble.betas.length ? null : ensemble.members.map((m) => m.name);
  const log = !runs && logBetaAxis(ensemble.betas);
  const xs = runs ? sim.channels.map((c) => runs.indexOf(c.member)) : jitteredBetas(sim.channels, ensemble.betas, ensemble.seeds, log);
  const groups = [
    { name: "active", keep: (c) => c.active, symbol: "circle" },
    { name: "inactive", keep: (c) => !c.active, symbol: "x-thin-open" },
  ];
  const traces = groups.map(({ name, keep, symbol }) => {
    const rows = sim.channels.map((c, pos) => ({ c, pos })).filter(({ c }) => keep(c));
    return {
      type: "scatter",
      mode: "markers",
      name,
      x: rows.map(({ pos }) => xs[pos]),
      y: rows.map(({ c }) => c.info_bits),
      marker: {
        symbol,
        size: name === "active" ? 7 : 8,
        color: rows.map(({ c }) => (c.active ? hotspotColor(sim.labelOf(c.index)) : INACTIVE_COLOR)),
        line: { width: name === "active" ? 0.5 : 1.5, color: name === "active" ? "#0f1114" : NOISE_COLOR },
      },
      customdata: rows.map(({ c }) => [c.index, channelLine(c, sim.labelOf(c.index))]),
      hovertemplate: "%{customdata[1]}<extra></extra>",
    };
  });
  const betas = [...new Set(ensemble.betas)].sort((a, b) => a - b);
  const layout = {
    ...LAYOUT,
    height: 280,
    margin: { l: 52, r: 10, t: 8, b: 40 },
    xaxis: runs
      ? { tickvals: runs.map((_, i) => i), ticktext: runs, title: { text: "run" }, gridcolor: GRID, zeroline: false }
      : { type: log ? "log" : "linear", tickvals: betas, ticktext: betas.map(fmtBeta), title: { text: "β" }, gridcolor: GRID, zeroline: false },
    yaxis: { title: { text: "information (bits)" }, gridcolor: GRID, zeroline: false, rangemode: "tozero" },
    showlegend: false,
    hovermode: "closest",
  };
  dropPlaceholder(el);
  window.Plotly.react(el, traces, layout, CONFIG);
  el.removeAllListeners?.("plotly_click");
  el.on("plotly_click", (event) => {
    const index = event.points?.[0]?.customdata?.[0];
    if (index != null) onPick(index);
  });
}

/**
 * Member x member NMI of whole latent spaces (`detail.spaces`), members ordered by beta then
 * seed and labelled "β<beta> s<seed>"; hover reads both members, NMI, VI and information.
 * Returns the member names in drawn order.
 */
export function renderSpacesPlot(el, spaces, members) {
  const byName = new Map(members.map((m) => [m.name, m]));
  const key = (name) => byName.get(name) ?? { beta: Infinity, seed: Infinity };
  const order = spaces.members
    .map((name, pos) => ({ name, pos }))
    .sort((a, b) => key(a.name).beta - key(b.name).beta || key(a.name).seed - key(b.name).seed || a.name.localeCompare(b.name));
  const label = ({ name }) => (byName.has(name) ? memberTag(byName.get(name)) : name);
  const bits = (pos) => `${fmt.score(spaces.info_bits?.[pos], 2)} bits`;
  const n = order.length;
  const axis = order.map((_, i) => i);
  const trace = {
    type: "heatmap",
    z: order.map((r) => order.map((c) => spaces.nmi[r.pos]?.[c.pos] ?? null)),
    x: axis,
    y: axis,
    zmin: 0,
    zmax: 1,
    colorscale: "Viridis",
    colorbar: { thickness: 8, outlinewidth: 0, title: { text: "NMI", side: "right" } },
    customdata: order.map((r) =>
      order.map((c) => [`${r.name} (${bits(r.pos)})`, `${c.name} (${bits(c.pos)})`, fmt.score(spaces.vi?.[r.pos]?.[c.pos])]),
    ),
    hovertemplate: "%{customdata[0]}<br>%{customdata[1]}<br>NMI %{z:.3f} · VI %{customdata[2]} bits<extra></extra>",
    xgap: n <= 40 ? 1 : 0,
    ygap: n <= 40 ? 1 : 0,
  };
  const ticks = { tickvals: axis, ticktext: order.map(label), tickfont: { size: n > 16 ? 8 : 10 }, showgrid: false, zeroline: false };
  const side = Math.min(420, Math.max(160, 20 * n));
  const margin = { l: 64, r: 8, t: 6, b: 60 };
  const layout = {
    ...LAYOUT,
    // Sized to the square (plus room for the colour bar), so the bar sits beside it.
    width: Math.min(el.clientWidth || Infinity, side + margin.l + margin.r + 70),
    height: side + margin.t + margin.b,
    margin,
    xaxis: { ...ticks, tickangle: -60, range: [-0.5, n - 0.5], constrain: "domain" },
    yaxis: { ...ticks, range: [n - 0.5, -0.5], scaleanchor: "x", constrain: "domain" },
    hovermode: "closest",
  };
  dropPlaceholder(el);
  window.Plotly.react(el, [trace], layout, { ...CONFIG, displayModeBar: false });
  return order.map((o) => o.name);
}

/** The fusion objective's history as a tiny line (one value every 10 optimisation steps). */
export function renderSparkline(el, history, label) {
  const y = history.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null));
  const trace = {
    type: "scatter",
    mode: "lines",
    x: y.map((_, i) => 10 * i),
    y,
    line: { color: "#5fa8ff", width: 1.5, shape: "spline", smoothing: 0.3 },
    hovertemplate: `step %{x}: ${label} %{y:.3f}<extra></extra>`,
  };
  const layout = {
    ...LAYOUT,
    height: 64,
    margin: { l: 40, r: 6, t: 4, b: 14 },
    xaxis: { fixedrange: true, showgrid: false, zeroline: false, tickfont: { size: 8 }, nticks: 4 },
    yaxis: { fixedrange: true, gridcolor: GRID, zeroline: false, tickfont: { size: 8 }, nticks: 3 },
    showlegend: false,
    hovermode: "closest",
  };
  dropPlaceholder(el);
  window.Plotly.react(el, [trace], layout, { ...CONFIG, displayModeBar: false });
}
