// Number formats, one place for the whole app.

export const fmt = {
  /** A latent value: 3 decimals (`digits`), 1 from 100 up. */
  fixed: (v, digits = 3) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(digits)),
  /** A score: `digits` decimals, "–" for a missing or non-finite value. */
  score: (v, digits = 3) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–"),
  /** A number to `n` significant digits (as a number, trailing zeros dropped); other values as they are. */
  sig: (v, n = 3) => (typeof v === "number" ? Number(v.toPrecision(n)) : v),
};
