// jwe_gate tokens and panva's `jose`, both ways; driven by tests/test_node_interop.py.
//
//   node jose_interop.mjs < request.json
//
// The request is one JSON object with "jwks" (the gate's JWK Set) and "op":
//   "decrypt": {"tokens": [...], "currentDate": ms?}  -> each token through jwtDecrypt and
//              compactDecrypt (A256KW + A256CBC-HS512 only), and jwtDecrypt with
//              maxTokenAge "15m" at currentDate (default: now), without and with 1 s of
//              clockTolerance
//   "mint":    {"sub", "tbl", "extras"}  -> EncryptJWT tokens: the gate's format and variants
// The answer is one JSON object on stdout. Nothing is asserted here: the pytest side decides.

import { createRequire } from "node:module";
import { randomUUID, webcrypto } from "node:crypto";

import {
  compactDecrypt,
  EncryptJWT,
  importJWK,
  jwtDecrypt,
  SignJWT,
} from "jose";

const require = createRequire(import.meta.url);
const JOSE_VERSION = require("jose/package.json").version;
const ALGS = {
  keyManagementAlgorithms: ["A256KW"],
  contentEncryptionAlgorithms: ["A256CBC-HS512"],
};

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function failure(err) {
  return { ok: false, error: err.code ?? err.name, message: err.message, claim: err.claim };
}

async function keyring(jwks) {
  const keys = [];
  for (const jwk of jwks.keys) keys.push({ kid: jwk.kid, key: await importJWK(jwk, "A256KW") });
  // A token names its key by kid; one without kid gets the first (encryption) key.
  return (header) => (header.kid === undefined ? keys[0] : keys.find((k) => k.kid === header.kid))
    ?.key ?? keys[0].key;
}

async function decrypt(request) {
  const resolve = await keyring(request.jwks);
  const currentDate = request.currentDate === undefined ? undefined
    : new Date(request.currentDate);
  const results = [];
  for (const token of request.tokens) {
    const out = {};
    try {
      const { payload, protectedHeader } = await jwtDecrypt(token, resolve, ALGS);
      out.jwt = { ok: true, protectedHeader, payload };
    } catch (err) {
      out.jwt = failure(err);
    }
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(token, resolve, ALGS);
      out.compact = { ok: true, protectedHeader, plaintext: new TextDecoder().decode(plaintext) };
    } catch (err) {
      out.compact = failure(err);
    }
    // A consumer that also bounds the token's age (a common jose option), without and with
    // one second of clock tolerance.
    for (const [name, clockTolerance] of [["max_token_age", 0], ["max_token_age_1s", 1]]) {
      try {
        await jwtDecrypt(token, resolve, { ...ALGS, maxTokenAge: "15m", clockTolerance,
                                           currentDate });
        out[name] = { ok: true };
      } catch (err) {
        out[name] = failure(err);
      }
    }
    results.push(out);
  }
  return { jose_version: JOSE_VERSION, results };
}

async function mint(request) {
  const jwk = request.jwks.keys[0];
  const key = await importJWK(jwk, "A256KW");
  const otherKey = webcrypto.getRandomValues(new Uint8Array(32));
  const key128 = webcrypto.getRandomValues(new Uint8Array(16));
  const now = Math.floor(Date.now() / 1000);
  const gateHeader = { alg: "A256KW", enc: "A256CBC-HS512", kid: jwk.kid };

  function jwt({ tbl = request.tbl, iat = now, exp = now + 900 } = {}) {
    return new EncryptJWT({ tbl, extras: request.extras })
      .setSubject(request.sub)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID());
  }

  const tokens = {
    // accepted: the gate's own format, as any JOSE library writes it
    standard: await jwt().setProtectedHeader(gateHeader).encrypt(key),
    no_kid: await jwt().setProtectedHeader({ alg: "A256KW", enc: "A256CBC-HS512" }).encrypt(key),
    typ_jwt: await jwt().setProtectedHeader({ ...gateHeader, typ: "JWT" }).encrypt(key),
    // refused
    zip_def: await jwt().setProtectedHeader({ ...gateHeader, zip: "DEF" }).encrypt(key),
    a128kw: await jwt().setProtectedHeader({ ...gateHeader, alg: "A128KW" }).encrypt(key128),
    enc_a256gcm: await jwt().setProtectedHeader({ ...gateHeader, enc: "A256GCM" }).encrypt(key),
    dir: await jwt().setProtectedHeader({ alg: "dir", enc: "A256GCM", kid: jwk.kid })
      .encrypt(key),
    jws_hs256: await new SignJWT({ tbl: request.tbl, extras: request.extras })
      .setProtectedHeader({ alg: "HS256", kid: jwk.kid })
      .setSubject(request.sub).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 900)
      .setJti(randomUUID()).sign(key),
    expired: await jwt({ iat: now - 1000, exp: now - 100 }).setProtectedHeader(gateHeader)
      .encrypt(key),
    wrong_table: await jwt({ tbl: "admin" }).setProtectedHeader(gateHeader).encrypt(key),
    wrong_key: await jwt().setProtectedHeader(gateHeader).encrypt(otherKey),
    unknown_kid: await jwt().setProtectedHeader({ ...gateHeader, kid: "no-such-kid" })
      .encrypt(key),
  };
  return { jose_version: JOSE_VERSION, now, tokens };
}

const request = await readStdin();
const ops = { decrypt, mint };
if (!(request.op in ops)) {
  console.error(`unknown op ${JSON.stringify(request.op)}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await ops[request.op](request)) + "\n");
