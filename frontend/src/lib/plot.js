// The Plotly theme every figure shares (Plotly is served locally at /vendor/), and helpers for
// figures that cannot be drawn.

export const GRID = "#2a3038";
export const PALETTE = ["#5fa8ff", "#f0a35e", "#7bd88f", "#e06c9f", "#b39df3", "#e5d46f", "#6fd6d6"];
export const NO_PLOTLY = "Plotly is not available (run `npm install` in frontend/).";

/** The dark, transparent look of every figure; spread it into a layout. */
export const THEME = {
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { color: "#c9d1d9", size: 11, family: "system-ui, sans-serif" },
};

/** Plotly's config for the small figures: no logo, no mode bar, resizing with the page. */
export const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };

/** An axis on the theme's grid: `axis({title: {text: "step"}})`. */
export const axis = (props = {}) => ({ gridcolor: GRID, zerolinecolor: GRID, ...props });

export function plotAvailable() {
  return typeof window.Plotly?.newPlot === "function";
}

/** Replace `el`'s content (and any figure in it) by a muted line of text. */
export function placeholder(el, text) {
  if (plotAvailable()) window.Plotly.purge(el);
  el.replaceChildren();
  if (text) el.append(Object.assign(document.createElement("p"), { className: "muted", textContent: text }));
}
