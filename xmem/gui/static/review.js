// xmem gui: reviewing the tracker's work (issue 24). Drift marks under the timeline with "next
// suspect frame", pins, the memory in plain words, Fill between keyframes and Import.

import { $, S } from "./state.js";
import { api, json, showError, showInfo } from "./api.js";
import { clearedStrip, goto } from "./viewer.js";
import { refresh, setState } from "./project.js";
import { flushSaves } from "./edits.js";
import { poll, showJob } from "./jobs.js";
import { stopPlaying } from "./play.js";

export const R = {
  scores: new Map(),  // frame -> drift score (0 fine … 1 most likely wrong)
  suspects: [],       // frames scoring >= threshold, a person's left out
  threshold: 0.5,
};

export async function loadQuality() {
  if (!S.project) return;
  const q = await json("GET", "/api/quality");
  R.threshold = q.threshold;
  R.suspects = q.suspects;
  R.scores = new Map(Object.entries(q.frames).map(([f, e]) => [Number(f), e.score]));
  drawDrift();
  showSuspects();
}

// One bar per frame: its height and colour say how much the tracker doubts it.
export function drawDrift() {
  const { ctx, width, height } = clearedStrip("drift");
  if (!S.project) return;
  const n = S.project.frames;
  const x = (i) => (i / n) * width;
  const w = Math.max(1, width / n);
  for (const [frame, score] of R.scores) {
    if (S.human.has(frame)) continue;
    // grey for a sure frame, yellow as doubt grows, red from the threshold on
    const doubt = Math.min(1, score / R.threshold);
    ctx.fillStyle = score >= R.threshold ? "#e5484d"
      : `rgb(${Math.round(110 + 120 * doubt)}, ${Math.round(115 + 85 * doubt)}, ${Math.round(125 - 90 * doubt)})`;
    const bar = Math.max(2, Math.round(score * height));
    ctx.fillRect(x(frame), height - bar, w, bar);
  }
  ctx.fillStyle = "#fff";
  ctx.fillRect(x(S.index), 0, Math.max(1, w / 2), 2);
  showSuspects();
  showPin();
}

function showSuspects() {
  const n = R.suspects.length;
  const here = R.scores.has(S.index) ? ` · this frame ${R.scores.get(S.index).toFixed(2)}` : "";
  $("suspect-label").textContent = n ? `${n} suspect frame${n > 1 ? "s" : ""}${here}` : `no suspect frame${here}`;
  $("next-suspect").disabled = $("prev-suspect").disabled = n === 0;
}

export function gotoSuspect(step) {
  if (!R.suspects.length) return;
  const after = R.suspects.filter((f) => (step > 0 ? f > S.index : f < S.index));
  const target = after.length ? (step > 0 ? after[0] : after[after.length - 1])
    : (step > 0 ? R.suspects[0] : R.suspects[R.suspects.length - 1]);  // wrap around
  goto(target);
}

// -- pins and memory ---------------------------------------------------------------------

function showPin() {
  const pinned = S.project && (S.project.pinned || []).includes(S.index);
  $("pin").textContent = pinned ? "Unpin frame" : "Pin frame";
}

// The review controls for the project setState (project.js) has just shown.
export function reviewState(project) {
  $("pin").title = `keep this frame in the tracker's memory for the rest of the video (K); at most ${project.max_pinned} frames`;
  R.suspects = project.suspects || R.suspects;
  showSuspects();
  showPin();
}

export async function togglePin() {
  if (!S.project) return;
  const pinned = (S.project.pinned || []).includes(S.index);
  await api(pinned ? "DELETE" : "PUT", `/api/pin/${S.index}`);
  await refresh();
  showInfo(pinned ? `frame ${S.index} unpinned` : `frame ${S.index} is pinned: the next tracks keep it in memory`);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// What each object's memory holds, in words, after the job's last frame.
export function showMemory(job) {
  const entries = Object.entries(job.memory || {});
  if (!entries.length || !S.project) { $("memory-label").textContent = ""; return; }
  const names = new Map(S.project.objects.map((o) => [String(o.id), o.name]));
  $("memory-label").textContent = "memory — " + entries.map(([id, m]) => {
    const pinned = m.pinned ? ` (${m.pinned} pinned)` : "";
    return `${names.get(id) || "object " + id}: ${plural(m.working, "frame")} in working memory${pinned}, ${plural(m.long_term, "long-term element")}`;
  }).join("; ");
}

// -- fill and import ---------------------------------------------------------------------

export async function fill() {
  if (!S.project || (S.job && S.job.running)) return;
  stopPlaying();
  if (!(await flushSaves())) { showError("an annotation could not be saved; filling was not started"); return; }
  const job = await json("POST", "/api/fill", { frame: S.index, adapt: $("adapt").checked });
  showJob(job);
  poll();
}

export async function importMasks() {
  if (!S.project) return;
  const path = $("import-path").value.trim();
  if (!path) { showError("type the folder of PNG masks or the COCO .json file to import"); return; }
  const state = await json("POST", "/api/import", { path, keyframes: $("import-keyframes").checked });
  setState(state);
  await goto(S.index);
  showInfo(`imported the masks of ${plural(state.imported, "frame")}`);
}
