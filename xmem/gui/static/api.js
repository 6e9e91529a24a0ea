// xmem gui: the server's API (xmem/gui/server.py) and the banner that shows its errors.

import { $ } from "./state.js";

// -- messages ----------------------------------------------------------------------------

export function showError(message) {
  console.error("xmem gui: " + message);
  $("banner").className = "";
  $("banner-text").textContent = message;
  $("banner").hidden = false;
}

export function showInfo(message) {
  console.log("xmem gui: " + message);
  $("banner").className = "info";
  $("banner-text").textContent = message;
  $("banner").hidden = false;
}

// -- requests ----------------------------------------------------------------------------

// A request; a failed one (no server, an HTTP error) is shown on the banner, then thrown.
export async function api(method, path, body, raw) {
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

export const json = async (method, path, body) => (await api(method, path, body)).json();
