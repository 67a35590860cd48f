// Small DOM helpers every page shares.

/** The element with id `id` (null when the page has none). */
export const $ = (id) => document.getElementById(id);

/** The elements of `names` (camelCase keys) by their ids `${prefix}-${kebab-case name}`. */
export function byIds(prefix, names) {
  const kebab = (name) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return Object.fromEntries(names.map((name) => [name, $(`${prefix}-${kebab(name)}`)]));
}

/** A new element: `make("p", {className: "muted", textContent: "..."}, ...children)`. */
export function make(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** Show `src` in `img`, or empty it (the `empty` class keeps its box without a broken image). */
export function setImage(img, src) {
  if (src) img.src = src;
  else img.removeAttribute("src");
  img.classList.toggle("empty", !src);
}

/** Hand a URL (data:, blob:) or a Blob to the browser as a file named `filename`. */
export function download(source, filename) {
  if (!source) return;
  const href = source instanceof Blob ? URL.createObjectURL(source) : source;
  const a = make("a", { href, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  if (source instanceof Blob) setTimeout(() => URL.revokeObjectURL(href), 1000);
}
