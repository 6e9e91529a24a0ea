// xmem gui: the drawing tools on the mask canvas. Brush, eraser, polygon and fill holes; each
// change is saved as a person's (edits.js).

import { $, S } from "./state.js";
import { showError } from "./api.js";
import { H, W, maskCanvas, renderMask, scratchCtx } from "./viewer.js";
import { checkpoint, save } from "./edits.js";

function canDraw() {
  if (!S.project || !S.ids) return false;
  if (S.selected === null) { showError("add an object first (+ Add object)"); return false; }
  if (S.job && S.job.running && S.job.kind !== "export") { showError("wait for tracking to finish, or stop it, before drawing"); return false; }
  return true;
}

function framePoint(event) {
  const rect = maskCanvas.getBoundingClientRect();
  return {
    x: Math.floor(((event.clientX - rect.left) / rect.width) * W()),
    y: Math.floor(((event.clientY - rect.top) / rect.height) * H()),
  };
}

// Pixels the scratch canvas covers (alpha >= 128) in the box become the object (or are erased).
function applyScratch(x0, y0, w, h, erase) {
  if (w <= 0 || h <= 0) return;
  const data = scratchCtx.getImageData(x0, y0, w, h).data;
  const ids = S.ids, width = W(), id = S.selected;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (data[(y * w + x) * 4 + 3] < 128) continue;
      const p = (y0 + y) * width + x0 + x;
      if (!erase) ids[p] = id;
      else if (ids[p] === id) ids[p] = 0;
    }
  }
}

function paintSegment(a, b, erase) {
  const r = S.size / 2 + 2;
  const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x) - r));
  const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y) - r));
  const x1 = Math.min(W(), Math.ceil(Math.max(a.x, b.x) + r + 1));
  const y1 = Math.min(H(), Math.ceil(Math.max(a.y, b.y) + r + 1));
  scratchCtx.clearRect(x0, y0, x1 - x0, y1 - y0);
  scratchCtx.fillStyle = scratchCtx.strokeStyle = "#fff";
  scratchCtx.lineWidth = S.size;
  scratchCtx.lineCap = "round";
  scratchCtx.beginPath();
  scratchCtx.moveTo(a.x + 0.5, a.y + 0.5);
  scratchCtx.lineTo(b.x + 0.5, b.y + 0.5);
  scratchCtx.stroke();
  scratchCtx.beginPath();
  scratchCtx.arc(b.x + 0.5, b.y + 0.5, S.size / 2, 0, 2 * Math.PI);
  scratchCtx.fill();
  applyScratch(x0, y0, x1 - x0, y1 - y0, erase);
  renderMask();
}

export function closePolygon() {
  if (S.polygon.length < 3) { S.polygon = []; renderMask(); return; }
  checkpoint();
  scratchCtx.clearRect(0, 0, W(), H());
  scratchCtx.fillStyle = "#fff";
  scratchCtx.beginPath();
  S.polygon.forEach((p, i) => (i ? scratchCtx.lineTo(p.x + 0.5, p.y + 0.5) : scratchCtx.moveTo(p.x + 0.5, p.y + 0.5)));
  scratchCtx.closePath();
  scratchCtx.fill();
  S.polygon = [];
  applyScratch(0, 0, W(), H(), false);
  renderMask();
  save();
}

// Background pixels that the outside cannot reach without crossing the object become the object.
export function fillHoles() {
  if (!canDraw()) return;
  const w = W(), h = H(), ids = S.ids, id = S.selected;
  const seen = new Uint8Array(w * h);
  const stack = [];
  const push = (p) => { if (!seen[p] && ids[p] !== id) { seen[p] = 1; stack.push(p); } };
  for (let x = 0; x < w; x++) { push(x); push((h - 1) * w + x); }
  for (let y = 0; y < h; y++) { push(y * w); push(y * w + w - 1); }
  while (stack.length) {
    const p = stack.pop(), x = p % w;
    if (x > 0) push(p - 1);
    if (x < w - 1) push(p + 1);
    if (p >= w) push(p - w);
    if (p < w * (h - 1)) push(p + w);
  }
  checkpoint();
  let filled = 0;
  for (let p = 0; p < ids.length; p++) if (!seen[p] && ids[p] === 0) { ids[p] = id; filled++; }
  renderMask();
  save();
  return filled;
}

// -- the mouse ---------------------------------------------------------------------------

export function mouseDown(event) {
  if (event.button !== 0 || !canDraw()) return;
  event.preventDefault();
  const p = framePoint(event);
  if (S.tool === "polygon") {
    const first = S.polygon[0];
    const near = first && Math.hypot(first.x - p.x, first.y - p.y) <= Math.max(3, W() / 100);
    if (near && S.polygon.length >= 3) closePolygon();
    else { S.polygon.push(p); renderMask(); }
    return;
  }
  checkpoint();
  S.stroke = { last: p, erase: S.tool === "eraser" };
  paintSegment(p, p, S.stroke.erase);
}

export function mouseMove(event) {
  if (!S.stroke) return;
  const p = framePoint(event);
  paintSegment(S.stroke.last, p, S.stroke.erase);
  S.stroke.last = p;
}

export function mouseUp() {
  if (!S.stroke) return;
  S.stroke = null;
  save();
}

export function doubleClick(event) {
  if (S.tool === "polygon") { event.preventDefault(); closePolygon(); }
}

// -- tools -------------------------------------------------------------------------------

export function setTool(tool) {
  S.tool = tool;
  S.polygon = [];
  for (const r of document.querySelectorAll("input[name=tool]")) r.checked = r.value === tool;
  renderMask();
}

export function setSize(size) {
  S.size = Math.max(1, Math.min(100, size));
  $("brush-size").value = S.size;
  $("brush-size-label").textContent = S.size;
}
