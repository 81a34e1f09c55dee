// Validates AsyncAPI documents with the official parser, as tools built on it (generator, studio)
// would read them. Usage: node validate.mjs FILE... ; prints one JSON line per file:
// {"file", "errors": [...], "warnings": [...]} and exits 1 when any document has an error.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"));
  const shown = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(shown);
  const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).map(shown);
  if (document === undefined && errors.length === 0) errors.push({ code: "unparsed", message: "no document came out", path: "" });
  failed ||= errors.length > 0;
  const summary = document ? { channels: document.channels().all().map((c) => c.address()) } : {};
  console.log(JSON.stringify({ file, errors, warnings, ...summary }));
}
process.exit(failed ? 1 : 0);
