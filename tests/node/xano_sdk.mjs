// Drives a running jwe_gate demo with Xano's own JavaScript SDK (@xano/js-sdk), the way a Xano
// front end does, and prints one JSON summary on stdout for tests/test_node_interop.py.
//
//   node xano_sdk.mjs demo BASE_URL EMAIL PASSWORD   the account life cycle against the demo
//   node xano_sdk.mjs wire                          the headers the SDK itself sends
//
// Nothing is asserted here: every step records what the SDK returned (or threw), and the pytest
// side decides. A crash (an unexpected exception) exits non-zero with the stack on stderr.
//
// The SDK's XanoRequestError is compiled to ES5 (`class extends Error` without setPrototypeOf),
// so `err instanceof XanoRequestError` is false even for its own errors; what identifies one is
// its getResponse() method. Both are recorded.

import { createRequire } from "node:module";
import http from "node:http";

import {
  XanoClient,
  XanoNodeClient,
  XanoObjectStorage,
  XanoRequestError,
} from "@xano/js-sdk";

const require = createRequire(import.meta.url);
const SDK_VERSION = require("@xano/js-sdk/package.json").version;

const [mode, baseUrl, email, password] = process.argv.slice(2);
if (!(mode === "wire" || (mode === "demo" && baseUrl && email && password))) {
  console.error("usage: node xano_sdk.mjs demo BASE_URL EMAIL PASSWORD | wire");
  process.exit(2);
}

function client(config = {}) {
  // XanoNodeClient is what the SDK's README tells Node users to use (XanoClient with an object
  // storage); the base URL of the API group is the demo's root.
  return new XanoNodeClient({ apiGroupBaseUrl: baseUrl, storage: new XanoObjectStorage(),
                              ...config });
}

// What one SDK call gave: the XanoResponse on success, or what the XanoRequestError carries.
async function outcome(promise) {
  try {
    const resp = await promise;
    return { ok: true, status: resp.getStatusCode(), body: resp.getBody(),
             headers: pick(resp.getHeaders()) };
  } catch (err) {
    if (!(err instanceof Error) || typeof err.getResponse !== "function") {
      throw err; // not an HTTP answer (connection refused, SDK bug): crash loudly
    }
    const resp = err.getResponse();
    return { ok: false, error: err.constructor.name, has_get_response: true,
             instanceof_xano_request_error: err instanceof XanoRequestError,
             message: err.message,
             status: resp.getStatusCode(), body: resp.getBody(),
             headers: pick(resp.getHeaders()) };
  }
}

function pick(headers) {
  const out = {};
  for (const name of ["content-type", "www-authenticate"]) {
    const value = headers?.[name];
    if (value !== undefined) out[name] = String(value);
  }
  return out;
}

// Which headers the SDK itself puts on the wire: a local server records one request.
async function capture(configure) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const pairs = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    }
    seen.push({ method: req.method, url: req.url, headers: pairs });
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end("{}");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const sdk = new XanoNodeClient({
      apiGroupBaseUrl: `http://127.0.0.1:${server.address().port}`,
      storage: new XanoObjectStorage(),
    });
    await configure(sdk);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  return seen;
}

async function wire() {
  const out = { sdk_version: SDK_VERSION };
  // the token set with setAuthToken, nothing else
  out.default = await capture(async (sdk) => {
    sdk.setAuthToken("TOKEN-A");
    await sdk.get("/probe");
  });
  // plus the X-Xano headers as per-request headers (the SDK has no setting for them)
  out.extra_headers = await capture(async (sdk) => {
    sdk.setAuthToken("TOKEN-A");
    await sdk.get("/probe", {}, { "X-Xano-Authorization": "Bearer TOKEN-B",
                                  "X-Xano-Authorization-Only": "true" });
  });
  // plus a per-request Authorization of the front end's own
  out.extra_authorization = await capture(async (sdk) => {
    sdk.setAuthToken("TOKEN-A");
    await sdk.get("/probe", {}, { Authorization: "Basic dXNlcjpwYXNz" });
  });
  // no token set: per-request headers only
  out.no_token = await capture(async (sdk) => {
    await sdk.get("/probe", {}, { "X-Xano-Authorization": "Bearer TOKEN-B" });
  });
  return out;
}

async function demo() {
  const summary = { sdk_version: SDK_VERSION, base_url: baseUrl };

  // -- 1. signup, then the token set with the SDK's own setAuthToken
  const xano = client();
  summary.signup = await outcome(xano.post("/auth/signup",
                                           { name: "Sdk User", email, password }));
  const authToken = summary.signup.body?.authToken;
  const refreshToken = summary.signup.body?.refreshToken;
  summary.has_auth_token_before = xano.hasAuthToken();
  xano.setAuthToken(authToken ?? null);
  summary.has_auth_token_after = xano.hasAuthToken();
  summary.me = await outcome(xano.get("/auth/me"));
  summary.hello = await outcome(xano.get("/api/hello"));

  // The token given in the client's configuration instead (a front end restoring a session).
  summary.config_token_me = await outcome(client({ authToken }).get("/auth/me"));
  // The browser class (XanoClient) too, with an object storage instead of localStorage.
  summary.web_client_me = await outcome(new XanoClient({
    apiGroupBaseUrl: baseUrl, storage: new XanoObjectStorage(), authToken }).get("/auth/me"));

  // -- 2. X-Xano-Authorization: the SDK has no setting for it; a front end passes it as a
  //       per-request header (the third argument of get/post/...)
  const plain = client();
  summary.xano_header_me = await outcome(
    plain.get("/auth/me", {}, { "X-Xano-Authorization": `Bearer ${authToken}` }));
  summary.xano_header_bare_me = await outcome(
    plain.get("/auth/me", {}, { "X-Xano-Authorization": authToken }));
  // The SDK's Authorization carries another provider's credential; X-Xano-Authorization wins.
  const other = client({ authToken: "another-providers-token" });
  summary.xano_header_wins_me = await outcome(
    other.get("/auth/me", {}, { "X-Xano-Authorization": `Bearer ${authToken}` }));
  // X-Xano-Authorization-Only: the gate reads only X-Xano-Authorization; the SDK's Authorization
  // (here another provider's) is left alone.
  summary.xano_only_me = await outcome(
    other.get("/auth/me", {}, { "X-Xano-Authorization-Only": "true",
                                "X-Xano-Authorization": `Bearer ${authToken}` }));
  // ... so with -Only and no X-Xano-Authorization, even the SDK's valid Authorization is unread.
  summary.xano_only_without_xano_header = await outcome(
    xano.get("/auth/me", {}, { "X-Xano-Authorization-Only": "true" }));

  // -- 3. errors surface as XanoRequestError with Xano's body
  const anon = client();
  summary.wrong_password = await outcome(anon.post("/auth/login",
                                                   { email, password: `${password}-wrong` }));
  summary.unknown_login = await outcome(anon.post("/auth/login",
                                                  { email: `nobody-${email}`, password }));
  summary.duplicate_signup = await outcome(anon.post("/auth/signup",
                                                     { name: "Again", email, password }));
  summary.no_token_me = await outcome(anon.get("/auth/me"));
  summary.no_token_hello = await outcome(anon.get("/api/hello"));
  const cleared = client({ authToken });
  cleared.setAuthToken(null); // the SDK's own way of logging out locally
  summary.cleared_has_auth_token = cleared.hasAuthToken();
  summary.cleared_me = await outcome(cleared.get("/auth/me"));
  summary.bad_token_me = await outcome(client({ authToken: "not-a-token" }).get("/auth/me"));
  summary.missing_field = await outcome(anon.post("/auth/login", { email }));

  // -- 4. the rest of a session through the SDK: login, refresh, logout
  summary.login = await outcome(anon.post("/auth/login", { email, password }));
  const session = client({ authToken: summary.login.body?.authToken });
  summary.refresh = await outcome(session.post("/auth/refresh", { refreshToken }));
  session.setAuthToken(summary.refresh.body?.authToken ?? null);
  summary.refreshed_me = await outcome(session.get("/auth/me"));
  const spent = summary.refresh.body?.refreshToken;
  summary.logout = await outcome(session.post("/auth/logout", { refreshToken: spent }));
  summary.spent_refresh = await outcome(anon.post("/auth/refresh", { refreshToken: spent }));

  return summary;
}

const result = mode === "wire" ? await wire() : await demo();
process.stdout.write(JSON.stringify(result) + "\n");
