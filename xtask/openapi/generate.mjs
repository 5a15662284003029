// Generates the TypeScript types of docs/openapi.json with openapi-typescript, as a client would.
// Usage: node generate.mjs DOCUMENT OUT.d.ts
//
// The one option beyond the defaults is openapi-typescript's documented `transform` for `format: binary`, which
// it otherwise types as `string`: a browser uploads and downloads a `Blob`.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const [document, out] = process.argv.slice(2);
if (!document || !out) {
  console.error("usage: node generate.mjs DOCUMENT OUT.d.ts");
  process.exit(2);
}
const blob = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));
const nullable = ts.factory.createUnionTypeNode([
  blob,
  ts.factory.createLiteralTypeNode(ts.factory.createNull()),
]);
const ast = await openapiTS(pathToFileURL(path.resolve(document)), {
  transform(schema) {
    if (schema.format === "binary") {
      const isNullable = schema.nullable === true || (Array.isArray(schema.type) && schema.type.includes("null"));
      return isNullable ? nullable : blob;
    }
    return undefined;
  },
});
fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
fs.writeFileSync(out, astToString(ast));
console.log(`openapi-typescript: ${document} -> ${out}`);
