// xmem gui: playing the video in the viewer (at its frame rate, at most 30 frames/s).

import { $, S, sleep } from "./state.js";
import { goto } from "./viewer.js";

export async function play() {
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

export function stopPlaying() {
  S.playing = false;
  $("play").textContent = "▶ Play";
}
