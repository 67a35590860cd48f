// Batch upload: several images (a multiple file pick, a folder via `webkitdirectory`, or several
// files dropped on the panel) sent to POST /api/models/{id}/encode-batch in chunks within the
// server's limits (GET /api/config: files per batch, bytes per upload). Each image is shown
// beside its reconstruction with its PSNR and the server's out-of-distribution verdict; their
// latents go to `onEncoded` (the population view marks them as "yours").

import { api, modelPath, request } from "../lib/api.js";
import { make } from "../lib/dom.js";

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/webp", "image/gif"]);
const IMAGE_NAME = /\.(png|jpe?g|webp|gif)$/i;
const FORM_OVERHEAD_BYTES = 64 * 1024; // boundaries and headers, as the server allows for them

const isImage = (file) => IMAGE_TYPES.has(file.type) || (!file.type && IMAGE_NAME.test(file.name));
const nameOf = (file) => file.webkitRelativePath || file.name || "upload";

/** Consecutive chunks of `files`, each at most `count` files and `bytes` bytes (a larger file alone). */
export function chunkFiles(files, count, bytes) {
  const chunks = [];
  let chunk = [];
  let size = 0;
  for (const file of files) {
    if (chunk.length && (chunk.length >= count || size + file.size > bytes)) {
      chunks.push(chunk);
      [chunk, size] = [[], 0];
    }
    chunk.push(file);
    size += file.size;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

export class BatchPanel {
  /**
   * @param {object} els {panel, files, folder, note, grid}
   * @param {{onEncoded: (items: object[]) => void, onError: (error: Error, context: string) => void}} handlers
   */
  constructor(els, { onEncoded, onError }) {
    this.els = els;
    this.onEncoded = onEncoded;
    this.onError = onError;
    this.model = null;
    this.generation = 0;
    this.loading = false;
    for (const input of [els.files, els.folder]) {
      input.addEventListener("change", () => {
        this.encode([...input.files]);
        input.value = "";
      });
    }
    els.panel.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.stopPropagation();
      els.panel.classList.add("dragging");
    });
    els.panel.addEventListener("dragleave", () => els.panel.classList.remove("dragging"));
    els.panel.addEventListener("drop", (event) => {
      event.preventDefault();
      event.stopPropagation();
      els.panel.classList.remove("dragging");
      this.encode([...(event.dataTransfer?.files ?? [])]);
    });
  }

  get busy() {
    return this.loading;
  }

  show(model) {
    this.generation += 1;
    this.model = model;
    this.els.panel.hidden = !model.capabilities?.encode;
    this.els.grid.replaceChildren();
    delete this.els.panel.dataset.images;
  }

  /** Encode `files` (non-images skipped, and said), in chunks; then show them and hand them on. */
  async encode(files) {
    const model = this.model;
    if (!model || this.loading) return;
    const images = files.filter(isImage);
    const skipped = files.length - images.length;
    if (!images.length) {
      this.els.note.textContent = `No image among ${files.length} file(s): PNG, JPEG, WebP or GIF are read.`;
      return;
    }
    const generation = this.generation;
    this.loading = true;
    this.els.note.textContent = `Encoding ${images.length} image(s)…`;
    try {
      const limits = await api.config();
      const chunks = chunkFiles(images, limits.max_batch_images, limits.max_upload_bytes - FORM_OVERHEAD_BYTES);
      const items = [];
      for (const chunk of chunks) {
        const form = new FormData();
        for (const file of chunk) form.append("images", file, nameOf(file));
        const reply = await request(`${modelPath(model.id)}/encode-batch`, { method: "POST", body: form });
        if (generation !== this.generation) return;
        items.push(...reply.items);
      }
      this._render(items);
      const far = items.filter((item) => item.far_from_training).length;
      this.els.note.textContent =
        `${items.length} image(s) encoded in ${chunks.length} request(s)` + (skipped ? `, ${skipped} non-image file(s) skipped` : "") +
        `; ${far} far from the training data. Their latents are marked "yours" in the population view (encode it to see them).`;
      this.onEncoded(items);
    } catch (error) {
      if (generation === this.generation) {
        this.els.note.textContent = "";
        this.onError(error, "batch upload");
      }
    } finally {
      this.loading = false;
    }
  }

  _render(items) {
    const figures = items.map((item) => {
      const pair = make("div", { className: "batch-pair" },
        make("img", { src: item.input, alt: `${item.name}: as the model sees it`, className: "pixelated" }));
      if (item.reconstruction) {
        pair.append(make("img", { src: item.reconstruction, alt: `${item.name}: reconstruction`, className: "pixelated" }));
      }
      const psnr = item.psnr_db == null ? "no decoder" : `${item.psnr_db.toFixed(1)} dB`;
      const verdict = make("span", { className: item.far_from_training ? "far" : "muted",
        textContent: item.far_from_training ? "far from training" : "like training" });
      const caption = make("figcaption", { title: item.context }, make("span", { textContent: item.name }), make("br"),
        `${psnr} · `, verdict);
      const figure = make("figure", {}, pair, caption);
      figure.setAttribute("role", "listitem");
      figure.dataset.psnr = String(item.psnr_db);
      figure.dataset.far = String(item.far_from_training);
      return figure;
    });
    this.els.grid.replaceChildren(...figures);
    this.els.panel.dataset.images = String(items.length);
  }
}
