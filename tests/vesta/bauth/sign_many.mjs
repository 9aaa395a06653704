// sign_many.mjs: COUNT session cookies signed by the very functions better-auth uses, without a
// sign-up each: better-auth's generateId(32) (packages/better-auth/src/utils/id.ts, the session
// token of internal-adapter.ts createSession) and better-call's serializeSignedCookie (v1.0.19
// src/cookies.ts -> src/crypto.ts signCookieValue, what ctx.setSignedCookie calls), keyed with
// BETTER_AUTH_SECRET. One sign-up's signature is random: it holds no '+' or '/' about half the
// time, so a batch makes sure the verifier meets every base64 character and its %-escape.
// Prints one line per cookie: "TOKEN VALUE", VALUE as in Set-Cookie (URL-encoded).
import { generateId } from "better-auth";
import { serializeSignedCookie } from "better-call";

const secret = process.env.BETTER_AUTH_SECRET;
const count = Number(process.env.COUNT || "40");
if (!secret || !(count > 0)) {
    console.error("sign_many.mjs: BETTER_AUTH_SECRET and COUNT (> 0) are needed");
    process.exit(2);
}
const name = "better-auth.session_token";
let out = "";
for (let i = 0; i < count; i++) {
    const token = generateId(32);
    const sc = await serializeSignedCookie(name, token, secret, { path: "/", httpOnly: true, sameSite: "lax" });
    const nameValue = sc.split(";")[0];
    out += `${token} ${nameValue.slice(name.length + 1)}\n`;
}
process.stdout.write(out);
