// A real OAuth 2.0 authorization server on 127.0.0.1 for the tests: panva's
// oidc-provider (OpenID-certified), with the client_credentials grant and
// resource indicators (RFC 8707), over plain HTTP. harness/idp.py drives it.
//
//   node harness/idp.mjs NODE_MODULES [--config FILE.json] [--port N] [--ttl S]
//        [--token-path /token] [--client ID:SECRET:basic|body:SCOPE,SCOPE]...
//        [--exit-with-stdin]
//
// NODE_MODULES holds oidc-provider (scripts/lib/tools.sh, ensure_oidc_provider).
// The config file holds {port, ttl, token_path, strict, resources,
// default_resource, clients: [{client_id, client_secret, auth, scopes}]}; the
// options override it. stdout carries only JSON lines: first
// {"event":"listening","port",...}, then one per request and per grant
// (grant.success with the token issued, grant.error with its `error`), for
// harness/idp.py to read. No client secret is printed, on stdout or stderr.
//
// A small admin API under /_idp/ (JSON bodies) changes it while it runs:
//   POST   /_idp/clients      a client, as in the config (replaces one of the same id)
//   DELETE /_idp/clients/ID
//   POST   /_idp/state        {ttl, delay, answer: null | {status, type, body}}
//   POST   /_idp/sync         {seq}: prints {"event":"sync","seq"} before answering
// `delay` (seconds) holds every other request that long before it is handled;
// `answer` replaces every other answer with that one (e.g. a 200 text/html page).

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

// oidc-provider prints its notices with console.info, to stdout: they go to
// stderr, so that stdout stays ours.
console.info = console.error;

const { positionals: [modules], values: opts } = parseArgs({
  allowPositionals: true,
  options: {
    config: { type: "string" }, port: { type: "string" }, ttl: { type: "string" },
    "token-path": { type: "string" }, client: { type: "string", multiple: true },
    "exit-with-stdin": { type: "boolean" },
  },
});
const lib = (file) => import(pathToFileURL(`${modules}/oidc-provider/lib/${file}`).href);
const { default: Provider, errors } = await lib("index.js");
// Internals of the pinned version, to wrap its own client_credentials grant (below).
const clientCredentials = await lib("actions/grants/client_credentials.js");
const grantHelpers = await lib("helpers/grants.js");
const { default: internals } = await lib("helpers/weak_cache.js");

const config = {
  port: 0, ttl: 300, token_path: "/token", strict: true, resources: null, default_resource: null, clients: [],
  ...(opts.config ? JSON.parse(readFileSync(opts.config, "utf8")) : {}),
};
if (opts.port) config.port = Number(opts.port);
if (opts.ttl) config.ttl = Number(opts.ttl);
if (opts["token-path"]) config.token_path = opts["token-path"];
for (const spec of opts.client ?? []) { // ID:SECRET:AUTH:SCOPES, AUTH and SCOPES maybe empty; the secret may hold ':'
  const fields = spec.split(":");
  if (fields.length < 4) throw new Error(`--client ID:SECRET:AUTH:SCOPES, not ${fields[0]}:...`);
  const [id, ...rest] = fields;
  const scopes = rest.pop(), auth = rest.pop() || "basic";
  config.clients.push({ client_id: id, client_secret: rest.join(":"), auth, scopes: scopes ? scopes.split(",") : [] });
}

const state = { ttl: config.ttl, delay: 0, answer: null };
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`); // synchronous on a Linux pipe

// Clients live in an adapter of our own (not oidc-provider's static `clients`),
// so that the admin API can add, replace (a new secret) and remove them while
// it runs; oidc-provider validates each one's metadata when it is found.
const stores = new Map();
class Adapter {
  constructor(model) {
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }
  async upsert(id, payload, expiresIn) {
    this.store.set(id, { payload, until: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (this.store.size % 1000 === 0) { // opaque tokens are stored: drop the expired ones now and then
      for (const [key, { until }] of this.store) if (until < Date.now()) this.store.delete(key);
    }
  }
  async find(id) {
    const entry = this.store.get(id);
    return entry && entry.until >= Date.now() ? entry.payload : undefined;
  }
  async destroy(id) { this.store.delete(id); }
  async consume(id) { const entry = this.store.get(id); if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000); }
  async findByUid() {}
  async findByUserCode() {}
  async revokeByGrantId() {}
}

const AUTH = { basic: "client_secret_basic", body: "client_secret_post",
  client_secret_basic: "client_secret_basic", client_secret_post: "client_secret_post" };
// A client's scopes must be among oidc-provider's "static" scopes (it refuses
// the client otherwise, and drops any other from a request without a resource
// indicator). Its configuration keeps a copy of them, fixed at start: the
// clients added later add theirs to that copy, the Set it checks.
function clientMetadata({ client_id, client_secret, auth = "basic", scopes = [] }) {
  if (!AUTH[auth]) throw new Error(`auth must be basic or body, not ${auth}`);
  const known = internals(provider).configuration.scopes;
  scopes.forEach((s) => known.add(s));
  return {
    client_id, client_secret, token_endpoint_auth_method: AUTH[auth], scope: scopes.join(" ") || undefined,
    grant_types: ["client_credentials"], response_types: [], redirect_uris: [],
  };
}
async function addClient(client) {
  const metadata = clientMetadata(client);
  await provider.Client.validate(metadata); // throws InvalidClientMetadata, e.g. a non-ASCII secret
  await new Adapter("Client").upsert(metadata.client_id, metadata);
}

// An audience that is not an absolute URI (Auth0-style "my-api") cannot be a
// resource indicator: it travels as one under this prefix, back to `aud` below.
const AUDIENCE = "urn:header-augmenter:audience:";
const resourceFor = (audience) => (URL.canParse(audience) ? audience : AUDIENCE + encodeURIComponent(audience));
const audienceOf = (resource) => (resource.startsWith(AUDIENCE) ? decodeURIComponent(resource.slice(AUDIENCE.length)) : resource);

// Listen first, on the port asked for or any: the issuer names the port.
const server = createServer();
await new Promise((resolve, reject) => server.once("error", reject).listen(config.port, "127.0.0.1", resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  adapter: Adapter,
  // A fresh RS256 key each start; the JWT access tokens are signed with it (/jwks).
  jwks: { keys: [generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" })] },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  clientAuthMethods: ["client_secret_basic", "client_secret_post"],
  scopes: [],
  routes: { token: config.token_path },
  ttl: { ClientCredentials: () => state.ttl },
  features: {
    devInteractions: { enabled: false }, // no login pages: only machine clients here
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Without `resource` the token is opaque, unless a default resource is set.
      defaultResource: async () => config.default_resource ?? undefined,
      // Any absolute URI is a resource server (or only `resources`, if given):
      // a JWT access token with `aud` the resource and the client's scopes
      // (oidc-provider grants the requested ones among them).
      getResourceServerInfo: async (_ctx, resource, client) => {
        if (config.resources && !config.resources.includes(audienceOf(resource))) throw new errors.InvalidTarget();
        return {
          audience: audienceOf(resource), scope: client.scope ?? "", accessTokenFormat: "jwt",
          accessTokenTTL: state.ttl, jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
});
// Plain HTTP on loopback needs no `proxy` or TLS setting: oidc-provider takes
// its URLs from the issuer, whatever the Host header says.

// oidc-provider's own client_credentials grant, with (when `strict`, the
// default) what it leaves lenient made strict, so that a client's mistakes
// show: it accepts client_secret_basic and client_secret_post from a client
// registered for either, and ignores requested scopes no client has. Also maps
// the non-standard `audience` parameter onto `resource`.
const builtin = clientCredentials.handler.bind(undefined, provider,
  Object.fromEntries(Object.entries(grantHelpers).map(([name, helper]) => [name, helper.bind(undefined, provider)])));
provider.registerGrantType("client_credentials", async (ctx) => {
  const { client, params } = ctx.oidc;
  ctx.state.requested = { scope: params.scope, resource: params.resource, audience: params.audience };
  if (config.strict) {
    const used = ctx.headers.authorization !== undefined ? "client_secret_basic" : "client_secret_post";
    if (used !== client.clientAuthMethod) {
      // RFC 6749 §5.2: a 401 to Basic credentials challenges, as oidc-provider's own do
      if (ctx.headers.authorization !== undefined) ctx.set("WWW-Authenticate", `Basic realm="${issuer}", error="invalid_client"`);
      throw new errors.InvalidClientAuth(`${used} used, the client is registered for ${client.clientAuthMethod}`);
    }
    const allowed = new Set(client.scope?.split(" "));
    for (const scope of params.scope?.split(" ") ?? []) {
      if (!allowed.has(scope)) throw new errors.InvalidScope("requested scope is not allowed", scope);
    }
  }
  if (params.audience !== undefined) {
    if (params.resource !== undefined) throw new errors.InvalidTarget("give resource or audience, not both");
    params.resource = resourceFor(params.audience);
  }
  await builtin(ctx);
}, ["scope", "resource", "audience"], ["resource"]);

const authUsed = (ctx) => (ctx.headers.authorization !== undefined ? "basic" : ctx.oidc?.params?.client_secret ? "body" : "none");
provider.on("grant.success", (ctx) => print({
  event: "grant.success", client_id: ctx.oidc.client.clientId, auth: authUsed(ctx),
  ...ctx.state.requested,
  granted_scope: ctx.body.scope, expires_in: ctx.body.expires_in, token_type: ctx.body.token_type,
  access_token: ctx.body.access_token,
}));
provider.on("grant.error", (ctx, err) => print({
  event: "grant.error", status: err.statusCode, error: err.error, error_description: err.error_description,
  error_detail: err.error_detail, client_id: ctx.oidc?.client?.clientId ?? ctx.oidc?.params?.client_id, auth: authUsed(ctx),
}));
provider.on("server_error", (ctx, err) => print({ event: "server_error", path: ctx.path, message: String(err) }));

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
}

// In front of oidc-provider's routes: the admin API, the request events, and
// the slow and canned-answer modes.
provider.use(async (ctx, next) => {
  if (ctx.path.startsWith("/_idp/")) {
    try {
      const body = await readJson(ctx.req);
      if (ctx.path === "/_idp/clients" && ctx.method === "POST") await addClient(body);
      else if (ctx.path.startsWith("/_idp/clients/") && ctx.method === "DELETE") {
        await new Adapter("Client").destroy(decodeURIComponent(ctx.path.slice("/_idp/clients/".length)));
      } else if (ctx.path === "/_idp/state" && ctx.method === "POST") Object.assign(state, body);
      else if (ctx.path === "/_idp/sync" && ctx.method === "POST") print({ event: "sync", seq: body.seq });
      else ctx.throw(404);
      ctx.body = { ...state, ok: true };
    } catch (err) {
      ctx.status = err.status ?? 400;
      ctx.body = { error: err.error ?? err.message, error_description: err.error_description };
    }
    return;
  }
  print({ event: "request", method: ctx.method, path: ctx.path, delay: state.delay, answer: state.answer?.status ?? null });
  if (state.delay > 0) await sleep(state.delay * 1000);
  if (state.answer) {
    const { status = 200, type = "text/html", body = "" } = state.answer;
    ctx.status = status;
    ctx.type = type;
    ctx.body = body;
    return;
  }
  await next();
});
for (const client of config.clients) await addClient(client);
server.on("request", provider.callback());
print({ event: "listening", port, issuer, token_endpoint: `${issuer}${config.token_path}` });
process.on("SIGTERM", () => process.exit(0));
// harness/idp.py holds our stdin open: when it goes, even killed, so do we.
if (opts["exit-with-stdin"]) process.stdin.on("end", () => process.exit(0)).resume();
