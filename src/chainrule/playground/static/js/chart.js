// The live loss chart: training loss dark, test loss light, on a shared y axis from 0.
import { css } from "./colour.js";

export function drawChart(canvas, history) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const train = history?.train_loss ?? [];
  const test = history?.test_loss ?? [];
  if (train.length < 2) return;
  const finite = [...train, ...test].filter(Number.isFinite);
  const top = Math.max(...finite, 1e-9);
  const line = (values, colour, widthPx) => {
    context.beginPath();
    values.forEach((v, i) => {
      const x = (i / (values.length - 1)) * (width - 4) + 2;
      const y = height - 4 - (Math.min(v, top) / top) * (height - 12);
      if (i === 0) context.moveTo(x, y);
      else context.lineTo(x, y);
    });
    context.strokeStyle = colour;
    context.lineWidth = widthPx;
    context.stroke();
  };
  line(test, css([150, 150, 150]), 2);
  line(train, css([30, 30, 30]), 2.5);
  context.fillStyle = "#555";
  context.font = "14px sans-serif";
  context.fillText(top.toPrecision(3), 4, 14);
}
