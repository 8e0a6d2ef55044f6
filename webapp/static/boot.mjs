// PyScript's interpreter module (pyscript.json "interpreter"): Pyodide's own loadPyodide,
// but restoring the interpreter snapshot the web app serves (webapp/snapshot.py) instead of
// starting Python, which is most of the page's start. Without a snapshot, or if Pyodide
// refuses it (another build, or not a snapshot at all), Python starts the usual way.
import { loadPyodide as startPyodide, version } from "/runtime/pyodide/pyodide.mjs";

export { version };

const INDEX_URL = "/runtime/pyodide/";
const config = JSON.parse(document.getElementById("ruschat-config").textContent);
// Asked for now, while PyScript loads: the snapshot is the largest file of the start.
// Any failure (no answer, an error status, a body cut off) means starting Python instead.
const snapshot = config.snapshot
  ? fetch(config.snapshot)
      .then((response) => (response.ok ? response.arrayBuffer() : null))
      .catch(() => null)
  : Promise.resolve(null);

export async function loadPyodide(options) {
  const bytes = await snapshot;
  if (bytes) {
    try {
      const pyodide = await startPyodide({ ...options, indexURL: INDEX_URL, _loadSnapshot: bytes });
      // The snapshot froze the state of `random` (seeded when Node made it): every page
      // would draw the same numbers. A fresh seed from the browser's crypto.
      pyodide.runPython("import random; random.seed()");
      performance.mark("ruschat:snapshot");
      return pyodide;
    } catch (error) {
      console.warn("RusChat: the interpreter snapshot was refused; starting Python instead:", error);
    } finally {
      // Copied into Python's memory (or refused): free the 31 MB that Pyodide's config and
      // this module would otherwise keep for the page's lifetime.
      bytes.transfer?.(0);
    }
  }
  return startPyodide({ ...options, indexURL: INDEX_URL });
}
