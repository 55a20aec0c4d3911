// The breaking changes from one OpenAPI document to another, as api-smart-diff classifies them:
//   node devtools/node/breaking.cjs before.json after.json
// One JSON line per change on stdout ({"type", "action", "path", "description"}), breaking ones
// and those it cannot classify; exit 0 either way (devtools/api_diff.py decides).
"use strict";
const fs = require("fs");
const { apiCompare } = require("api-smart-diff");

const [before, after] = process.argv.slice(2, 4).map((path) => JSON.parse(fs.readFileSync(path)));
for (const diff of apiCompare(before, after).diffs) {
  if (diff.type === "breaking" || diff.type === "unclassified") {
    const { type, action, path, description } = diff;
    console.log(JSON.stringify({ type, action, path, description: description || "" }));
  }
}
