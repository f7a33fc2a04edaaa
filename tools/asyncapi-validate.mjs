// Validates an AsyncAPI document with the AsyncAPI project's own parser (@asyncapi/parser, which
// also runs its ruleset: references, examples against payloads, unused components, ...).
//
//   node tools/asyncapi-validate.mjs docs/asyncapi.yaml
//
// Prints one line per diagnostic. Exit 0: no errors and no warnings. Exit 1: at least one error or
// warning (a warning is a real flaw in a generated document, so none is let through). Information
// and hints are printed but pass. Exit 2: usage, or the file cannot be read.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const SEVERITY = {
  [DiagnosticSeverity.Error]: "error",
  [DiagnosticSeverity.Warning]: "warning",
  [DiagnosticSeverity.Information]: "info",
  [DiagnosticSeverity.Hint]: "hint",
};

const path = process.argv[2];
if (!path || process.argv.length > 3) {
  console.error("usage: node tools/asyncapi-validate.mjs FILE");
  process.exit(2);
}

let text;
try {
  text = await readFile(path, "utf8");
} catch (error) {
  console.error(`cannot read ${path}: ${error.message}`);
  process.exit(2);
}

const { document, diagnostics } = await new Parser().parse(text, { source: path });
let failing = 0;
for (const diagnostic of diagnostics) {
  const where = diagnostic.path.length ? diagnostic.path.join(".") : "(document)";
  const line = diagnostic.range ? diagnostic.range.start.line + 1 : "?";
  const severity = SEVERITY[diagnostic.severity] ?? String(diagnostic.severity);
  console.log(`${severity} ${diagnostic.code} at ${where} (line ${line}): ${diagnostic.message}`);
  if (diagnostic.severity <= DiagnosticSeverity.Warning) failing += 1;
}
if (document === undefined || failing > 0) {
  console.log(`${path}: NOT valid (${failing} errors and warnings)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()}`);
