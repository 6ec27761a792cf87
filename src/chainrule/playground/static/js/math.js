// KaTeX, vendored under /static/vendor/katex (loaded by index.html as the global `katex`).
// explain's text uses the lecture's Unicode notation; `toLatex` turns one of its lines into
// LaTeX so that the paths read as the lecture's formulas too.

export function render(element, latex, display = true) {
  try {
    window.katex.render(latex, element, { displayMode: display, throwOnError: true, output: "html" });
  } catch {
    element.textContent = latex;
  }
}

export function block(latex) {
  const element = document.createElement("div");
  render(element, latex);
  return element;
}

export const stripDollars = (latex) => latex.trim().replace(/^\$\$?/, "").replace(/\$\$?$/, "");

const SYMBOL = String.raw`[A-Za-z]_(?:\{[^}]*\}|\w)(?:\^\{\([^)]*\)\})?`;
const FRACTION = new RegExp(String.raw`∂(C(?:_i)?|${SYMBOL})/∂(${SYMBOL})`, "g");

export function toLatex(line) {
  return line
    .trim()
    .replace(FRACTION, (_m, top, bottom) => String.raw`\frac{\partial ${top}}{\partial ${bottom}}`)
    .replaceAll("Σ_p", String.raw`\sum_p `)
    .replaceAll("Σ_j", String.raw`\sum_j `)
    .replaceAll("σ'", String.raw`\sigma'`)
    .replace(/\b(tanh|relu|softplus|sigmoid|identity)'/g, String.raw`\operatorname{$1}'`)
    .replaceAll("×", String.raw`\times `)
    .replaceAll("−", "-")
    .replaceAll("·", String.raw`\cdot `)
    .replace(/^p = (\d+):/, String.raw`p = $1:\quad `)
    .replace(/sum over (\d+) paths/, String.raw`\text{sum over $1 paths}`);
}
