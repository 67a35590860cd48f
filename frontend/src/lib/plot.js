// Training curves of the model card, drawn with Plotly (served locally at /vendor/).

const SKIP = new Set(["step", "steps", "seconds", "time", "wall_seconds", "lr"]);
const PALETTE = ["#5fa8ff", "#f0a35e", "#7bd88f", "#e06c9f", "#b39df3", "#e5d46f", "#6fd6d6"];

export function plotAvailable() {
  return typeof window.Plotly?.newPlot === "function";
}

/** Draw `curves` ({step: [...], loss: [...], recon: [...], ...}) into `el`, log-scale y. */
export function renderLossPlot(el, curves) {
  if (!plotAvailable()) {
    el.replaceChildren(Object.assign(document.createElement("p"), {
      className: "muted",
      textContent: "Plotly is not available (run `npm install` in frontend/).",
    }));
    return false;
  }
  window.Plotly.purge(el);
  el.replaceChildren();
  const steps = Array.isArray(curves?.step) ? curves.step : null;
  const names = Object.keys(curves ?? {}).filter(
    (k) => !SKIP.has(k) && Array.isArray(curves[k]) && curves[k].length && curves[k].some((v) => Number(v) > 0),
  );
  if (!steps || !names.length) {
    el.append(Object.assign(document.createElement("p"), {
      className: "muted",
      textContent: "This model's card has no training curves.",
    }));
    return false;
  }
  // loss and recon first, solid; the auxiliary terms after, dotted.
  names.sort((a, b) => rank(a) - rank(b));
  const traces = names.map((name, i) => ({
    x: steps,
    // log axes cannot show values <= 0: leave a gap instead.
    y: curves[name].map((v) => (Number(v) > 0 ? Number(v) : null)),
    name,
    type: "scatter",
    mode: "lines",
    line: { width: rank(name) < 2 ? 2 : 1.2, dash: rank(name) < 2 ? "solid" : "dot", color: PALETTE[i % PALETTE.length] },
    hovertemplate: `${name} %{y:.4g}<br>step %{x}<extra></extra>`,
  }));
  // Label whole decades only when the curves span several; otherwise Plotly's 2-5 labels.
  const positive = traces.flatMap((t) => t.y.filter((v) => v != null));
  const decades = Math.log10(Math.max(...positive)) - Math.log10(Math.min(...positive));
  const layout = {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: "#c9d1d9", size: 11, family: "system-ui, sans-serif" },
    margin: { l: 52, r: 12, t: 28, b: 40 },
    xaxis: { title: { text: "step" }, gridcolor: "#2a3038", zerolinecolor: "#2a3038" },
    yaxis: { type: "log", title: { text: "loss (log)" }, gridcolor: "#2a3038", zerolinecolor: "#2a3038", exponentformat: "power", ...(decades > 2 ? { dtick: 1 } : {}) },
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
  return true;
}

function rank(name) {
  if (name === "loss") return 0;
  if (name === "recon" || name === "reconstruction") return 1;
  return 2;
}
