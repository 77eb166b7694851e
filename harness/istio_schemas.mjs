// Checks Istio objects against Istio's CRD schemas as the API server's strict
// field validation would: the schema's own rules (types, enums, patterns,
// required fields), and no field the schema does not name.
//
//   node harness/istio_schemas.mjs NODE_MODULES < objects.json   (a JSON array)
//
// NODE_MODULES holds @kubernetes-models/istio (scripts/lib/tools.sh,
// ensure_istio_models), whose schemas, generated from Istio's crd-all.gen.yaml,
// ship compiled into ajv validators rather than as JSON. Those validators do
// not reject unknown fields. They do read every property a schema names on
// each object they check (`data.url`, present or not), enumerate a map's keys,
// and never look inside an object kept whole (x-kubernetes-preserve-unknown-
// fields, e.g. pluginConfig). So the strict part watches them: an object whose
// keys the validator read by name allows only the keys it read.
// Prints a JSON array of problems, each {object, path, message}.

import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];

// extensions.istio.io/v1alpha1 + WasmPlugin -> ExtensionsIstioIoV1alpha1WasmPlugin
function schemaName(apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  const title = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  return group.split(".").map(title).join("") + title(version) + kind;
}

// Wraps `value` so that every object in it records which keys were read by
// name and whether its keys were listed; `seen` maps a JSON pointer to that.
function watched(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  if (!seen.has(path)) seen.set(path, { value, read: new Set(), listed: false });
  const record = seen.get(path);
  const note = (key) => typeof key === "string" && record.read.add(key);
  return new Proxy(value, {
    get(target, key, receiver) {
      note(key);
      const found = Reflect.get(target, key, receiver);
      return typeof key === "string" && Object.hasOwn(target, key) ? watched(found, `${path}/${key}`, seen) : found;
    },
    has(target, key) { note(key); return Reflect.has(target, key); },
    getOwnPropertyDescriptor(target, key) { note(key); return Reflect.getOwnPropertyDescriptor(target, key); },
    ownKeys(target) { record.listed = true; return Reflect.ownKeys(target); },
  });
}

function unknownFields(seen) {
  const found = [];
  for (const [path, { value, read, listed }] of seen) {
    if (Array.isArray(value) || listed || read.size === 0) continue; // a list, a map, or kept whole
    for (const key of Object.keys(value)) {
      if (!read.has(key)) found.push({ path: `${path}/${key}`, message: "unknown field" });
    }
  }
  return found;
}

async function check(object) {
  const name = schemaName(object.apiVersion, object.kind);
  const file = `${modules}/@kubernetes-models/istio/_schemas/${name}.js`;
  let validate;
  try {
    ({ validate } = await import(pathToFileURL(file).href));
  } catch {
    return [{ path: "", message: `no schema ${name} in @kubernetes-models/istio` }];
  }
  const seen = new Map();
  const problems = validate(watched(object, "", seen)) ? [] : validate.errors.map(
    (e) => ({ path: e.instancePath, message: `${e.message ?? e.keyword} ${JSON.stringify(e.params)}` }));
  return problems.concat(unknownFields(seen));
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const report = [];
for (const object of objects) {
  const label = `${object.kind}/${object.metadata?.name}`;
  for (const problem of await check(object)) report.push({ object: label, ...problem });
}
console.log(JSON.stringify(report));
