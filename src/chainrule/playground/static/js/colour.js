// Colours and heat maps. Orange is negative (class 0), blue is positive (class 1), as on
// TensorFlow Playground; more classes take a categorical palette.

const NEGATIVE = [245, 147, 34];
const POSITIVE = [8, 119, 189];
const MIDDLE = [232, 234, 235];
export const PALETTE = [
  [245, 147, 34], [8, 119, 189], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));

// v in [−1, 1] (clamped) to a colour through the light middle.
export function diverging(v) {
  const t = Math.max(-1, Math.min(1, v));
  return t < 0 ? mix(MIDDLE, NEGATIVE, -t) : mix(MIDDLE, POSITIVE, t);
}

export const css = (rgb, alpha = 1) => `rgba(${rgb[0]},${rgb[1]},${rgb[2]},${alpha})`;

export function classColour(index, classes) {
  if (classes <= 2) return index === 0 ? NEGATIVE : POSITIVE;
  return PALETTE[index % PALETTE.length];
}

// Paint `values` (size×size, row 0 at the top) onto a canvas with `toColour`.
export function paint(canvas, values, size, toColour) {
  const scratch = document.createElement("canvas");
  scratch.width = size;
  scratch.height = size;
  const context = scratch.getContext("2d");
  const image = context.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const [r, g, b] = toColour(values[i]);
    image.data.set([r, g, b, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  const target = canvas.getContext("2d");
  target.imageSmoothingEnabled = true;
  target.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

// How the output map is coloured: P(class 1) for two classes, the class index for more,
// the prediction for regression; `discrete` snaps to the decided class or sign.
export function outputColour(problem, classes, discrete) {
  if (problem === "regression") return (v) => diverging(discrete ? Math.sign(v) : v);
  if (classes > 2) return (v) => mix(MIDDLE, PALETTE[Math.round(v) % PALETTE.length], 0.55);
  return (v) => {
    const t = 2 * v - 1;
    return diverging(discrete ? Math.sign(t) : t);
  };
}
