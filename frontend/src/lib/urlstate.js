// The view's state lives in the URL hash, so a view can be shared and reloaded:
//   #model=qlae-shapes3d&z=0.1234567,-1.5,...&src=ds:1234&steps=11&dim=3
//   #model=eoflow-dsprites&src=ds:1234&zt=0.5,...&c=64&sigma=0.1      (ordered latents)
// `z` is the whole latent (7 significant digits: float32 round-trips closely enough); a flow's
// latent is its image's size, so its link holds the source and `zt`, the values of its slider
// dims (the top latents) over the source's encoding. `src` is the dataset index the original
// came from; `src=upload` marks a view of an uploaded image, which no link can carry. `c` and
// `sigma` are the flow panel's C and noise, `steps` the traversal's, `dim` a focused latent dim,
// `order=info` the sliders ordered by information. The other pages keep their own keys with the
// same helpers (hashParams, replaceHash, datasetIndexOf).

const number = (text) => (text != null && text !== "" && Number.isFinite(Number(text)) ? Number(text) : null);

function numbers(text) {
  if (!text) return null;
  const values = text.split(",").map((s) => Number(s));
  return values.length && values.every((v) => Number.isFinite(v)) ? values : null;
}

/** The hash's parameters. */
export const hashParams = (hash = location.hash) => new URLSearchParams(hash.replace(/^#/, ""));

/** `ds:1234` -> 1234 (a dataset index), anything else -> null. */
export const datasetIndexOf = (src) => (src && /^ds:\d+$/.test(src) ? Number(src.slice(3)) : null);

/** Replace the hash by `#${parts.join("&")}` without a history entry; returns the hash. */
export function replaceHash(parts) {
  const hash = `#${parts.join("&")}`;
  if (hash !== location.hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
  return hash;
}

export function readUrlState(hash = location.hash) {
  const params = hashParams(hash);
  const model = params.get("model") || null;
  const z = params.get("z");
  const zt = params.get("zt");
  const latent = numbers(z);
  const top = numbers(zt);
  const src = params.get("src");
  const datasetIndex = datasetIndexOf(src);
  const integer = (name) => {
    const value = number(params.get(name));
    return value != null && Number.isInteger(value) && value >= 0 ? value : null;
  };
  return {
    model,
    latent,
    top,
    datasetIndex,
    upload: src === "upload",
    keep: integer("c"),
    sigma: number(params.get("sigma")),
    steps: integer("steps"),
    dim: integer("dim"),
    order: params.get("order") === "info" ? "info" : null,
    invalidLatent: (Boolean(z) && !latent) || (Boolean(zt) && !top),
  };
}

export function formatLatent(latent) {
  return latent.map((v) => String(Number(Number(v).toPrecision(7)))).join(",");
}

export function buildHash({ model, latent, top, datasetIndex, upload, keep, sigma, steps, dim, order }) {
  const parts = [];
  if (model) parts.push(`model=${encodeURIComponent(model)}`);
  if (latent?.length) parts.push(`z=${formatLatent(latent)}`);
  if (top?.length) parts.push(`zt=${formatLatent(top)}`);
  if (datasetIndex != null) parts.push(`src=ds:${datasetIndex}`);
  else if (upload) parts.push("src=upload");
  if (keep != null) parts.push(`c=${keep}`);
  if (sigma != null) parts.push(`sigma=${Number(sigma.toPrecision(4))}`);
  if (steps != null) parts.push(`steps=${steps}`);
  if (dim != null) parts.push(`dim=${dim}`);
  if (order) parts.push(`order=${order}`);
  return `#${parts.join("&")}`;
}

let timer = null;
let lastWritten = null;

/** Replace the URL's hash (no history entry per slider step), at most every `delay` ms. */
export function writeUrlState(state, delay = 150) {
  clearTimeout(timer);
  const write = () => {
    const hash = buildHash(state());
    if (hash !== location.hash) lastWritten = replaceHash([hash.slice(1)]);
  };
  if (delay <= 0) write();
  else timer = setTimeout(write, delay);
}

/** True when the hash differs from what this page last wrote (a user edit or pasted link). */
export function isForeignHash() {
  return location.hash !== lastWritten;
}
