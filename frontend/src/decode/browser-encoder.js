// Encoding in this page (the static site): an image is read, centre-cropped, resized and encoded
// by the model's ONNX encoder in the decoding worker, and never sent anywhere. `browserEncoder`
// is the images panel's encoder (panels/source.js) for a page without a server.

import { pixelsToDataUrl } from "./browser-decoder.js";

/** An image (Blob or URL) -> its pixels as the model sees them: centre-cropped to a square,
 * resized to the model's size, transparency on black, grey as ITU-R 601 luma (like the server). */
async function modelPixels(source, channels, size) {
  let input = source;
  if (typeof source === "string") {
    // a sample's data URL: through an <img> (the page's CSP lets images, not fetch, read data: URLs)
    input = new Image();
    input.src = source;
    await input.decode();
  }
  const bitmap = await createImageBitmap(input); // a file's EXIF orientation is applied
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, size, size);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, Math.floor((bitmap.width - side) / 2), Math.floor((bitmap.height - side) / 2), side, side, 0, 0, size, size);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const plane = size * size;
  const pixels = new Float32Array(channels * plane);
  for (let p = 0; p < plane; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (channels === 1) {
      const grey = Math.round((r * 299 + g * 587 + b * 114) / 1000);
      pixels[p] = grey / 255;
      rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = grey;
    } else {
      pixels[p] = r / 255;
      pixels[plane + p] = g / 255;
      pixels[2 * plane + p] = b / 255;
    }
  }
  return { pixels, preview: pixelsToDataUrl(new Uint8ClampedArray(rgba), size, size) };
}

/** The encoder of a page whose `decoder` (a DecoderStrategy) runs the model's ONNX graphs here. */
export function browserEncoder(decoder) {
  return {
    where: " in your browser",
    canEncode: () => Boolean(decoder.onnx?.hasEncoder),
    samples: async (model) => model.samples ?? [],
    async encode(model, source) {
      const onnx = decoder.onnx;
      if (!onnx?.hasEncoder) throw new Error(`${model.id}'s encoder is not available in this site: move the sliders instead`);
      const image = source.type === "file" ? source.file : source.image;
      const { pixels, preview } = await modelPixels(image, model.channels, model.image_size);
      const { latent, ms } = await onnx.encode(pixels);
      const { rgba } = await onnx.decode([latent]);
      const heldout = model.heldout?.psnr_db != null ? `; held-out PSNR ${model.heldout.psnr_db.toFixed(1)} dB` : "";
      return {
        input: preview,
        reconstruction: pixelsToDataUrl(rgba, onnx.width, onnx.height),
        latent,
        ms,
        context: `${model.id} was trained on ${model.dataset}${heldout}.`,
      };
    },
  };
}
