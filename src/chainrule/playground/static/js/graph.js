// The computation graph of one example's loss, drawn by chainrule in Python (`cr.plot.graph`)
// after a backward pass, so every box shows its gradient. The server's SVG goes into an <img>
// through a blob URL: an image cannot run script, so the drawing needs no sanitizing.
import * as api from "./api.js";

const $ = (id) => document.getElementById(id);

export function create(getSession) {
  let url = null;

  async function refresh() {
    if ($("graph_panel").hidden) return;
    const example = Number($("graph_example").value) || 0;
    const blob = await api.graph(getSession(), example);
    const image = $("graph_image");
    const loaded = new Promise((resolve, reject) => {
      image.onload = resolve;
      image.onerror = () => reject(new Error("the computation graph's SVG did not load"));
    });
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(blob);
    image.src = url;
    image.alt = `computation graph of the loss on training example ${example}`;
    await loaded;
    $("graph_panel").dataset.example = example;
  }

  async function toggle() {
    const panel = $("graph_panel");
    panel.hidden = !panel.hidden;
    $("graph_toggle").textContent = panel.hidden ? "show graph" : "hide graph";
    await refresh();
  }

  $("graph_toggle").addEventListener("click", () => toggle().catch(window.showError));
  $("graph_example").addEventListener("change", () => refresh().catch(window.showError));
  return { refresh };
}
