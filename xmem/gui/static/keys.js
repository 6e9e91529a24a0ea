// xmem gui: the keyboard shortcuts (the help dialog in index.html lists them). Keys typed into
// a text field are the field's.

import { $, S } from "./state.js";
import { renderMask, toggleMasks, goto } from "./viewer.js";
import { addObject, selectObject } from "./project.js";
import { closePolygon, fillHoles, setSize, setTool } from "./draw.js";
import { undo } from "./edits.js";
import { stop, track } from "./jobs.js";
import { play } from "./play.js";
import { fill, gotoSuspect, togglePin } from "./review.js";

export function onKey(event) {
  const target = event.target;
  if (target instanceof HTMLInputElement && !["range", "checkbox", "radio"].includes(target.type)) return;
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
  // review (issue 24): the keys below take no Alt
  else if (event.altKey) handled = false;
  else if (key === "s") gotoSuspect(1);
  else if (key === "S") gotoSuspect(-1);
  else if (key === "k") togglePin();
  else if (key === "l") fill();
  else handled = false;
  if (handled) event.preventDefault();
}
