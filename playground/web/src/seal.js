// Sealed answers, verified in the browser (docs/sealed-answers.md): the JWS payload is
// the RFC 8785 canonical form of the answer without extensions.seal.jws, signed with
// the gateway's Ed25519 seal key, whose public half the gateway publishes as a JWK Set
// at /seal/keys. WebCrypto checks the signature, so the verdict does not rest on the
// gateway's word about its own answer.

// canonical is the JSON Canonicalization Scheme (RFC 8785) of a parsed JSON value:
// members sorted by their names' UTF-16 code units (what Array.prototype.sort does with
// strings), no whitespace, and numbers and strings as JSON.stringify prints them, which
// is what the scheme prescribes.
export function canonical(v) {
  if (v === null || typeof v !== "object") {
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error(`the number ${v} has no canonical form`);
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
}

const encodeB64 = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function decodeB64(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error("not base64url");
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// attestedValues lists every value of the answer but the seal itself, one
// "path = value" line each, sorted: what the seal attests (as `gateway seal verify`
// prints it).
export function attestedValues(answer) {
  const out = [];
  const walk = (path, v) => {
    if (v !== null && typeof v === "object") {
      for (const [k, e] of Object.entries(v)) {
        if (path === "extensions" && k === "seal") continue;
        walk(path === "" ? String(k) : `${path}.${k}`, e);
      }
    } else {
      out.push(`${path} = ${JSON.stringify(v)}`);
    }
  };
  walk("", answer);
  return out.sort();
}

// verify checks the seal of an answer (a parsed JSON object) against a JWK Set:
// {ok: true, attestation, values} or {ok: false, reason}, with unsupported set when the
// browser cannot check Ed25519 at all (no WebCrypto outside a secure context, or no
// Ed25519 in it): that says nothing about the seal. It never throws.
export async function verify(answer, jwks) {
  try {
    const seal = answer && answer.extensions && answer.extensions.seal;
    if (!seal || typeof seal !== "object") return { ok: false, reason: "the answer carries no seal (extensions.seal)" };
    const jws = seal.jws;
    const parts = typeof jws === "string" ? jws.split(".") : [];
    if (parts.length !== 3 || parts[1] !== "") return { ok: false, reason: "the seal is not a detached JWS (header..signature)" };
    const header = JSON.parse(new TextDecoder().decode(decodeB64(parts[0])));
    if (header.alg !== "EdDSA") return { ok: false, reason: `the JWS algorithm is ${header.alg}, seals use EdDSA` };
    const jwk = ((jwks && jwks.keys) || []).find((k) => k.kid === header.kid && k.kty === "OKP" && k.crv === "Ed25519");
    if (!jwk) return { ok: false, reason: `the seal names key ${header.kid}, which the gateway does not publish` };
    const { jws: _, ...attestation } = seal;
    const unsigned = { ...answer, extensions: { ...answer.extensions, seal: attestation } };
    const payload = new TextEncoder().encode(canonical(unsigned));
    const input = new TextEncoder().encode(`${parts[0]}.${encodeB64(payload)}`);
    let key;
    try {
      key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return { ok: false, unsupported: true, reason: `this browser cannot verify Ed25519 signatures (${e.message}); use gateway seal verify` };
    }
    const good = await crypto.subtle.verify({ name: "Ed25519" }, key, decodeB64(parts[2]), input);
    if (!good) return { ok: false, reason: "the signature does not match the answer: a value was changed, or the key is not the gateway's" };
    return { ok: true, attestation, values: attestedValues(answer) };
  } catch (e) {
    return { ok: false, reason: `the seal could not be checked: ${e.message}` };
  }
}

// tamper changes one character of the answer's data in its JSON text, to show that the
// seal then fails: the last one of the first string value (its code point plus one),
// or else the first digit of a number. It returns the text unchanged when the data hold
// neither.
export function tamper(text) {
  const m = /"data"\s*:[\s\S]*?:\s*"((?:[^"\\]|\\.)+)"/.exec(text);
  if (m && !m[1].endsWith("\\")) {
    const end = m.index + m[0].length - 1; // the closing quote
    const last = text.charCodeAt(end - 1);
    return text.slice(0, end - 1) + String.fromCharCode(last === 0x7e ? 0x7d : last + 1) + text.slice(end);
  }
  const d = /"data"\s*:[\s\S]*?:\s*-?([0-9])/.exec(text);
  if (!d) return text;
  const at = d.index + d[0].length - 1;
  return text.slice(0, at) + String((Number(d[1]) + 1) % 10) + text.slice(at + 1);
}
