// The view's state lives in the URL hash, so a view can be shared and reloaded:
//   #model=qlae-shapes3d&z=0.1234567,-1.5,...&src=ds:1234
// `z` is the current latent (7 significant digits: float32 round-trips closely enough),
// `src` the dataset index the original came from (uploads cannot be shared).

export function readUrlState(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const model = params.get("model") || null;
  let latent = null;
  const z = params.get("z");
  if (z) {
    const values = z.split(",").map((s) => Number(s));
    if (values.length && values.every((v) => Number.isFinite(v))) latent = values;
  }
  let datasetIndex = null;
  const src = params.get("src");
  if (src && /^ds:\d+$/.test(src)) datasetIndex = Number(src.slice(3));
  return { model, latent, datasetIndex, invalidLatent: Boolean(z) && !latent };
}

export function formatLatent(latent) {
  return latent.map((v) => String(Number(v.toPrecision(7)))).join(",");
}

export function buildHash({ model, latent, datasetIndex }) {
  const parts = [];
  if (model) parts.push(`model=${encodeURIComponent(model)}`);
  if (latent?.length) parts.push(`z=${formatLatent(latent)}`);
  if (datasetIndex != null) parts.push(`src=ds:${datasetIndex}`);
  return `#${parts.join("&")}`;
}

let timer = null;
let lastWritten = null;

/** Replace the URL's hash (no history entry per slider step), at most every `delay` ms. */
export function writeUrlState(state, delay = 150) {
  clearTimeout(timer);
  const write = () => {
    const hash = buildHash(state());
    if (hash !== location.hash) {
      lastWritten = hash;
      history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
    }
  };
  if (delay <= 0) write();
  else timer = setTimeout(write, delay);
}

/** True when the hash differs from what this page last wrote (a user edit or pasted link). */
export function isForeignHash() {
  return location.hash !== lastWritten;
}
