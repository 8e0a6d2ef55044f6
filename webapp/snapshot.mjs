// Makes the page's interpreter snapshot: Pyodide started once in Node, the standard-library
// modules the page needs imported, and its WebAssembly memory written to a file. The page
// restores it instead of starting Python (webapp/static/boot.mjs): about 1.2 s less on
// every load. Run by webapp/snapshot.py:  node snapshot.mjs PYODIDE_DIR OUT MODULE...
import { writeFileSync, renameSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [pyodideDir, out, ...modules] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
// Pyodide's default environment, as in the browser: nothing of Node's is passed in.
const pyodide = await loadPyodide({ _makeSnapshot: true });
pyodide.runPython(modules.map((name) => `import ${name}`).join("\n"));
const snapshot = pyodide.makeMemorySnapshot();
// Written aside and renamed: a web app starting meanwhile never reads half a snapshot.
const partial = `${out}.${process.pid}.tmp`;
writeFileSync(partial, snapshot);
renameSync(partial, out);
console.log(`${out}: ${snapshot.length} bytes`);
