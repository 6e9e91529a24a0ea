// xmem gui: the page. Plain JavaScript, no dependencies. The server's API is in xmem/gui/server.py.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_UNDO = 50;

const S = {
  project: null,       // the server's project description (GET /api/state)
  index: 0,            // the frame shown
  ids: null,           // Uint8Array W*H: object ids of the frame shown
  human: new Set(),    // frames drawn by a person
  tracked: [],         // [[first, last], ...] frames the tracker computed
  selected: null,      // id of the selected object
  tool: "brush",
  size: 12,
  showMasks: true,
  history: new Map(),  // frame -> {undo: [Uint8Array], redo: [Uint8Array]}
  unsaved: new Map(),  // frame -> Uint8Array whose save failed
  saving: Promise.resolve(),
  polygon: [],
  playing: false,
  job: null,           // the last job status
  polling: false,
  loadToken: 0,
  loading: false,
  stroke: null,
};
window.xmemGui = S;  // for the tests and the curious

// -- messages ----------------------------------------------------------------------------

function showError(message) {
  console.error("xmem gui: " + message);
  $("banner").className = "";
  $("banner-text").textContent = message;
  $("banner").hidden = false;
}

function showInfo(message) {
  console.log("xmem gui: " + message);
  $("banner").className = "info";
  $("banner-text").textContent = message;
  $("banner").hidden = false;
}

$("banner-close").onclick = () => { $("banner").hidden = true; };

async function api(method, path, body, raw) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    if (raw) {
      init.body = body;
      init.headers["Content-Type"] = "application/octet-stream";
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    const message = "the xmem gui server does not answer (is `xmem gui` still running?)";
    showError(message);
    throw new Error(message);
  }
  if (!response.ok) {
    let message = `${method} ${path}: HTTP ${response.status}`;
    try {
      const detail = (await response.json()).detail;
      if (detail) message = typeof detail === "string" ? detail : JSON.stringify(detail);
    } catch (e) { /* not JSON */ }
    showError(message);
    throw new Error(message);
  }
  return response;
}

const json = async (method, path, body) => (await api(method, path, body)).json();
// how often the page asks for the job while it runs, and so how often it shows the frame being
// tracked: each update costs the browser and the server CPU taken from tracking
const FOLLOW_MS = 500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// -- canvases ----------------------------------------------------------------------------

const frameCanvas = $("frame-canvas");
const maskCanvas = $("mask-canvas");
const frameCtx = frameCanvas.getContext("2d");
const maskCtx = maskCanvas.getContext("2d");
const scratch = document.createElement("canvas");
const scratchCtx = scratch.getContext("2d", { willReadFrequently: true });
let lut = new Uint8Array(256 * 4);

const W = () => S.project.width;
const H = () => S.project.height;

function hexRgb(hex) {
  return [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
}

function buildLut() {
  lut = new Uint8Array(256 * 4);
  for (const o of S.project.objects) {
    const [r, g, b] = hexRgb(o.color);
    lut.set([r, g, b, 140], o.id * 4);
  }
}

function renderMask() {
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

// The frame at the largest size that fits beside the panels and above the timeline.
function layout() {
  if (!S.project) return;
  const room = $("viewer").clientWidth;
  const tall = Math.max(120, window.innerHeight - $("stage").getBoundingClientRect().top - 80);
  const scale = Math.min(room / W(), tall / H());
  for (const c of [frameCanvas, maskCanvas]) {
    c.style.width = `${Math.floor(W() * scale)}px`;
    c.style.height = `${Math.floor(H() * scale)}px`;
  }
}

// A strip canvas (the timeline, the drift marks) cleared at the page's width in device pixels.
function clearedStrip(id) {
  const canvas = $(id);
  const width = Math.max(1, Math.round(canvas.clientWidth * devicePixelRatio));
  const height = canvas.height;
  if (canvas.width !== width) canvas.width = width;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

function drawTimeline() {
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
  if (window.drawDrift) window.drawDrift();  // review.js: the drift strip under it
}

function markTracked(index) {
  for (const run of S.tracked) if (index >= run[0] && index <= run[1]) return;
  S.tracked.push([index, index]);
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

async function goto(index) {
  if (!S.project) return;
  index = Math.max(0, Math.min(S.project.frames - 1, index));
  if (S.polygon.length) S.polygon = [];
  S.index = index;
  $("slider").value = index;
  $("frame-label").textContent = `${index} / ${S.project.frames - 1}  (${S.project.names[index]})`;
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

// -- project and objects -----------------------------------------------------------------

function setState(state) {
  if (state.error) showError(state.error);
  const project = state.project;
  if (!project) {
    S.project = null;
    $("project-path").textContent = "no project: open a video or frames folder";
    return;
  }
  const fresh = !S.project || S.project.root !== project.root;
  S.project = project;
  S.human = new Set(project.human);
  S.tracked = project.tracked;
  $("project-path").textContent = `${project.source} — project ${project.root}`;
  $("slider").max = project.frames - 1;
  if (fresh) {
    for (const c of [frameCanvas, maskCanvas, scratch]) { c.width = project.width; c.height = project.height; }
    S.history = new Map();
    S.unsaved = new Map();
    S.index = 0;
  }
  layout();
  if (!project.objects.some((o) => o.id === S.selected)) {
    S.selected = project.objects.length ? project.objects[0].id : null;
  }
  buildLut();
  renderObjects();
  drawTimeline();
  if (window.reviewState) window.reviewState(project);
}

function renderObjects() {
  const list = $("objects");
  list.replaceChildren();
  S.project.objects.forEach((o, k) => {
    const li = document.createElement("li");
    li.dataset.id = o.id;
    li.className = o.id === S.selected ? "selected" : "";
    li.title = `object ${o.id}` + (k < 9 ? ` (key ${k + 1})` : "");
    const color = document.createElement("input");
    color.type = "color";
    color.value = o.color;
    color.className = "color";
    color.onchange = () => editObject(o.id, { color: color.value });
    const name = document.createElement("input");
    name.value = o.name;
    name.className = "name";
    name.onfocus = () => selectObject(o.id);
    name.onchange = () => editObject(o.id, { name: name.value });
    const label = document.createElement("input");
    label.value = o.label;
    label.className = "label";
    label.title = "class (written to every export)";
    label.onfocus = () => selectObject(o.id);
    label.onchange = () => editObject(o.id, { label: label.value });
    const del = document.createElement("button");
    del.type = "button";
    del.className = "delete";
    del.textContent = "✕";
    del.title = "delete this object from every frame (click twice)";
    del.onclick = (e) => {
      e.stopPropagation();
      if (del.dataset.armed) deleteObject(o.id);
      else {
        del.dataset.armed = "1";
        del.textContent = "sure?";
        setTimeout(() => { delete del.dataset.armed; del.textContent = "✕"; }, 3000);
      }
    };
    li.onclick = () => selectObject(o.id);
    li.append(color, name, label, del);
    list.append(li);
  });
}

function selectObject(id) {
  S.selected = id;
  for (const li of $("objects").children) li.className = Number(li.dataset.id) === id ? "selected" : "";
}

async function refresh() {
  setState(await json("GET", "/api/state"));
}

async function addObject() {
  if (!S.project) return;
  const o = await json("POST", "/api/objects", {});
  await refresh();
  selectObject(o.id);
}

async function editObject(id, change) {
  try { await json("PATCH", `/api/objects/${id}`, change); } finally { await refresh(); renderMask(); }
}

async function deleteObject(id) {
  await json("DELETE", `/api/objects/${id}`);
  await refresh();
  await goto(S.index);
}

// -- drawing -----------------------------------------------------------------------------

function history(index) {
  if (!S.history.has(index)) S.history.set(index, { undo: [], redo: [] });
  return S.history.get(index);
}

function checkpoint() {
  const h = history(S.index);
  h.undo.push(S.ids.slice());
  if (h.undo.length > MAX_UNDO) h.undo.shift();
  h.redo = [];
}

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

function closePolygon() {
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
function fillHoles() {
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

maskCanvas.addEventListener("mousedown", (event) => {
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
});

maskCanvas.addEventListener("mousemove", (event) => {
  if (!S.stroke) return;
  const p = framePoint(event);
  paintSegment(S.stroke.last, p, S.stroke.erase);
  S.stroke.last = p;
});

window.addEventListener("mouseup", () => {
  if (!S.stroke) return;
  S.stroke = null;
  save();
});

maskCanvas.addEventListener("dblclick", (event) => {
  if (S.tool === "polygon") { event.preventDefault(); closePolygon(); }
});

// Save the frame shown as a person's annotation; a failed save keeps the drawing on the page.
function save() {
  const index = S.index, data = S.ids.slice();
  S.human.add(index);
  $("human-label").hidden = false;
  drawTimeline();
  S.unsaved.set(index, data);
  S.saving = S.saving.then(async () => {
    try {
      await api("PUT", `/api/annotation/${index}`, data, true);
      if (S.unsaved.get(index) === data) S.unsaved.delete(index);
    } catch (e) {
      showError(`${e.message} — frame ${index} is kept on this page, unsaved; it is saved with your next change`);
    }
  });
  return S.saving;
}

async function flushSaves() {
  for (const [index, data] of S.unsaved) {
    if (index !== S.index) {
      S.saving = S.saving.then(() => api("PUT", `/api/annotation/${index}`, data, true)
        .then(() => { if (S.unsaved.get(index) === data) S.unsaved.delete(index); }, () => {}));
    }
  }
  await S.saving;
  return S.unsaved.size === 0;
}

function undo(redo) {
  if (!S.ids) return;
  const h = history(S.index);
  const [from, to] = redo ? [h.redo, h.undo] : [h.undo, h.redo];
  if (!from.length) return;
  to.push(S.ids.slice());
  S.ids = from.pop();
  renderMask();
  save();
}

async function forget() {
  if (!S.project) return;
  await api("DELETE", `/api/annotation/${S.index}`);
  S.unsaved.delete(S.index);
  S.human.delete(S.index);
  await goto(S.index);
}

// -- jobs --------------------------------------------------------------------------------

function showJob(job) {
  S.job = job;
  const running = job.running;
  $("stop").disabled = !running;
  $("track").disabled = running;
  $("export").disabled = running;
  $("fill").disabled = running;
  if (window.showMemory) window.showMemory(job);
  $("progress").max = Math.max(1, job.total);
  $("progress").value = job.done;
  if (running) {
    const what = { track: "tracking", fill: "filling", export: "exporting" }[job.kind] || job.kind;
    const progress = `${what}: ${job.done} / ${job.total} frames · ${job.fps.toFixed(2)} frames/s`;
    // before the first frame, an adapting track says how far adaptation is
    $("job-label").textContent = job.done === 0 && job.message ? job.message : progress;
  } else if (job.kind) {
    const speed = job.kind !== "export" ? ` · ${job.fps.toFixed(2)} frames/s` : "";
    $("job-label").textContent = job.message + speed;
  }
}

// While it follows a track, the page asks for one thing per update: the frame tracked last,
// with its masks drawn in by the server, and the job's status in a header. Drawing is off
// while tracking, so the viewer holds no ids until the job ends and the frame is loaded again.
async function followTrack() {
  const response = await api("GET", `/api/job/preview?masks=${S.showMasks ? 1 : 0}`);
  const job = JSON.parse(response.headers.get("X-XMem-Job"));
  if (response.status !== 200 || S.loading) return job;
  const bitmap = await createImageBitmap(await response.blob());
  const index = Number(response.headers.get("X-XMem-Frame"));
  ++S.loadToken;  // a frame still loading is not shown over this one
  S.index = index;
  $("slider").value = index;
  $("frame-label").textContent = `${index} / ${S.project.frames - 1}  (${S.project.names[index]})`;
  frameCtx.drawImage(bitmap, 0, 0);
  bitmap.close();
  S.ids = null;
  maskCtx.clearRect(0, 0, W(), H());
  $("human-label").hidden = true;
  return job;
}

async function poll() {
  if (S.polling) return;
  S.polling = true;
  try {
    for (;;) {
      const following = $("follow").checked && S.job && S.job.kind === "track" && S.job.running;
      const job = following ? await followTrack() : await json("GET", "/api/job");
      showJob(job);
      if (job.kind !== "export" && job.last_index !== null) {
        markTracked(job.last_index);
        drawTimeline();
      }
      if (!job.running) {
        await refresh();
        if (window.loadQuality) await window.loadQuality();
        const follow = job.kind === "track" && job.last_index !== null && $("follow").checked;
        await goto(follow ? job.last_index : S.index);
        if (job.error) showError(job.message);
        else if (job.kind === "export") {
          $("export-label").textContent = Object.entries(job.outputs).map(([k, v]) => `${k}: ${v}`).join("\n");
          showInfo(job.message);
        }
        break;
      }
      await sleep(FOLLOW_MS);
    }
  } finally {
    S.polling = false;
  }
}

async function track() {
  if (!S.project || (S.job && S.job.running)) return;
  stopPlaying();
  if (!(await flushSaves())) { showError("an annotation could not be saved; tracking was not started"); return; }
  const count = $("count").value ? Number($("count").value) : null;
  const adapt = $("adapt").checked;
  const until = $("until").value;
  const job = await json("POST", "/api/track", { start: S.index, direction: $("direction").value, count, adapt, until });
  showJob(job);
  poll();
}

async function stop() {
  showJob(await json("POST", "/api/stop"));
}

async function exportAll() {
  if (!S.project) return;
  if (!(await flushSaves())) { showError("an annotation could not be saved; export was not started"); return; }
  $("export-label").textContent = "";
  const job = await json("POST", "/api/export", { out: $("export-out").value || null, format: $("export-format").value });
  showJob(job);
  poll();
}

// -- playing -----------------------------------------------------------------------------

async function play() {
  if (S.playing) { stopPlaying(); return; }
  if (!S.project) return;
  S.playing = true;
  $("play").textContent = "❚❚ Pause";
  const period = 1000 / Math.min(30, S.project.fps || 24);
  while (S.playing && S.index < S.project.frames - 1) {
    const started = performance.now();
    await goto(S.index + 1);
    await sleep(Math.max(0, period - (performance.now() - started)));
  }
  stopPlaying();
}

function stopPlaying() {
  S.playing = false;
  $("play").textContent = "▶ Play";
}

// -- controls ----------------------------------------------------------------------------

function setTool(tool) {
  S.tool = tool;
  S.polygon = [];
  for (const r of document.querySelectorAll("input[name=tool]")) r.checked = r.value === tool;
  renderMask();
}

function setSize(size) {
  S.size = Math.max(1, Math.min(100, size));
  $("brush-size").value = S.size;
  $("brush-size-label").textContent = S.size;
}

function toggleMasks(show) {
  S.showMasks = show;
  $("show-overlay").checked = show;
  renderMask();
}

$("open-form").onsubmit = async (event) => {
  event.preventDefault();
  const source = $("open-source").value.trim() || null;
  const project = $("open-project").value.trim() || null;
  const state = await json("POST", "/api/open", { source, project });
  $("banner").hidden = true;
  S.project = null;
  setState(state);
  await goto(0);
};
$("prev").onclick = () => goto(S.index - 1);
$("next").onclick = () => goto(S.index + 1);
$("play").onclick = play;
$("slider").oninput = () => goto(Number($("slider").value));
$("timeline").onclick = (event) => {
  if (!S.project) return;
  const rect = event.target.getBoundingClientRect();
  goto(Math.floor(((event.clientX - rect.left) / rect.width) * S.project.frames));
};
$("add-object").onclick = addObject;
$("show-overlay").onchange = () => toggleMasks($("show-overlay").checked);
for (const r of document.querySelectorAll("input[name=tool]")) r.onchange = () => setTool(r.value);
$("brush-size").oninput = () => setSize(Number($("brush-size").value));
$("fill-holes").onclick = fillHoles;
$("undo").onclick = () => undo(false);
$("redo").onclick = () => undo(true);
$("forget").onclick = forget;
$("track").onclick = track;
$("stop").onclick = stop;
$("export").onclick = exportAll;
$("help-button").onclick = () => $("help").showModal();
window.addEventListener("resize", () => { layout(); drawTimeline(); });

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement && target.type !== "range" && target.type !== "checkbox" && target.type !== "radio") return;
  if (target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
  const key = event.key;
  const ctrl = event.ctrlKey || event.metaKey;
  let handled = true;
  if (ctrl && (key === "z" || key === "Z")) undo(event.shiftKey);
  else if (ctrl && (key === "y" || key === "Y")) undo(true);
  else if (ctrl) handled = false;
  else if (key === "ArrowLeft" || key === "a") goto(S.index - (event.shiftKey ? 10 : 1));
  else if (key === "ArrowRight" || key === "d") goto(S.index + (event.shiftKey ? 10 : 1));
  else if (key === " ") play();
  else if (key === "b") setTool("brush");
  else if (key === "e") setTool("eraser");
  else if (key === "p") setTool("polygon");
  else if (key === "[") setSize(S.size - 2);
  else if (key === "]") setSize(S.size + 2);
  else if (key === "f") fillHoles();
  else if (key === "h") toggleMasks(!S.showMasks);
  else if (key === "n") addObject();
  else if (key === "t") track();
  else if (key === "Enter" && S.polygon.length) closePolygon();
  else if (key === "Escape") {
    if (S.polygon.length) { S.polygon = []; renderMask(); }
    else if (S.job && S.job.running) stop();
  } else if (key === "?") $("help").showModal();
  else if (/^[1-9]$/.test(key) && S.project && S.project.objects[Number(key) - 1]) selectObject(S.project.objects[Number(key) - 1].id);
  else handled = false;
  if (handled) event.preventDefault();
});

// -- start -------------------------------------------------------------------------------

(async () => {
  const state = await json("GET", "/api/state");
  setState(state);
  $("adapt").checked = state.adapt.on;  // `xmem gui --adapt N` starts with Adapt on
  $("adapt").parentElement.title += ` (${state.adapt.steps} steps)`;
  if (S.project) await goto(0);
  if (state.job && state.job.running) poll();
  S.ready = true;
})();
