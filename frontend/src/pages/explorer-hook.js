// A small hook for tests and benchmarks (window.__latentAtlas): the explorer's model, latent,
// where it decodes, the latest frame's timings, and whether the page is idle.

import { activity } from "../lib/api.js";
import { anyBusy } from "../lib/store.js";
import { browserTraverse, paintTiles } from "../decode/browser-decoder.js";
import { sliderLimit } from "../panels/latent.js";

export function installHook({ store, decoder, decodeView, panels }) {
  const timings = decodeView.timings;
  const onnx = () => {
    if (!decoder.onnx) throw new Error("the selected model does not decode in this browser");
    return decoder.onnx;
  };
  window.__latentAtlas = {
    get lastDecodeMs() {
      return timings.lastDecodeMs; // input event -> decoded image shown (ms)
    },
    get lastServerMs() {
      return timings.lastServerMs; // server-side decode time (ms), WebSocket only
    },
    get lastRoundTripMs() {
      return timings.lastRoundTripMs; // message sent -> reply received (ms)
    },
    get frames() {
      return timings.frames;
    },
    get latent() {
      return store.state.latent ? store.state.latent.slice() : null;
    },
    get modelId() {
      return store.state.model?.id ?? null;
    },
    get liveState() {
      return decoder.liveState;
    },
    /** "browser" when slider decodes run in this page (ONNX Runtime Web), else "server". */
    get decodePath() {
      return decoder.inBrowser ? "browser" : "server";
    },
    /** The ONNX graphs' load timings of the selected model ({decoder: {ms, downloadMs, bytes, cached}}). */
    get onnxTimings() {
      return decoder.onnx ? { ...decoder.onnx.timings } : null;
    },
    /** Decoder workers of the selected model in use: 2 once the second (for large batches) has loaded. */
    get decodeWorkers() {
      return decoder.onnx?.split ? 2 : 1;
    },
    /** Decode latents in the page (the browser path) -> RGBA arrays; for agreement tests. */
    async decodeInBrowser(latents) {
      const model = onnx();
      const { rgba } = await model.decode(latents);
      const plane = model.width * model.height * 4;
      return latents.map((_, i) => Array.from(rgba.subarray(i * plane, (i + 1) * plane)));
    },
    /** Decode the selected model's traversal grid (every slider dim x `steps`) in the page and paint it; {ms, decodeMs, dims, steps}. */
    async timeTraversal(steps = 11) {
      const model = onnx();
      if (!store.state.latent) throw new Error("no latent yet");
      const dims = Array.from({ length: sliderLimit(store.state.model) }, (_, d) => d);
      const t0 = performance.now();
      const grid = await browserTraverse(model, store.state.latent.slice(), dims, steps);
      // decoded and painted, as the traversal panel paints a grid of the shape it shows
      paintTiles(document.createElement("canvas"), grid.rgba, grid.width, grid.height, grid.dims.length, grid.steps);
      return { ms: performance.now() - t0, decodeMs: grid.ms, dims: grid.dims.length, steps: grid.steps };
    },
    /** No request in flight, no decode pending, no panel at work. */
    get idle() {
      return activity.inflight === 0 && !decoder.busy && !anyBusy(panels);
    },
  };
}
