// The disentanglement scores of one or more models' cards as a table (the static site's card, the
// side-by-side page): one row per score any of them has, one column per model.

import { SCORES, modelMetrics } from "./metrics.js";

/** Fill `table` with the scores of `models`; `caption` (optional) above it; `head`: a header row of
 * model ids (by default when there are several). */
export function renderScoreTable(table, models, { caption = "", head = models.length > 1 } = {}) {
  table.replaceChildren();
  if (caption) table.createCaption().textContent = caption;
  if (head) {
    const row = table.createTHead().insertRow();
    row.append(Object.assign(document.createElement("th"), { textContent: "score" }));
    for (const m of models) row.append(Object.assign(document.createElement("th"), { textContent: m.id }));
  }
  const body = table.createTBody();
  for (const [label, value, , description] of SCORES) {
    const values = models.map((m) => modelMetrics(m)?.values).map((v) => (v ? value(v) : undefined));
    if (!values.some((v) => typeof v === "number")) continue;
    const row = body.insertRow();
    const name = row.insertCell();
    name.textContent = label;
    name.title = description;
    for (const v of values) row.insertCell().textContent = typeof v === "number" ? v.toFixed(3) : "–";
  }
}

/** The static site's panel: the shown model's scores, captioned with their samples and seed. */
export class ScoreTable {
  constructor(table) {
    this.table = table;
  }

  show(model) {
    const metrics = modelMetrics(model);
    if (!metrics) return this.table.replaceChildren();
    renderScoreTable(this.table, [model], { caption: `From the card: ${metrics.samples.toLocaleString()} samples, seed ${metrics.seed}` });
  }
}
