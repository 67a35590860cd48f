// Decoding in the browser: a model's ONNX decoder (and encoder) in a Web Worker running ONNX
// Runtime Web (onnx-worker.js). `OnnxModel` loads the graphs a manifest lists (GET
// /api/models/{id}/onnx, or a static site's copy of it); `BrowserDecoder` follows a slider
// like the WebSocket `LiveDecoder` does (one decode in flight, the latest latent wins) and hands
// frames to the same callback (painted by the worker itself once the page gave it a canvas);
// `browserTraverse` decodes a traversal grid locally, in the shape of the server's /traverse
// reply, with its pixels to paint at once.

const ORT_BASE = new URL("../../vendor/onnxruntime-web/dist/", import.meta.url).href;

/** How long a view showing pixels decoded in the page (painted into a canvas at once) waits for
 * them to stop changing before it encodes their PNG for its <img>, downloads and links: encoding a
 * PNG on every frame of a drag, or every grid, took several ms of the page's thread each time. */
export const PNG_AFTER_MS = 120;

/** Paint 8-bit RGBA pixels of images of width x height, one after another, tiled `rows` x `cols`,
 * into `canvas` (resized to fit). */
export function paintTiles(canvas, rgba, width, height, rows = 1, cols = 1) {
  canvas.width = cols * width;
  canvas.height = rows * height;
  const ctx = canvas.getContext("2d");
  const plane = width * height * 4;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const offset = (r * cols + c) * plane;
      if (offset >= rgba.length) continue;
      ctx.putImageData(new ImageData(rgba.slice(offset, offset + plane), width, height), c * width, r * height);
    }
  }
  return canvas;
}

/** The same tiles as a PNG data URL. */
export function pixelsToDataUrl(rgba, width, height, rows = 1, cols = 1) {
  return paintTiles(document.createElement("canvas"), rgba, width, height, rows, cols).toDataURL("image/png");
}

/** A painting decode's times when a newer one replaced it before it reached the screen. */
const NOT_SHOWN = Object.freeze({ paintedAt: null, frameAt: null });

/** One Web Worker running onnx-worker.js, with its requests awaiting replies. */
class OnnxWorker {
  constructor() {
    this.worker = new Worker(new URL("./onnx-worker.js", import.meta.url), { type: "module" });
    this.nextId = 1;
    this.waiting = new Map();
    this.frames = new Map(); // painting decodes' ids -> resolve({paintedAt, frameAt}): when they were shown
    this.worker.onmessage = (event) => this._reply(event.data);
    this.worker.onerror = (event) => this.failAll(new Error(event.message || "the decoding worker failed"));
  }

  call(message, transfer = []) {
    return this._send(this.nextId++, message, transfer);
  }

  /** A decode that paints into the worker's canvas -> {reply, frame}: the reply, and a promise of
   * {paintedAt, frameAt} (page clock): when it was painted and the animation frame that took it to
   * the screen began, or both null where a newer decode replaced it unseen. */
  callPainting(message, transfer = []) {
    const id = this.nextId++;
    const frame = new Promise((resolve) => this.frames.set(id, resolve));
    return { reply: this._send(id, message, transfer), frame };
  }

  _send(id, message, transfer) {
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  _reply(message) {
    if (message.type === "frame") {
      this._frameShown(message.id, { paintedAt: message.paintedAt, frameAt: message.frameAt });
      return;
    }
    if (message.type === "error") this._frameShown(message.id, NOT_SHOWN);
    const waiter = this.waiting.get(message.id);
    if (!waiter) return;
    this.waiting.delete(message.id);
    if (message.type === "error") waiter.reject(new Error(`in-browser ${message.part ?? "ONNX"}: ${message.message}`));
    else waiter.resolve(message);
  }

  _frameShown(id, times) {
    this.frames.get(id)?.(times);
    this.frames.delete(id);
  }

  failAll(error) {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
    for (const resolve of this.frames.values()) resolve(NOT_SHOWN);
    this.frames.clear();
  }

  terminate(error) {
    this.failAll(error);
    this.worker.terminate();
  }
}

/** Batches of at least this many latents are split between the two decoder workers once the
 * second is ready: a 12 x 10 traversal of qlae-shapes3d took 223 ms in one worker and 123 ms in
 * two on the project's 2-core machine (WASM threads, which need a cross-origin-isolated page,
 * were slower there: 420 ms). A slider's single decodes stay on the first worker. */
const SPLIT_BATCH = 32;

export class OnnxModel {
  /**
   * Load the graphs of `manifest` (parts: decoder, and encoder when `withEncoder`) in a new
   * worker (the first large batch loads the decoder in a second one, in the background).
   * `timings` then holds each part's {ms, downloadMs, bytes, cached}.
   */
  static async open(manifest, { withEncoder = false, ortBase = ORT_BASE, resolveUrl = (url) => url } = {}) {
    const model = new OnnxModel(manifest);
    const parts = ["decoder", ...(withEncoder && manifest.parts.encoder ? ["encoder"] : [])];
    const load = (part) => ({ type: "load", part, url: resolveUrl(manifest.parts[part].url), ortBase });
    try {
      for (const part of parts) model.timings[part] = await model.main.call(load(part));
    } catch (error) {
      model.close();
      throw error;
    }
    model.decoderLoad = load("decoder");
    return model;
  }

  constructor(manifest) {
    this.manifest = manifest;
    this.latentDim = manifest.latent_dim;
    [this.channels, this.height, this.width] = manifest.image_shape;
    this.timings = {};
    this.main = new OnnxWorker();
    this.decoderLoad = null; // the decoder's load message, for the second worker
    this.second = null; // the decoder again, for the second half of large batches (started by the first)
    this.split = false; // whether the second worker has loaded it
    this.painting = false; // whether the first worker paints single decodes into the page's canvas
  }

  get hasEncoder() {
    return "encoder" in this.timings;
  }

  /** Decode latents (an array of arrays) -> {rgba, ms}: 8-bit RGBA images, one after another;
   * a large batch is halved between the two workers once the second is ready. */
  async decode(latents) {
    if (latents.length >= SPLIT_BATCH && !this.second && this.decoderLoad) this._startSecond();
    if (latents.length >= SPLIT_BATCH && this.split) {
      const half = Math.ceil(latents.length / 2);
      const [first, second] = await Promise.all([
        this._decodeOn(this.main, latents.slice(0, half)),
        this._decodeOn(this.second, latents.slice(half)),
      ]);
      const rgba = new Uint8ClampedArray(first.rgba.length + second.rgba.length);
      rgba.set(first.rgba);
      rgba.set(second.rgba, first.rgba.length);
      return { rgba, ms: Math.max(first.ms, second.ms) };
    }
    return this._decodeOn(this.main, latents);
  }

  /** Load the decoder in a second worker, in the background; until it is ready (or if it fails)
   * the first worker decodes everything. */
  _startSecond() {
    this.second = new OnnxWorker();
    this.second.call(this.decoderLoad).then(
      () => (this.split = true),
      () => {},
    );
  }

  _decodeOn(worker, latents) {
    return this._unpack(worker.call(...this._runMessage(latents)));
  }

  _runMessage(latents, paint = false) {
    const input = new Float32Array(latents.length * this.latentDim);
    latents.forEach((latent, i) => input.set(latent, i * this.latentDim));
    return [{ type: "run", part: "decoder", input, dims: [latents.length, this.latentDim], paint }, [input.buffer]];
  }

  async _unpack(reply) {
    const { output, ms } = await reply;
    return { rgba: output, ms };
  }

  /** Hand the page's canvas over to the first worker, which from now on paints each single
   * decode (`decodeAndPaint`) into it itself: the frame is on screen without a trip through the
   * page's thread. `canvas` is an HTMLCanvasElement not yet transferred. */
  paintInto(canvas) {
    const offscreen = canvas.transferControlToOffscreen();
    this.main.worker.postMessage({ type: "canvas", canvas: offscreen, pageOrigin: performance.timeOrigin }, [offscreen]);
    this.painting = true;
  }

  /** Decode one latent and, once `paintInto` gave the worker a canvas, paint it there -> {rgba,
   * ms, frame}: `frame` promises when it was painted and shown ({paintedAt, frameAt}, page clock;
   * both null if it never was), or is null when the page is to paint it. */
  async decodeAndPaint(latent) {
    if (!this.painting) return { ...(await this._decodeOn(this.main, [latent])), frame: null };
    const { reply, frame } = this.main.callPainting(...this._runMessage([latent], true));
    return { ...(await this._unpack(reply)), frame };
  }

  /** Encode one image given as float pixels (C, H, W) in [0, 1] -> {latent, ms}. */
  async encode(pixels) {
    const input = Float32Array.from(pixels);
    const reply = await this.main.call({ type: "run", part: "encoder", input, dims: [1, this.channels, this.height, this.width] }, [input.buffer]);
    return { latent: Array.from(reply.output), ms: reply.ms };
  }

  close() {
    const closed = new Error("the model was closed");
    this.main.terminate(closed);
    this.second?.terminate(closed);
  }
}

/** The values a traversal sweeps for each dim: the manifest's codebook, or `steps` values over its span. */
export function sweepValues(sweep, steps) {
  if (Array.isArray(sweep.values)) return sweep.values.slice();
  if (steps <= 1) return [(sweep.low + sweep.high) / 2];
  return Array.from({ length: steps }, (_, i) => sweep.low + ((sweep.high - sweep.low) * i) / (steps - 1));
}

/** A traversal grid decoded in the browser: the server's /traverse reply, same shape. */
export async function browserTraverse(onnx, latent, dims, steps) {
  const values = dims.map((d) => sweepValues(onnx.manifest.sweeps[d], steps));
  const columns = values[0].length;
  const batch = [];
  dims.forEach((d, row) => {
    for (let c = 0; c < columns; c++) {
      const z = latent.slice();
      z[d] = values[row][c] ?? z[d];
      batch.push(z);
    }
  });
  const { rgba, ms } = await onnx.decode(batch);
  const { width, height } = onnx;
  let png = null;
  // the pixels, to paint at once (TraversalView); `image`, the PNG, only when first read
  return {
    dims, values, steps: columns, tile: width, ms, rgba, width, height,
    get image() {
      png ??= pixelsToDataUrl(rgba, width, height, dims.length, columns);
      return png;
    },
  };
}

export class BrowserDecoder {
  /** Same callbacks as `LiveDecoder`: onFrame({image, seq, serverMs, t0, sentAt, via, workerMs,
   * rgba, width, height, frameShown}), onError; `image` is made on first read; the worker paints
   * `rgba` into the page's canvas itself when `frameShown` is set (it promises {paintedAt,
   * frameAt}: when), else it can be painted at once. */
  constructor({ onFrame, onError }) {
    this.onFrame = onFrame;
    this.onError = onError;
    this.onnx = null;
    this.pending = null;
    this.inFlight = false;
    this.seq = 0;
  }

  use(onnx) {
    this.onnx = onnx;
    this.pending = null;
  }

  get busy() {
    return this.inFlight || Boolean(this.pending);
  }

  request(latent, t0 = performance.now()) {
    if (!this.onnx) return;
    this.pending = { latent: Array.from(latent), t0: this.pending ? Math.min(this.pending.t0, t0) : t0 };
    this._pump();
  }

  async _pump() {
    if (this.inFlight || !this.pending || !this.onnx) return;
    const { latent, t0 } = this.pending;
    this.pending = null;
    this.inFlight = true;
    const onnx = this.onnx;
    const seq = ++this.seq;
    const sentAt = performance.now();
    try {
      const { rgba, ms, frame } = await onnx.decodeAndPaint(latent);
      if (onnx === this.onnx) {
        const { width, height } = onnx;
        // the pixels, painted by the worker (`frameShown`) or to paint at once; `image` (a PNG
        // data URL) only when asked for
        this.onFrame?.({
          rgba, width, height, frameShown: frame, seq, serverMs: null, workerMs: ms, t0, sentAt, via: "browser",
          get image() {
            return pixelsToDataUrl(rgba, width, height);
          },
        });
      }
    } catch (error) {
      if (onnx === this.onnx) this.onError?.(error.message);
    } finally {
      this.inFlight = false;
      this._pump();
    }
  }
}
