// Small DOM helpers every page shares.

/** Show `src` in `img`, or empty it (the `empty` class keeps its box without a broken image). */
export function setImage(img, src) {
  if (src) img.src = src;
  else img.removeAttribute("src");
  img.classList.toggle("empty", !src);
}
