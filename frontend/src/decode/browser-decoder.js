// Decoding in the browser: a model's ONNX decoder (and encoder) in a Web Worker running ONNX
// Runtime Web (onnx-worker.js). `OnnxModel` loads the graphs a manifest lists (GET
// /api/models/{id}/onnx, or a static site's copy of it); `BrowserDecoder` follows a slider
// like the WebSocket `LiveDecoder` does (one decode in flight, the latest latent wins) and
// paints frames through the same callback; `browserTraverse` draws a traversal grid locally,
// in the shape of the server's /traverse reply.

const ORT_BASE = new URL("../../vendor/onnxruntime-web/dist/", import.meta.url).href;

/** 8-bit RGBA pixels of `count` images of width x height, tiled `rows` x `cols` -> a PNG data URL. */
export function pixelsToDataUrl(rgba, width, height, rows = 1, cols = 1) {
  const canvas = document.createElement("canvas");
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
  return canvas.toDataURL("image/png");
}

export class OnnxModel {
  /**
   * Load the graphs of `manifest` (parts: decoder, and encoder when `withEncoder`) in a new
   * worker. `timings` then holds each part's {ms, downloadMs, bytes, cached}.
   */
  static async open(manifest, { withEncoder = false, ortBase = ORT_BASE, resolveUrl = (url) => url } = {}) {
    const model = new OnnxModel(manifest);
    const parts = ["decoder", ...(withEncoder && manifest.parts.encoder ? ["encoder"] : [])];
    try {
      for (const part of parts) model.timings[part] = await model._call({ type: "load", part, url: resolveUrl(manifest.parts[part].url), ortBase });
    } catch (error) {
      model.close();
      throw error;
    }
    return model;
  }

  constructor(manifest) {
    this.manifest = manifest;
    this.latentDim = manifest.latent_dim;
    [this.channels, this.height, this.width] = manifest.image_shape;
    this.timings = {};
    this.worker = new Worker(new URL("./onnx-worker.js", import.meta.url), { type: "module" });
    this.nextId = 1;
    this.waiting = new Map();
    this.worker.onmessage = (event) => this._reply(event.data);
    this.worker.onerror = (event) => this._failAll(new Error(event.message || "the decoding worker failed"));
  }

  get hasEncoder() {
    return "encoder" in this.timings;
  }

  _call(message, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  _reply(message) {
    const waiter = this.waiting.get(message.id);
    if (!waiter) return;
    this.waiting.delete(message.id);
    if (message.type === "error") waiter.reject(new Error(`in-browser ${message.part ?? "ONNX"}: ${message.message}`));
    else waiter.resolve(message);
  }

  _failAll(error) {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  /** Decode latents (an array of arrays) -> {rgba, ms}: 8-bit RGBA images, one after another. */
  async decode(latents) {
    const input = new Float32Array(latents.length * this.latentDim);
    latents.forEach((latent, i) => input.set(latent, i * this.latentDim));
    const reply = await this._call({ type: "run", part: "decoder", input, dims: [latents.length, this.latentDim] }, [input.buffer]);
    return { rgba: reply.output, ms: reply.ms };
  }

  /** Encode one image given as float pixels (C, H, W) in [0, 1] -> {latent, ms}. */
  async encode(pixels) {
    const input = Float32Array.from(pixels);
    const reply = await this._call({ type: "run", part: "encoder", input, dims: [1, this.channels, this.height, this.width] }, [input.buffer]);
    return { latent: Array.from(reply.output), ms: reply.ms };
  }

  close() {
    this._failAll(new Error("the model was closed"));
    this.worker.terminate();
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
  const image = pixelsToDataUrl(rgba, onnx.width, onnx.height, dims.length, columns);
  return { image, dims, values, steps: columns, tile: onnx.width, ms };
}

export class BrowserDecoder {
  /** Same callbacks as `LiveDecoder`: onFrame({image, seq, serverMs, t0, sentAt, via, workerMs,
   * rgba, width, height}), onError; `image` is made on first read, `rgba` can be painted at once. */
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
      const { rgba, ms } = await onnx.decode([latent]);
      if (onnx === this.onnx) {
        const { width, height } = onnx;
        // the pixels, to paint at once; `image` (a PNG data URL) only when asked for
        this.onFrame?.({
          rgba, width, height, seq, serverMs: null, workerMs: ms, t0, sentAt, via: "browser",
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
