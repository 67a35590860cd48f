// The ensemble view's Plotly figures: the OPTICS reachability profile above the channel x
// channel NMI heatmap (one figure, one shared x axis, hotspot bands in both), channel
// information against beta, and the hotspot x factor NMI. Hovering the heatmap only rewrites
// a tooltip and highlighting only relayouts shapes: the 250,000-cell trace is drawn once.

import { plotAvailable } from "./plot.js";
import {
  INACTIVE_COLOR, NOISE_COLOR, channelName, fmt, fmtBeta, hotspotColor, jitteredBetas, labelRuns, logBetaAxis,
  reorderMatrix, withAlpha,
} from "./ensemble-data.js";

const LAYOUT = {
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { color: "#c9d1d9", size: 11, family: "system-ui, sans-serif" },
};
const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };
const GRID = "#2a3038";
const LABELLED_CHANNELS = 40; // up to this many channels every one gets a tick label

/** Replace `el`'s content by a muted line of text (and drop any figure in it). */
export function placeholder(el, text) {
  if (plotAvailable()) window.Plotly.purge(el);
  el.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: text }));
}

/** Remove a placeholder line left in `el` before a figure is drawn into it. */
function dropPlaceholder(el) {
  for (const p of el.querySelectorAll(":scope > p.muted")) p.remove();
}

const shortName = (c) => `β${fmtBeta(c.beta)} s${c.seed} z${c.dim}`;

function hotspotText(label) {
  if (label >= 0) return `hotspot ${label}`;
  return label === -1 ? "noise" : "inactive";
}

function channelLine(c, label) {
  return `${channelName(c)} · β ${fmtBeta(c.beta)} · ${fmt(c.info_bits)} bits · ${hotspotText(label)}`;
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
    const width = this.el.clientWidth || 800;
    const layout = {
      ...LAYOUT,
      height: Math.round(Math.min(1000, Math.max(460, width * 1.08))),
      margin: { l: n <= LABELLED_CHANNELS ? 96 : 52, r: 8, t: 8, b: n <= LABELLED_CHANNELS ? 96 : 36 },
      xaxis: { range: [-0.5, n - 0.5], anchor: "y", showgrid: false, zeroline: false, ...ticks, tickangle: n <= LABELLED_CHANNELS ? -60 : 0 },
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
    window.Plotly.react(this.el, [heatmap, reach], layout, CONFIG);
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
    for (const run of this.runs) {
      const on = highlight === run.label;
      const dim = highlight != null && !on;
      const color = hotspotColor(run.label);
      const x0 = run.start - 0.5;
      const x1 = run.end + 0.5;
      shapes.push({ type: "rect", xref: "x", yref: "y2 domain", x0, x1, y0: 0, y1: 1, layer: "below", line: { width: 0 }, fillcolor: withAlpha(color, on ? 0.4 : dim ? 0.06 : 0.18) });
      shapes.push({ type: "rect", xref: "x", yref: "y", x0, x1, y0: x0, y1: x1, line: { color: withAlpha(color, dim ? 0.35 : 1), width: on ? 3 : 1.5 } });
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
      const col = this.order[Math.round(point.x)];
      if (point.curveNumber === 0) this.hooks.onPickPair(this.order[Math.round(point.y)], col);
      else if (col != null) this.hooks.onPickChannel(col);
    });
  }

  _hover(event) {
    const point = event.points?.[0];
    if (!point || point.curveNumber !== 0) {
      this.tip.hidden = true;
      return;
    }
    const a = this.order[Math.round(point.y)];
    const b = this.order[Math.round(point.x)];
    const sim = this.sim;
    const lines = [
      `row ${channelLine(sim.channelOf(a), sim.labelOf(a))}`,
      `col ${channelLine(sim.channelOf(b), sim.labelOf(b))}`,
      `NMI ${fmt(point.z)} · VI ${fmt(sim.vi[sim.posOf.get(a)][sim.posOf.get(b)])} bits`,
    ];
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

/** Channel information (bits) against beta; clicking a dot calls `onPick(channel index)`. */
export function renderInfoPlot(el, sim, ensemble, onPick) {
  const log = logBetaAxis(ensemble.betas);
  const xs = jitteredBetas(sim.channels, ensemble.betas, ensemble.seeds, log);
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
    xaxis: { type: log ? "log" : "linear", tickvals: betas, ticktext: betas.map(fmtBeta), title: { text: "β" }, gridcolor: GRID, zeroline: false },
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

/** Hotspots (rows) x factors (columns): mean channel-factor NMI; clicking a row calls `onPick(label)`. */
export function renderFactorPlot(el, payload, onPick) {
  const hotspots = payload.hotspots;
  const factors = payload.factor_names;
  const z = hotspots.map((h) => factors.map((f) => h.factor_nmi?.[f] ?? null));
  const finite = z.flat().filter((v) => typeof v === "number");
  const rows = hotspots.map((_, i) => i);
  const trace = {
    type: "heatmap",
    z,
    x: factors,
    y: rows,
    zmin: 0,
    zmax: Math.max(1e-6, ...finite),
    colorscale: "Viridis",
    colorbar: { thickness: 10, len: 0.9, outlinewidth: 0 },
    customdata: hotspots.map((h) => factors.map(() => [h.label, h.channels.length])),
    hovertemplate: "hotspot %{customdata[0]} (%{customdata[1]} channels) · %{x}: %{z:.3f}<extra></extra>",
    xgap: 1,
    ygap: 1,
  };
  const layout = {
    ...LAYOUT,
    height: 60 + 24 * hotspots.length,
    margin: { l: 76, r: 8, t: 6, b: 40 },
    xaxis: { fixedrange: true },
    yaxis: {
      autorange: "reversed",
      fixedrange: true,
      tickvals: rows,
      ticktext: hotspots.map((h) => `<span style="color:${hotspotColor(h.label)}">H${h.label}</span> (${h.channels.length})`),
    },
    hovermode: "closest",
  };
  dropPlaceholder(el);
  window.Plotly.react(el, [trace], layout, { ...CONFIG, displayModeBar: false });
  el.removeAllListeners?.("plotly_click");
  el.on("plotly_click", (event) => {
    const row = event.points?.[0]?.y;
    if (row != null) onPick(hotspots[row].label);
  });
}
