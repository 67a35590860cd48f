// Exports for papers, as downloads: the traversal as a labelled PNG grid or an animated GIF
// (drawn by the server from the latent, dims and steps on screen), the model's metric matrices
// as CSV or JSON (the server's export of its card), and the current latent as CSV or JSON
// (the numbers this page holds, written out as they are).

import { modelPath, request } from "../lib/api.js";
import { download } from "../lib/dom.js";

/** The latent as CSV: `dim,value,name` (name: the dim's label on the page, if any). */
function latentCsv(latent, names) {
  const quote = (text) => (/[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  const rows = latent.map((v, d) => `z${d},${v},${quote(names[d] ?? "")}`);
  return ["dim,value,name", ...rows].join("\n") + "\n";
}

export class ExportButtons {
  /**
   * @param {object} els  {traversalPng, traversalGif, metricsCsv, metricsJson, latentCsv, latentJson}
   * @param {() => {model, latent, dims, steps, names}} current  what the page shows now
   * @param {(error, context) => void} onError
   */
  constructor(els, current, onError) {
    this.current = current;
    this.onError = onError;
    const run = (button, what, work) =>
      button.addEventListener("click", async () => {
        const now = this.current();
        if (!now.model) return;
        button.disabled = true;
        try {
          await work(now);
        } catch (error) {
          onError(error, what);
        } finally {
          button.disabled = false;
        }
      });
    for (const [button, format] of [[els.traversalPng, "png"], [els.traversalGif, "gif"]]) {
      run(button, `traversal ${format.toUpperCase()}`, (now) => this.traversal(now, format));
    }
    for (const [button, format] of [[els.metricsCsv, "csv"], [els.metricsJson, "json"]]) {
      run(button, `metrics ${format.toUpperCase()}`, (now) => this.metrics(now, format));
    }
    for (const [button, format] of [[els.latentCsv, "csv"], [els.latentJson, "json"]]) {
      run(button, `latent ${format.toUpperCase()}`, (now) => this.latent(now, format));
    }
  }

  async traversal({ model, latent, dims, steps }, format) {
    if (!latent) return;
    const json = { latent, dims: dims ?? null, steps, format };
    const blob = await request(`${modelPath(model.id)}/traverse/export`, { method: "POST", json, expect: "blob" });
    download(blob, `${model.id}-traversal.${format}`);
  }

  async metrics({ model }, format) {
    const blob = await request(`${modelPath(model.id)}/metrics/export?format=${format}`, { expect: "blob" });
    download(blob, `${model.id}-metrics.${format}`);
  }

  latent({ model, latent, names }, format) {
    if (!latent) return;
    const text =
      format === "csv"
        ? latentCsv(latent, names)
        : JSON.stringify({ model_id: model.id, latent, names: latent.map((_, d) => names[d] ?? null) }, null, 1);
    download(new Blob([text], { type: format === "csv" ? "text/csv" : "application/json" }), `${model.id}-latent.${format}`);
  }
}
