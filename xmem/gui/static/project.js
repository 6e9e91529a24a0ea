// xmem gui: the project the server has open, and its objects (the list in the Objects panel).

import { $, S } from "./state.js";
import { json, showError } from "./api.js";
import { buildLut, drawTimeline, frameCanvas, goto, layout, maskCanvas, renderMask, scratch } from "./viewer.js";
import { reviewState } from "./review.js";

// -- project -----------------------------------------------------------------------------

export function setState(state) {
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
  reviewState(project);
}

export async function refresh() {
  setState(await json("GET", "/api/state"));
}

export async function openProject(event) {
  event.preventDefault();
  const source = $("open-source").value.trim() || null;
  const project = $("open-project").value.trim() || null;
  const state = await json("POST", "/api/open", { source, project });
  $("banner").hidden = true;
  S.project = null;
  setState(state);
  await goto(0);
}

// -- objects -----------------------------------------------------------------------------

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

export function selectObject(id) {
  S.selected = id;
  for (const li of $("objects").children) li.className = Number(li.dataset.id) === id ? "selected" : "";
}

export async function addObject() {
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
