// signup.mjs: signs a user up with the real better-auth library (the version Vesta pins, 1.3.x),
// configured as Vesta configures it, on Vesta's tables (tests/vesta/fixture.sql), and prints the
// session cookie it issued as ONE JSON line on stdout:
//   {"cookieName": "...", "cookieValue": "...", "userId": "...", "token": "..."}
// cookieValue is exactly what a browser sends back: the Set-Cookie value, still URL-encoded.
//
// Environment: VESTA_DB_URL (mysql://user:pw@127.0.0.1:port/db), BETTER_AUTH_SECRET,
// SIGNUP_EMAIL, SIGNUP_PASSWORD (8+ characters), SIGNUP_NAME; BETTER_AUTH_URL optional (default
// http://127.0.0.1:8080; an https URL makes the cookie __Secure-better-auth.session_token).
//
// How the cookie is made (read in the sources of the versions package-lock.json pins):
// - better-auth v1.3.34, packages/better-auth/src/cookies/index.ts: createCookieGetter names it
//   `${cookiePrefix || "better-auth"}.session_token`, with "__Secure-" in front when baseURL is
//   https; setSessionCookie calls ctx.setSignedCookie(name, session.token, ctx.context.secret).
// - better-auth v1.3.34, packages/better-auth/src/db/internal-adapter.ts: createSession's token
//   is generateId(32) (src/utils/id.ts: 32 characters of [a-zA-Z0-9]); ids are generateId() too,
//   32 characters, so they fit Vesta's varchar(36).
// - better-auth v1.3.34, packages/better-auth/src/init.ts: the secret is options.secret ||
//   BETTER_AUTH_SECRET || AUTH_SECRET || a default.
// - better-call v1.0.19, src/crypto.ts: signCookieValue(value, secret) = encodeURIComponent(
//   `${value}.${btoa(HMAC-SHA256(key = TextEncoder().encode(secret), data = value))}`): standard
//   base64 with '=' padding (44 characters), the whole "TOKEN.SIG" URL-encoded ('+' -> %2B,
//   '/' -> %2F, '=' -> %3D).
// - better-call v1.0.19, src/cookies.ts: parseCookies decodes a value with decodeURIComponent only
//   when it holds a '%' (utils.ts tryDecode), so the library takes the encoded and the decoded
//   form alike; src/context.ts getSignedCookie splits at the LAST '.', wants a signature of
//   exactly 44 characters ending in '=', and verifies it with WebCrypto HMAC-SHA256.
// - better-auth v1.3.34, packages/better-auth/src/adapters/kysely-adapter/dialect.ts: a database
//   with getConnection (a mysql2/promise pool) becomes kysely's MysqlDialect, type "mysql" (no
//   native booleans: written as 0/1; Date objects handed to mysql2).
import { betterAuth } from "better-auth";
import { createPool } from "mysql2/promise";

function need(name) {
    const v = process.env[name];
    if (!v) {
        console.error(`signup.mjs: ${name} is not set`);
        process.exit(2);
    }
    return v;
}

const dbUrl = new URL(need("VESTA_DB_URL"));
if (dbUrl.protocol !== "mysql:") {
    console.error(`signup.mjs: VESTA_DB_URL must be mysql://, not ${dbUrl.protocol}`);
    process.exit(2);
}
const secret = need("BETTER_AUTH_SECRET");
const email = need("SIGNUP_EMAIL");
const password = need("SIGNUP_PASSWORD");
const name = need("SIGNUP_NAME");
const baseURL = process.env.BETTER_AUTH_URL || "http://127.0.0.1:8080";

// stdout carries the one JSON line: whatever the library logs goes to stderr
console.log = console.info = console.debug = console.warn = console.error;

const pool = createPool({
    host: dbUrl.hostname,
    port: dbUrl.port ? Number(dbUrl.port) : 3306,
    user: decodeURIComponent(dbUrl.username),
    password: decodeURIComponent(dbUrl.password),
    database: decodeURIComponent(dbUrl.pathname.replace(/^\//, "")),
    // Vesta's timestamps hold UTC: mysql2 writes and reads Date objects as UTC...
    timezone: "Z",
    connectionLimit: 4,
});
// ...and every session runs in UTC (TIMESTAMP columns and now() follow time_zone). mysql2 queues
// a connection's commands in order, so this runs before the connection's first query.
pool.on("connection", (conn) => {
    conn.query("SET time_zone = '+00:00'", (err) => {
        if (err) console.error(`signup.mjs: SET time_zone: ${err.message}`);
    });
});

const auth = betterAuth({
    baseURL,
    secret,
    database: pool,
    telemetry: { enabled: false },
    logger: { level: "error" },
    emailAndPassword: { enabled: true },
    user: {
        modelName: "users",
        fields: {
            emailVerified: "email_verified",
            image: "image",
            createdAt: "created_at",
            updatedAt: "updated_at",
        },
        additionalFields: {
            // Vesta's users.first_name is NOT NULL: the sign-up form sends it
            firstName: { type: "string", fieldName: "first_name", required: true, input: true },
        },
    },
    session: {
        modelName: "sessions",
        fields: {
            userId: "user_id",
            expiresAt: "expires_at",
            ipAddress: "ip_address",
            userAgent: "user_agent",
            createdAt: "created_at",
            updatedAt: "updated_at",
        },
        // no cookie cache (Vesta has none): the session cookie alone
    },
    account: {
        modelName: "account",
        fields: {
            accountId: "account_id",
            providerId: "provider_id",
            userId: "user_id",
            accessToken: "access_token",
            refreshToken: "refresh_token",
            idToken: "id_token",
            accessTokenExpiresAt: "access_token_expires_at",
            refreshTokenExpiresAt: "refresh_token_expires_at",
            createdAt: "created_at",
            updatedAt: "updated_at",
        },
    },
    verification: {
        modelName: "verification",
        fields: {
            expiresAt: "expires_at",
            createdAt: "created_at",
            updatedAt: "updated_at",
        },
    },
});

function fail(msg) {
    console.error(`signup.mjs: ${msg}`);
    process.exitCode = 1;
}

async function main() {
    const expectName = (baseURL.startsWith("https://") ? "__Secure-" : "") + "better-auth.session_token";
    const firstName = name.split(/\s+/)[0];
    const res = await auth.api.signUpEmail({
        body: { name, email, password, firstName },
        headers: new Headers({ "user-agent": "calsync-test/signup.mjs" }),
        asResponse: true,
    });
    if (!res.ok) {
        return fail(`sign-up answered ${res.status}: ${await res.text()}`);
    }
    const body = await res.json();
    const setCookies = res.headers.getSetCookie();
    const sc = setCookies.find((c) => c.startsWith(`${expectName}=`));
    if (!sc) {
        return fail(`no ${expectName} in Set-Cookie: ${JSON.stringify(setCookies)}`);
    }
    // a browser keeps the value byte for byte (RFC 6265 5.2: up to the first ';') and sends it
    // back as it is: the URL-encoded form
    const nameValue = sc.split(";")[0];
    const cookieName = nameValue.slice(0, nameValue.indexOf("="));
    const cookieValue = nameValue.slice(nameValue.indexOf("=") + 1);

    // the library itself must take the cookie back
    const got = await auth.api.getSession({
        headers: new Headers({ cookie: `${cookieName}=${cookieValue}` }),
    });
    if (!got || !got.session || !got.user) {
        return fail(`getSession refused the cookie it issued: ${cookieName}=${cookieValue}`);
    }
    const userId = got.user.id;
    if (body?.user?.id && body.user.id !== userId) {
        return fail(`sign-up's user ${body.user.id} is not getSession's ${userId}`);
    }

    const [rows] = await pool.query("SELECT token FROM sessions WHERE user_id = ?", [userId]);
    if (rows.length !== 1) {
        return fail(`${rows.length} sessions rows for user ${userId}, want 1`);
    }
    const token = rows[0].token;
    const decoded = decodeURIComponent(cookieValue);
    if (decoded.slice(0, decoded.lastIndexOf(".")) !== token || got.session.token !== token) {
        return fail(`the cookie's token is not the sessions row's (${token})`);
    }
    process.stdout.write(JSON.stringify({ cookieName, cookieValue, userId, token }) + "\n");
}

try {
    await main();
} catch (e) {
    fail(e?.stack || String(e));
} finally {
    await pool.end();
}
