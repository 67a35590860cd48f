// Training curves on a y axis the reader picks. A log axis shows decades but cannot show values
// <= 0 (a WGAN critic's loss, a flow's negative log-likelihood or MTC); a linear one shows every
// value. "auto" is log when every value is positive, else linear. Nothing is dropped silently:
// what a log axis cannot show is counted and said (scaleNote).

import { axis } from "./plot.js";

export const SCALES = ["auto", "log", "linear"];

/** The axis type for `values` (every curve's numbers) under `requested`, and how many values a log axis hides. */
export function chooseScale(values, requested = "auto") {
  const finite = values.map(Number).filter(Number.isFinite);
  const nonPositive = finite.filter((v) => v <= 0).length;
  const type = requested === "auto" ? (nonPositive ? "linear" : "log") : requested;
  return { type, hidden: type === "log" ? nonPositive : 0, nonPositive };
}

/** One curve's values for an axis of `type` (null: a gap, for non-finite values and, on log, values <= 0). */
export function curveY(values, type) {
  return values.map((v) => {
    const n = Number(v);
    return Number.isFinite(n) && (type !== "log" || n > 0) ? n : null;
  });
}

/** The y axis: on log, whole decades labelled when the values span more than two. */
export function yAxis(type, label, values) {
  if (type !== "log") return axis({ type: "linear", title: { text: label } });
  const positive = values.map(Number).filter((v) => Number.isFinite(v) && v > 0);
  const decades = positive.length ? Math.log10(Math.max(...positive)) - Math.log10(Math.min(...positive)) : 0;
  const ticks = decades > 2 ? { dtick: 1 } : {};
  return axis({ type: "log", title: { text: `${label} (log)` }, exponentformat: "power", ...ticks });
}

/** What the axis leaves out, in words ("" when nothing). */
export function scaleNote({ type, hidden, nonPositive }) {
  if (hidden) {
    return `${hidden} values ≤ 0 cannot be drawn on a log axis and are left out: choose linear to see them.`;
  }
  if (type === "linear" && nonPositive) {
    return `Linear axis: ${nonPositive} values are ≤ 0 (a log axis could not show them).`;
  }
  return "";
}

/** A labelled "y axis: auto / log / linear" select (ids from `id`) calling onChange(scale). */
export function scaleControl(id, onChange) {
  const wrap = Object.assign(document.createElement("span"), { className: "scale-control" });
  const label = Object.assign(document.createElement("label"), { htmlFor: id, className: "muted" });
  label.textContent = "y axis ";
  const select = Object.assign(document.createElement("select"), { id });
  select.append(...SCALES.map((s) => new Option(s, s)));
  select.addEventListener("change", () => onChange(select.value));
  wrap.append(label, select);
  return { wrap, select };
}
