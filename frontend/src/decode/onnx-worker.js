// A Web Worker running a model's ONNX decoder (and encoder) with ONNX Runtime Web (WASM), so
// that decoding never blocks the page. Messages in:
//   {type: "load", id, part, url, ortBase}       -> {type: "loaded", id, part, ms, downloadMs, bytes, cached}
//   {type: "run", id, part, input, dims, paint?}  -> {type: "result", id, output, dims, ms, painting}
//                                                  (painting: then {type: "frame", id, paintedAt, frameAt})
//   {type: "canvas", canvas, pageOrigin}          (no reply): an OffscreenCanvas to paint into
// `input` is a Float32Array (transferred); a decoder's `output` comes back as 8-bit RGBA pixels
// (Uint8ClampedArray, one width x height image after another), rounded like the server's PNGs
// (x * 255, clipped to [0, 255]); an encoder's as the Float32Array of latents.
// A decode with `paint` (one image) is painted into the page's canvas from here, without waiting
// for the page's thread (which may be busy rendering the rest of the input); its "frame" message
// says when: `paintedAt` (pixels in the canvas) and `frameAt` (this worker's animation frame that
// took them to the screen), in the page's clock (ms since its timeOrigin), or both null when a
// newer decode replaced it before it was painted.
// Graphs are fetched once and kept in the Cache API under their URL (which carries their
// SHA-256), so a model is downloaded once per browser, not once per visit.

let ort = null;
const sessions = new Map(); // part -> {session, input, output}
let canvas = null; // the page's decode canvas (OffscreenCanvas), once handed over
let pageOrigin = 0; // the page's performance.timeOrigin: our times in its clock
let onScreenNext = null; // the decode painted into the canvas, on screen at the next frame: {id, paintedAt}
let waiting = null; // a newer decode's pixels, painted once that frame goes: {id, rgba, width, height}
const CACHE_NAME = "latentatlas-onnx-v1";

async function runtime(ortBase) {
  if (ort) return ort;
  ort = await import(`${ortBase}ort.wasm.min.mjs`);
  ort.env.wasm.wasmPaths = ortBase;
  // One thread: multi-threaded WASM needs a cross-origin-isolated page, and measured on a
  // 2-core machine (bench/browser_decode.py) two threads decoded a 12 x 11 traversal in 420 ms
  // against 230 ms with one; large batches are split between two such workers instead
  // (browser-decoder.js).
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = "error";
  return ort;
}

/** The graphs' cache, or null without a Cache API (e.g. an opaque origin): the HTTP cache still helps. */
async function openCache() {
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return null;
  }
}

async function fetchGraph(url) {
  const cache = await openCache();
  const hit = cache ? await cache.match(url) : null;
  if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), cached: true };
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not download ${url} (HTTP ${response.status})`);
  if (cache) await cache.put(url, response.clone()).catch(() => {});
  return { bytes: new Uint8Array(await response.arrayBuffer()), cached: false };
}

async function load({ part, url, ortBase }) {
  const started = performance.now();
  const rt = await runtime(ortBase);
  const { bytes, cached } = await fetchGraph(url);
  const fetched = performance.now();
  const session = await rt.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  sessions.set(part, { session, input: session.inputNames[0], output: session.outputNames[0] });
  return { part, ms: performance.now() - started, downloadMs: fetched - started, bytes: bytes.length, cached, threads: rt.env.wasm.numThreads };
}

/** Float pixels (N, C, H, W) in [0, 1] -> N RGBA images, 8-bit, like the server's PNGs. */
function toRgba(data, [n, channels, height, width]) {
  const plane = height * width;
  const out = new Uint8ClampedArray(n * plane * 4);
  for (let i = 0; i < n; i++) {
    const src = i * channels * plane;
    const dst = i * plane * 4;
    for (let p = 0; p < plane; p++) {
      const o = dst + p * 4;
      for (let c = 0; c < 3; c++) {
        const v = data[src + (channels === 1 ? 0 : c) * plane + p];
        out[o + c] = Math.round((v > 0 ? (v < 1 ? v : 1) : 0) * 255); // NaN -> 0, like the server
      }
      out[o + 3] = 255;
    }
  }
  return out;
}

/** Now, in the page's clock. */
const pageNow = () => performance.timeOrigin + performance.now() - pageOrigin;

/** The decode `id` was on screen from `frameAt` (painted at `paintedAt`), or never (both null). */
const report = (id, paintedAt, frameAt) => self.postMessage({ type: "frame", id, paintedAt, frameAt });

/** The animation frame that takes `onScreenNext` to the screen: report it, then paint the decode
 * that waited for it, if any. */
function onFrame() {
  const shown = onScreenNext;
  onScreenNext = null;
  report(shown.id, shown.paintedAt, pageNow());
  if (waiting) {
    const next = waiting;
    waiting = null;
    putPixels(next);
  }
}

function putPixels({ id, rgba, width, height }) {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  canvas.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
  const paintedAt = pageNow();
  if (typeof requestAnimationFrame !== "function") {
    // no animation frames in this worker to time it by: taken as shown when painted
    setTimeout(() => report(id, paintedAt, paintedAt)); // after the reply
    return;
  }
  onScreenNext = { id, paintedAt };
  requestAnimationFrame(onFrame);
}

/** Paint decode `id`'s RGBA image into the page's canvas. A worker's canvas goes to the screen at
 * the worker's next animation frame (Chromium pushes it just before the frame's rAF callbacks), so
 * pixels painted over a frame not yet pushed would replace it unseen: a decode that arrives while
 * one is waiting for its frame waits too, and is painted as that frame goes (a newer one replaces
 * it there, reported as never shown). A {type: "frame"} message reports each decode. */
function paint(id, rgba, width, height) {
  if (!onScreenNext) {
    putPixels({ id, rgba, width, height });
    return;
  }
  if (waiting) report(waiting.id, null, null);
  waiting = { id, rgba: rgba.slice(), width, height };
}

async function run({ id, part, input, dims, paint: wanted }) {
  const entry = sessions.get(part);
  if (!entry) throw new Error(`the ${part} is not loaded`);
  const started = performance.now();
  const feeds = { [entry.input]: new ort.Tensor("float32", input, dims) };
  const results = await entry.session.run(feeds);
  const tensor = results[entry.output];
  const outDims = Array.from(tensor.dims);
  const output = part === "decoder" ? toRgba(tensor.data, outDims) : new Float32Array(tensor.data);
  tensor.dispose?.();
  const ms = performance.now() - started;
  const painting = Boolean(wanted && canvas && outDims[0] === 1);
  if (painting) paint(id, output, outDims[3], outDims[2]);
  return { output, dims: outDims, ms, painting };
}

self.onmessage = async (event) => {
  const message = event.data;
  try {
    if (message.type === "canvas") {
      ({ canvas, pageOrigin } = message);
    } else if (message.type === "load") {
      self.postMessage({ type: "loaded", id: message.id, ...(await load(message)) });
    } else if (message.type === "run") {
      const result = await run(message);
      self.postMessage({ type: "result", id: message.id, ...result }, [result.output.buffer]);
    }
  } catch (error) {
    self.postMessage({ type: "error", id: message.id, part: message.part, message: String(error?.message ?? error) });
  }
};
