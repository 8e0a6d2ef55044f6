// Registers the service worker (webapp/sw.js) once the page has loaded, so that its
// precaching never competes with the page's own start.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch((error) => console.warn("service worker:", error));
  });
}
