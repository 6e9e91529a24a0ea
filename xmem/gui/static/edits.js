// xmem gui: a person's edits of the frame shown. Saving them (a failed save keeps the drawing
// on the page), undo and redo per frame, and giving a frame back to the tracker.

import { $, S } from "./state.js";
import { api, showError } from "./api.js";
import { drawTimeline, goto, renderMask } from "./viewer.js";

const MAX_UNDO = 50;

function history(index) {
  if (!S.history.has(index)) S.history.set(index, { undo: [], redo: [] });
  return S.history.get(index);
}

// The frame shown as it is now, for undo, before a change.
export function checkpoint() {
  const h = history(S.index);
  h.undo.push(S.ids.slice());
  if (h.undo.length > MAX_UNDO) h.undo.shift();
  h.redo = [];
}

// Save the frame shown as a person's annotation; a failed save keeps the drawing on the page.
export function save() {
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

// Before a job: the other frames whose save failed are sent again, and every save is waited
// for; true when all frames are saved.
export async function flushSaves() {
  for (const [index, data] of S.unsaved) {
    if (index !== S.index) {
      S.saving = S.saving.then(() => api("PUT", `/api/annotation/${index}`, data, true)
        .then(() => { if (S.unsaved.get(index) === data) S.unsaved.delete(index); }, () => {}));
    }
  }
  await S.saving;
  return S.unsaved.size === 0;
}

export function undo(redo) {
  if (!S.ids) return;
  const h = history(S.index);
  const [from, to] = redo ? [h.redo, h.undo] : [h.undo, h.redo];
  if (!from.length) return;
  to.push(S.ids.slice());
  S.ids = from.pop();
  renderMask();
  save();
}

export async function forget() {
  if (!S.project) return;
  await api("DELETE", `/api/annotation/${S.index}`);
  S.unsaved.delete(S.index);
  S.human.delete(S.index);
  await goto(S.index);
}
