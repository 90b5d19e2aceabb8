// The reference for bench/render.py --vs-node: node's mjml@4 compiler, with its
// own inliner (juice, for <mj-style inline="inline">), over MJML files.
//
// Usage: node bench/mjml_node.js MODULES_DIR OUT_DIR FILE.mjml ...
// MODULES_DIR holds node_modules/mjml (bench/_work after `npm install mjml@4`).
"use strict";
const fs = require("fs");
const path = require("path");

const [modules, outDir, ...files] = process.argv.slice(2);
const mjml2html = require(path.resolve(modules, "node_modules", "mjml"));
fs.mkdirSync(outDir, { recursive: true });
for (const file of files) {
  const result = mjml2html(fs.readFileSync(file, "utf8"), {
    validationLevel: "soft",
    filePath: file,
  });
  if (result.errors.length) {
    console.error(`${file}: ${result.errors.map((e) => e.formattedMessage).join("; ")}`);
  }
  const name = path.basename(file, ".mjml") + ".html";
  fs.writeFileSync(path.join(outDir, name), result.html);
}
