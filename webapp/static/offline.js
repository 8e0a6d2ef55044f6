// Registers the service worker (webapp/sw.js) once the page has loaded, so that its
// precaching never competes with the page's own start.
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
