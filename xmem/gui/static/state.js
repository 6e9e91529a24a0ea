// xmem gui: the page's shared state, and the helpers every module uses. The page is native ES
// modules, no dependencies, nothing to build; main.js is the entry. The server's API is in
// xmem/gui/server.py.

export const $ = (id) => document.getElementById(id);

export const S = {
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

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
