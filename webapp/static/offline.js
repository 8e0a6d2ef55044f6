// Registers the service worker (webapp/sw.js) once the page has loaded, so that its
// precaching never competes with the page's own start.
// The runtime's WebAssembly is preloaded only on a first visit (no service worker yet):
// it then downloads at once, but on warm loads a preloaded .wasm seemed to lose the
// browser's compiled-code cache (one pair of runs on a busy machine, so a hint, not a
// proof: warm 4.0 s with the preload against 3.0 s without; cold 4.6 s against 5.2 s;
// bench/start.py, docs/BENCHMARKS.md).
if (!(navigator.serviceWorker && navigator.serviceWorker.controller)) {
  const link = document.createElement("link");
  link.rel = "preload";
  link.as = "fetch";
  link.crossOrigin = "anonymous";
  link.href = "/runtime/pyodide/pyodide.asm.wasm";
  document.head.appendChild(link);
}

if ("serviceWorker" in navigator) {
  // A page that came from an older release's cache reloads once the new release has taken
  // over (its worker activated): one release's files, never a mix of two.
  const hadWorker = !!navigator.serviceWorker.controller;
  let reloaded = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (hadWorker && !reloaded) {
      reloaded = true;
      window.location.reload();
    }
  });
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch((error) => console.warn("service worker:", error));
  });
}
