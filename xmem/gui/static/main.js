// xmem gui: the page's entry (index.html loads only this module). It wires the controls to
// the modules and starts: each module has one job, and their top level only looks elements up,
// so the modules may import each other in a circle.
//   state.js    the shared state (S) and $
//   api.js      the server's API, errors on the banner
//   viewer.js   the frame and its masks, the timeline, going to a frame
//   project.js  the project the server has open, its objects
//   draw.js     brush, eraser, polygon, fill holes
//   edits.js    saving a person's edits, undo and redo, unmarking a frame
//   jobs.js     track, stop, export: starting a job and following it
//   play.js     playing the video
//   review.js   drift marks, suspect frames, pins, memory, fill between keyframes, import
//   keys.js     the keyboard shortcuts

import { $, S } from "./state.js";
import { json } from "./api.js";
import { drawTimeline, goto, layout, maskCanvas, stripFrame, toggleMasks } from "./viewer.js";
import { addObject, openProject, setState } from "./project.js";
import { doubleClick, fillHoles, mouseDown, mouseMove, mouseUp, setSize, setTool } from "./draw.js";
import { forget, undo } from "./edits.js";
import { exportAll, poll, stop, track } from "./jobs.js";
import { play } from "./play.js";
import { R, fill, gotoSuspect, importMasks, loadQuality, togglePin } from "./review.js";
import { onKey } from "./keys.js";

// for the tests and the curious
window.xmemGui = S;
window.xmemReview = R;
window.loadQuality = loadQuality;

// -- controls ----------------------------------------------------------------------------

$("banner-close").onclick = () => { $("banner").hidden = true; };
$("open-form").onsubmit = openProject;
$("prev").onclick = () => goto(S.index - 1);
$("next").onclick = () => goto(S.index + 1);
$("play").onclick = play;
$("slider").oninput = () => goto(Number($("slider").value));
$("timeline").onclick = (event) => { if (S.project) goto(stripFrame(event)); };
$("drift").onclick = (event) => { if (S.project) goto(stripFrame(event)); };
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
$("fill").onclick = fill;
$("export").onclick = exportAll;
$("import").onclick = importMasks;
$("next-suspect").onclick = () => gotoSuspect(1);
$("prev-suspect").onclick = () => gotoSuspect(-1);
$("pin").onclick = togglePin;
$("help-button").onclick = () => $("help").showModal();
maskCanvas.addEventListener("mousedown", mouseDown);
maskCanvas.addEventListener("mousemove", mouseMove);
window.addEventListener("mouseup", mouseUp);
maskCanvas.addEventListener("dblclick", doubleClick);
window.addEventListener("resize", () => { layout(); drawTimeline(); });
document.addEventListener("keydown", onKey);

// -- start -------------------------------------------------------------------------------

(async () => {
  const state = await json("GET", "/api/state");
  setState(state);
  $("adapt").checked = state.adapt.on;  // `xmem gui --adapt N` starts with Adapt on
  $("adapt").parentElement.title += ` (${state.adapt.steps} steps)`;
  if (S.project) await goto(0);
  if (state.job && state.job.running) poll();
  S.ready = true;
  await loadQuality();  // the drift marks of the work done before the page was opened
})();
