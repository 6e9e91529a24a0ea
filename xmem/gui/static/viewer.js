// xmem gui: the viewer. The frame and its masks on two canvases, the timeline under them, and
// going to a frame.

import { $, S } from "./state.js";
import { api, showError } from "./api.js";
import { drawDrift } from "./review.js";

// -- canvases ----------------------------------------------------------------------------

export const frameCanvas = $("frame-canvas");
export const maskCanvas = $("mask-canvas");
export const frameCtx = frameCanvas.getContext("2d");
export const maskCtx = maskCanvas.getContext("2d");
export const scratch = document.createElement("canvas");  // draw.js paints strokes on it
export const scratchCtx = scratch.getContext("2d", { willReadFrequently: true });
let lut = new Uint8Array(256 * 4);

export const W = () => S.project.width;
export const H = () => S.project.height;

function hexRgb(hex) {
  return [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
}

export function buildLut() {
  lut = new Uint8Array(256 * 4);
  for (const o of S.project.objects) {
    const [r, g, b] = hexRgb(o.color);
    lut.set([r, g, b, 140], o.id * 4);
  }
}

export function renderMask() {
  if (!S.project || !S.ids) return;
  const w = W(), h = H();
  maskCtx.clearRect(0, 0, w, h);
  if (S.showMasks) {
    const image = maskCtx.createImageData(w, h);
    const data = image.data, ids = S.ids;
    for (let p = 0, q = 0; p < ids.length; p++, q += 4) {
      const id = ids[p];
      if (id) {
        const k = id * 4;
        data[q] = lut[k]; data[q + 1] = lut[k + 1]; data[q + 2] = lut[k + 2]; data[q + 3] = lut[k + 3];
      }
    }
    maskCtx.putImageData(image, 0, 0);
  }
  if (S.polygon.length) {
    maskCtx.save();
    maskCtx.strokeStyle = "#fff";
    maskCtx.lineWidth = Math.max(1, w / 400);
    maskCtx.beginPath();
    S.polygon.forEach((p, i) => (i ? maskCtx.lineTo(p.x + 0.5, p.y + 0.5) : maskCtx.moveTo(p.x + 0.5, p.y + 0.5)));
    maskCtx.stroke();
    for (const p of S.polygon) maskCtx.fillRect(p.x - 1, p.y - 1, 3, 3);
    maskCtx.restore();
  }
}

export function toggleMasks(show) {
  S.showMasks = show;
  $("show-overlay").checked = show;
  renderMask();
}

// The frame at the largest size that fits beside the panels and above the timeline.
export function layout() {
  if (!S.project) return;
  const room = $("viewer").clientWidth;
  const tall = Math.max(120, window.innerHeight - $("stage").getBoundingClientRect().top - 80);
  const scale = Math.min(room / W(), tall / H());
  for (const c of [frameCanvas, maskCanvas]) {
    c.style.width = `${Math.floor(W() * scale)}px`;
    c.style.height = `${Math.floor(H() * scale)}px`;
  }
}

// -- timeline ----------------------------------------------------------------------------

// A strip canvas (the timeline, the drift marks) cleared at the page's width in device pixels.
export function clearedStrip(id) {
  const canvas = $(id);
  const width = Math.max(1, Math.round(canvas.clientWidth * devicePixelRatio));
  const height = canvas.height;
  if (canvas.width !== width) canvas.width = width;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

export function drawTimeline() {
  const { ctx, width, height } = clearedStrip("timeline");
  if (!S.project) return;
  const n = S.project.frames;
  const x = (i) => (i / n) * width;
  ctx.fillStyle = "#2e8b57";
  for (const [a, b] of S.tracked) ctx.fillRect(x(a), 4, Math.max(1, x(b + 1) - x(a)), height - 8);
  ctx.fillStyle = "#f0a030";
  for (const i of S.human) ctx.fillRect(x(i), 0, Math.max(2, width / n), height);
  ctx.fillStyle = "#3a8ee6";
  for (const i of S.project.pinned || []) ctx.fillRect(x(i), 0, Math.max(2, width / n), 4);
  ctx.fillStyle = "#fff";
  ctx.fillRect(x(S.index), 0, Math.max(1, width / n), height);
  drawDrift();  // review.js: the drift strip under it
}

export function markTracked(index) {
  for (const run of S.tracked) if (index >= run[0] && index <= run[1]) return;
  S.tracked.push([index, index]);
}

// The frame a click on a strip (the timeline, the drift marks) points at.
export function stripFrame(event) {
  const rect = event.target.getBoundingClientRect();
  return Math.floor(((event.clientX - rect.left) / rect.width) * S.project.frames);
}

// -- frames ------------------------------------------------------------------------------

function loadImage(index) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load frame ${index}`));
    img.src = `/api/frame/${index}`;
  });
}

async function fetchMask(index) {
  if (S.unsaved.has(index)) return { ids: S.unsaved.get(index).slice(), human: true };
  const response = await api("GET", `/api/mask/${index}`);
  const ids = new Uint8Array(await response.arrayBuffer());
  return { ids, human: response.headers.get("X-XMem-Human") === "1" };
}

// The frame label and the slider at frame `index`.
export function showIndex(index) {
  S.index = index;
  $("slider").value = index;
  $("frame-label").textContent = `${index} / ${S.project.frames - 1}  (${S.project.names[index]})`;
}

export async function goto(index) {
  if (!S.project) return;
  index = Math.max(0, Math.min(S.project.frames - 1, index));
  if (S.polygon.length) S.polygon = [];
  showIndex(index);
  drawTimeline();
  const token = ++S.loadToken;
  S.loading = true;
  try {
    const [img, mask] = await Promise.all([loadImage(index), fetchMask(index)]);
    if (token !== S.loadToken) return;
    frameCtx.drawImage(img, 0, 0);
    S.ids = mask.ids;
    if (mask.human) S.human.add(index);
    $("human-label").hidden = !S.human.has(index);
    renderMask();
  } catch (e) {
    if (token === S.loadToken) showError(e.message);
  } finally {
    if (token === S.loadToken) S.loading = false;
  }
}
