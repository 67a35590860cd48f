// The EOFlow panel's plots (Plotly, served locally): the scree plot (explained entropy per
// ordered latent and its cumulative share), PSNR against the number of kept latents C (the
// card's held-out EOFlow and PCA curves, and the current image's own curve) and MED against C
// (the card's flow.med). All use a log C axis, mark the current C with a vertical line and
// report clicked points' C.

import { CONFIG, NO_PLOTLY, THEME, axis, plotAvailable } from "../lib/plot.js";
import { keyboardCells } from "../lib/plot-keys.js";

// PSNRs at or above this are exact reconstructions (the server caps them at 120 dB).
const EXACT_DB = 100;
const COLORS = {
  entropy: "#5fa8ff", share: "#f0a35e", flow: "#5fa8ff", pca: "#b39df3", image: "#7bd88f", keep: "#f0a35e", peer: "#e8e8e8",
  medD: "#5fa8ff", medC: "#7bd88f", null: "#8a949f",
};

function baseLayout(xTitle) {
  return {
    ...THEME,
    margin: { l: 52, r: 52, t: 30, b: 40 },
    height: 240,
    hovermode: "closest",
    xaxis: axis({ type: "log", title: { text: xTitle } }),
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", bgcolor: "rgba(0,0,0,0)" },
  };
}

function keepLine(keep) {
  return [{ type: "line", xref: "x", yref: "paper", x0: keep, x1: keep, y0: 0, y1: 1, line: { color: COLORS.keep, width: 1.5, dash: "dot" } }];
}

/** Remove a plot and its click handler (Plotly.purge drops the element's listeners). */
export function clearPlot(el) {
  if (plotAvailable()) window.Plotly.purge(el);
  delete el.dataset.pickBound;
  el.replaceChildren();
}

function note(el, text) {
  clearPlot(el);
  el.append(Object.assign(document.createElement("p"), { className: "muted", textContent: text }));
}

/** Draw (or redraw) `traces` in `el` and report clicked points' x (rounded C) to `onPick` once per element. */
function draw(el, traces, layout, onPick) {
  if (!el.data) el.replaceChildren();
  window.Plotly.react(el, traces, layout, CONFIG);
  if (!el.dataset.pickBound) {
    el.dataset.pickBound = "1";
    el.on("plotly_click", (event) => {
      const x = Number(event.points?.[0]?.x);
      if (Number.isFinite(x)) el.onPickKeep?.(Math.round(x));
    });
  }
  el.onPickKeep = onPick;
  bindKeys(el);
}

/** From the keyboard: arrows walk the first named curve's points, Enter keeps that point's C (once per element). */
function bindKeys(el) {
  if (el.keyboard) return;
  const curve = () => el.data?.find((t) => t.hoverinfo !== "skip" && t.name) ?? { x: [], y: [] };
  const points = () => curve().x.map((x, i) => [Number(x), Number(curve().y[i])]);
  el.keyboard = keyboardCells(el, {
    size: () => [1, points().length],
    describe: (_, col) => `C = ${Math.round(points()[col][0])} · ${curve().name} ${points()[col][1].toPrecision(4)}`,
    pick: (_, col) => el.onPickKeep?.(Math.round(points()[col][0])),
  });
}

/** Move the current-C line of a drawn plot. */
export function markKeep(el, keep) {
  if (plotAvailable() && el.data) window.Plotly.relayout(el, { shapes: keepLine(keep) });
}

/** Scree plot of an /entropy reply: entropy per ordered latent (rank 1..D) with +-2 standard
 * errors as a band, and the cumulative share. */
export function renderScree(el, reply, keep, onPick) {
  if (!plotAvailable()) return note(el, NO_PLOTLY);
  const ranks = reply.entropy.map((_, i) => i + 1);
  const mode = ranks.length > 512 ? "lines" : "lines+markers";
  const band = (sign) => reply.entropy.map((h, i) => h + sign * 2 * reply.standard_error[i]);
  const traces = [
    {
      x: ranks, y: band(-1), type: "scatter", mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false,
    },
    {
      x: ranks, y: band(1), name: "+-2 standard errors", type: "scatter", mode: "lines", fill: "tonexty",
      fillcolor: "rgba(127, 127, 127, 0.3)", line: { width: 0 }, hoverinfo: "skip",
    },
    {
      x: ranks, y: reply.entropy, name: "explained entropy", type: "scatter", mode, customdata: reply.standard_error,
      marker: { size: 4, color: COLORS.entropy }, line: { width: 1.5, color: COLORS.entropy },
      hovertemplate: "latent %{x}: %{y:.3f} +- %{customdata:.3f} nats<br>click: keep the top %{x}<extra></extra>",
    },
    {
      x: ranks, y: reply.cumulative_share, name: "cumulative share", type: "scatter", mode: "lines", yaxis: "y2",
      line: { width: 1.5, color: COLORS.share },
      hovertemplate: "top %{x}: %{y:.1%} of the entropy above the least informative latent's<extra></extra>",
    },
  ];
  const layout = {
    ...baseLayout("ordered latent (log)"),
    yaxis: axis({ title: { text: "entropy (nats)" } }),
    yaxis2: { title: { text: "cumulative" }, overlaying: "y", side: "right", range: [0, 1.02], dtick: 0.25, tickformat: ".0%", showgrid: false },
    shapes: keepLine(keep),
  };
  draw(el, traces, layout, onPick);
}

/** PSNRs for the plot: exact ones (>= 100 dB) drawn at `ceiling`, their hover saying so. */
function psnrTrace(keep, psnr, ceiling, { name, color, dash = "solid" }) {
  return {
    x: keep,
    y: psnr.map((v) => (v >= EXACT_DB ? ceiling : v)),
    text: psnr.map((v) => (v >= EXACT_DB ? "exact" : `${v.toFixed(2)} dB`)),
    name, type: "scatter", mode: "lines+markers",
    marker: { size: 6, color }, line: { width: 2, color, dash },
    hovertemplate: `${name}: C=%{x}, %{text}<br>click: keep the top %{x}<extra></extra>`,
  };
}

/**
 * PSNR against C: `truncation` is the card's held-out curve ({keep, psnr, pca_psnr}) over
 * `images` held-out images, or null; `peers` other models' held-out curves on the same images
 * (the detail's `peers`: {id, differs, truncation}); `curve` the current image's ({keep, psnr}) or null.
 */
export function renderPsnrCurves(el, { truncation, images, curve, peers = [] }, keep, onPick) {
  if (!plotAvailable()) return note(el, NO_PLOTLY);
  const all = [truncation?.psnr, truncation?.pca_psnr, curve?.psnr, ...peers.map((p) => p.truncation.psnr)]
    .flatMap((values) => values ?? []).filter((v) => Number.isFinite(v));
  if (!all.length) return note(el, "No PSNR curve yet: draw a sample or upload an image.");
  const inexact = all.filter((v) => v < EXACT_DB);
  const ceiling = (inexact.length ? Math.max(...inexact) : 40) + 6;
  const traces = [];
  if (truncation?.psnr?.length) {
    const name = `EOFlow (${images ? `${images} ` : ""}held-out)`;
    traces.push(psnrTrace(truncation.keep, truncation.psnr, ceiling, { name, color: COLORS.flow }));
  }
  if (truncation?.pca_psnr?.length) {
    traces.push(psnrTrace(truncation.keep, truncation.pca_psnr, ceiling, { name: "PCA (held-out)", color: COLORS.pca, dash: "dash" }));
  }
  for (const peer of peers) {
    traces.push(psnrTrace(peer.truncation.keep, peer.truncation.psnr, ceiling, { name: `${peer.id}: ${peer.differs}`, color: COLORS.peer, dash: "dot" }));
  }
  if (curve?.psnr?.length) traces.push(psnrTrace(curve.keep, curve.psnr, ceiling, { name: "this image", color: COLORS.image }));
  const layout = {
    ...baseLayout("kept latents C (log)"),
    yaxis: axis({ title: { text: "PSNR (dB)" } }),
    shapes: keepLine(keep),
  };
  if (all.some((v) => v >= EXACT_DB)) {
    layout.annotations = [{ xref: "paper", yref: "y", x: 1, y: ceiling, text: "exact", showarrow: false, xanchor: "right", yanchor: "bottom", font: { size: 10, color: "#8a949f" } }];
  }
  draw(el, traces, layout, onPick);
}

/** MED against C: `med` is the card's flow.med ({latents, samples, by_keep: {keep, disentanglement,
 * completeness, null_disentanglement, null_completeness}, all}) or null. */
export function renderMedCurves(el, med, keep, onPick) {
  if (!plotAvailable()) return note(el, NO_PLOTLY);
  const curve = med?.by_keep;
  if (!curve?.keep?.length) {
    return note(el, "No MED against C on this card yet (run `latentatlas evaluate MODEL --add med`).");
  }
  const line = (values, name, color, dash = "solid") => ({
    x: curve.keep, y: values, name, type: "scatter", mode: dash === "solid" ? "lines+markers" : "lines",
    marker: { size: 5, color }, line: { width: dash === "solid" ? 2 : 1.5, color, dash },
    hovertemplate: `${name}: C=%{x}, %{y:.3f}<br>click: keep the top %{x}<extra></extra>`,
  });
  const traces = [
    line(curve.disentanglement, "MED D", COLORS.medD),
    line(curve.completeness, "MED C", COLORS.medC),
    line(curve.null_disentanglement, "D, shuffled rows", COLORS.null, "dash"),
    line(curve.null_completeness, "C, shuffled rows", COLORS.null, "dot"),
  ];
  const layout = { ...baseLayout("kept latents C (log)"), yaxis: axis({ title: { text: "MED (top C latents)" }, rangemode: "tozero" }), shapes: keepLine(keep) };
  draw(el, traces, layout, onPick);
}

/** One line on MED over every latent: D and C with their null, top-1 MED, the informativeness. */
export function describeMed(med) {
  const { all, by_keep: curve } = med;
  const last = curve.keep.length - 1;
  const nullText = (v) => (Number.isFinite(v) ? ` (null ${v.toFixed(3)})` : "");
  return (
    `MED on all ${med.latents} latents (${med.samples.toLocaleString("en-US")} factor samples): ` +
    `D ${all.disentanglement.toFixed(3)}${nullText(curve.null_disentanglement[last])}, ` +
    `C ${all.completeness.toFixed(3)}${nullText(curve.null_completeness[last])}` +
    (all.top1 ? `; top-1 MED D ${all.top1.disentanglement.toFixed(3)}` : "") +
    `; linear informativeness ${all.informativeness_test.toFixed(3)} (test). The curve scores the top C latents only.`
  );
}
