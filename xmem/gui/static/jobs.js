// xmem gui: the server's jobs (track, export; review.js starts fills). Starting one, then
// following it until it ends: its progress, and while it tracks the frame computed last.

import { $, S, sleep } from "./state.js";
import { api, json, showError, showInfo } from "./api.js";
import { H, W, drawTimeline, frameCtx, goto, markTracked, maskCtx, showIndex } from "./viewer.js";
import { refresh } from "./project.js";
import { flushSaves } from "./edits.js";
import { stopPlaying } from "./play.js";
import { loadQuality, showMemory } from "./review.js";

// how often the page asks for the job while it runs, and so how often it shows the frame being
// tracked: each update costs the browser and the server CPU taken from tracking
const FOLLOW_MS = 500;

export function showJob(job) {
  S.job = job;
  const running = job.running;
  $("stop").disabled = !running;
  $("track").disabled = running;
  $("export").disabled = running;
  $("fill").disabled = running;
  showMemory(job);
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
  showIndex(index);
  frameCtx.drawImage(bitmap, 0, 0);
  bitmap.close();
  S.ids = null;
  maskCtx.clearRect(0, 0, W(), H());
  $("human-label").hidden = true;
  return job;
}

// Follow the job until it ends (one loop at a time), then show the project as it left it.
export async function poll() {
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
        await loadQuality();
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

export async function track() {
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

export async function stop() {
  showJob(await json("POST", "/api/stop"));
}

export async function exportAll() {
  if (!S.project) return;
  if (!(await flushSaves())) { showError("an annotation could not be saved; export was not started"); return; }
  $("export-label").textContent = "";
  const job = await json("POST", "/api/export", { out: $("export-out").value || null, format: $("export-format").value });
  showJob(job);
  poll();
}
