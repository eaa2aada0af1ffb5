#!/usr/bin/env node
// optimist: a solc command line for py-solc-x, backed by the pinned npm `solc` (solc-js).
// Answers `--version` and `--standard-json` (JSON on stdin, JSON on stdout). Nothing else.
"use strict";
const path = require("path");
const fs = require("fs");

const root = path.resolve(__dirname, "..");
const solc = require(path.join(root, "node_modules", "solc"));

function readStdin() {
  return fs.readFileSync(0, "utf8");
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\n");
  process.stdout.write("Version: " + solc.version() + "\n");
  process.exit(0);
}
if (args.includes("--standard-json")) {
  const input = readStdin();
  const findImports = (p) => {
    const candidates = [path.join(root, "contracts", "src", p), path.join(root, p)];
    for (const c of candidates) {
      if (fs.existsSync(c)) return { contents: fs.readFileSync(c, "utf8") };
    }
    return { error: "File not found: " + p };
  };
  // No process.exit here: it would cut a large output written to a pipe (asynchronous) at 64 KiB.
  process.stdout.write(solc.compile(input, { import: findImports }));
  return;
}
process.stderr.write("solc_shim: only --version and --standard-json are supported\n");
process.exit(2);
