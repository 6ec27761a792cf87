// The output column: the decision-boundary heat map with the data on top (test points ringed
// in black), or, when the data has more than two inputs, the confusion matrix.
import { classColour, css, diverging, outputColour, paint } from "./colour.js";

export function drawBoundary(canvas, maps, data, options) {
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (!maps?.size || !data) return;
  const classes = data.classes?.length ?? 0;
  const regression = data.problem === "regression";
  const scale = regression ? targetScale(data) : 1;
  const toColour = outputColour(data.problem, classes, options.discretize);
  paint(canvas, regression ? maps.output.map((v) => v / scale) : maps.output, maps.size, toColour);
  const [xmin, xmax, ymin, ymax] = maps.extent;
  const px = (x) => ((x - xmin) / (xmax - xmin)) * canvas.width;
  const py = (y) => ((ymax - y) / (ymax - ymin)) * canvas.height;
  const dot = (x, colour, ring) => {
    context.beginPath();
    context.arc(px(x[0]), py(x[1]), 4.5, 0, 2 * Math.PI);
    context.fillStyle = css(colour);
    context.fill();
    context.lineWidth = ring ? 2 : 1;
    context.strokeStyle = ring ? "#111" : "#fff";
    context.stroke();
  };
  const colourOf = (y) => (regression ? diverging(y / scale) : classColour(y, classes));
  data.train.x.forEach((x, i) => dot(x, colourOf(data.train.y[i]), false));
  if (options.showTest) data.test.x.forEach((x, i) => dot(x, colourOf(data.test.y[i]), true));
}

function targetScale(data) {
  let top = 1e-12;
  for (const y of data.train.y) top = Math.max(top, Math.abs(y));
  return top;
}

export function legend(element, data) {
  element.replaceChildren();
  if (!data || data.problem === "regression" || !data.classes) return;
  data.classes.forEach((name, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = css(classColour(i, data.classes.length));
    item.append(swatch, document.createTextNode(String(name)));
    element.append(item);
  });
}

export function drawConfusion(element, confusion) {
  const table = document.createElement("table");
  const head = document.createElement("tr");
  head.innerHTML = "<th>true \\ predicted</th>";
  for (const name of confusion.classes) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  table.append(head);
  const top = Math.max(1, ...confusion.matrix.flat());
  confusion.matrix.forEach((row, i) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = confusion.classes[i];
    tr.append(th);
    row.forEach((count, j) => {
      const td = document.createElement("td");
      td.textContent = count;
      const strength = count / top;
      td.style.background = i === j ? `rgba(8,119,189,${strength * 0.7})` : `rgba(245,147,34,${strength * 0.7})`;
      tr.append(td);
    });
    table.append(tr);
  });
  const caption = document.createElement("caption");
  caption.textContent = "test set: rows are the true class, columns the prediction";
  table.append(caption);
  element.replaceChildren(table);
}
