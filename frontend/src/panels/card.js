// A model's card as a list of facts (the explorer and the static site): what it is, what it
// was trained on, for how long and how well, from the server's model description.

function fact(dl, term, value, title) {
  if (value == null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (title) dd.title = title;
  dl.append(dt, dd);
}

/** The main facts of `model` (ModelDetail) into `dl`; every other short card field into `extra` (optional). */
export function renderCardFacts(model, dl, extra = null) {
  dl.replaceChildren();
  extra?.replaceChildren();
  const card = model.card ?? {};
  const heldout = model.heldout ?? card.heldout ?? {};
  const num = (v, digits = 2) => (typeof v === "number" ? v.toFixed(digits) : v);
  fact(dl, "Kind", model.kind?.toUpperCase());
  fact(dl, "Family", model.family);
  fact(dl, "Dataset", `${model.dataset}${model.dataset_size ? ` (${model.dataset_size.toLocaleString()} images)` : ""}`);
  fact(dl, "Images", `${model.image_size}×${model.image_size} × ${model.channels} ch`);
  const codebookSize = Array.isArray(model.codebooks) ? model.codebooks[0]?.length : null;
  fact(dl, "Latents", `${model.latent_dim}${codebookSize ? ` × ${codebookSize} codes` : " continuous"}`);
  if (model.factor_names?.length) {
    fact(dl, "Factors", model.factor_names.map((n, i) => `${n} (${model.factor_sizes?.[i] ?? "?"})`).join(", "));
  }
  fact(dl, "Steps", model.steps?.toLocaleString());
  if (heldout.psnr_db != null) fact(dl, "Held-out PSNR", `${num(heldout.psnr_db)} dB`, heldout.samples ? `${heldout.samples} held-out images` : "");
  if (heldout.iou != null) fact(dl, "Held-out IoU", num(heldout.iou, 3));
  if (card.wall_seconds != null) fact(dl, "Training time", `${(card.wall_seconds / 60).toFixed(1)} min${card.device ? ` on ${card.device}` : ""}`);
  if (!extra) return;
  const shown = new Set(["curves", "latent_stats", "heldout", "dataset", "id", "kind", "steps"]);
  for (const [key, value] of Object.entries(card)) {
    if (shown.has(key) || value == null) continue;
    if (typeof value === "object") {
      const text = JSON.stringify(value);
      if (text.length <= 200) fact(extra, key, text);
    } else {
      fact(extra, key, typeof value === "number" ? String(Number(value.toPrecision(6))) : String(value));
    }
  }
}
