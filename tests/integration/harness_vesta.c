/* harness_vesta.c: the test stack as Vesta's: its users are rows of Vesta's users table, a login
 * is a BetterAuth session row and its signed cookie. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "harness.h"
#include "harness_int.h"
#include "bauth.h"
#include "cs.h"

void stack_vesta_user_id(const char *email, char out[33])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    static const char hex[] = "0123456789abcdef";

    crypto_hash_sha256(h, (const unsigned char *)email, strlen(email));
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[32] = '\0';
}

/* Vesta's text literal of s (quotes doubled; the tests' values hold no backslashes). */
static void vesta_lit(const char *s, char *out, size_t len)
{
    size_t n = 0;

    out[n++] = '\'';
    for (; *s && n + 3 < len; s++) {
        if (*s == '\'')
            out[n++] = '\'';
        out[n++] = *s;
    }
    out[n++] = '\'';
    out[n] = '\0';
}

int stack_vesta_user(struct stack *s, const char *email, const char *tz)
{
    char id[33], sql[1024], e[300], z[80], name[300];
    const char *at = strchr(email, '@');

    stack_vesta_user_id(email, id);
    vesta_lit(email, e, sizeof e);
    vesta_lit(tz ? tz : "UTC", z, sizeof z);
    snprintf(name, sizeof name, "%.*s", at ? (int)(at - email) : (int)strlen(email), email);
    {
        char n2[320];
        vesta_lit(name, n2, sizeof n2);
        snprintf(sql, sizeof sql,
                 "INSERT INTO `users`(id, name, email, first_name, last_name, account_id, "
                 "timezone) VALUES ('%s', %s, %s, %s, 'Agente', 1, %s)",
                 id, n2, e, n2, z);
    }
    return stack_db_exec(s, sql) == 0 ? 0 : 1;
}

long stack_vesta_login(struct client *cl, const char *email)
{
    char id[33], token[33], sid[33], sql[512], cookie[256], line[512];
    unsigned char rnd[32];
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    stack_vesta_user_id(email, id);
    {
        char q[200];
        snprintf(q, sizeof q, "SELECT count(*) FROM `users` WHERE id = '%s'", id);
        if (stack_db_int(cl->s, q) != 1)
            return 401;
    }
    randombytes_buf(rnd, sizeof rnd);
    for (int i = 0; i < 32; i++)
        token[i] = alnum[rnd[i] % 62];
    token[32] = '\0';
    randombytes_buf(rnd, sizeof rnd);
    for (int i = 0; i < 32; i++)
        sid[i] = alnum[rnd[i] % 62];
    sid[32] = '\0';
    snprintf(sql, sizeof sql,
             "INSERT INTO `sessions`(id, token, user_id, expires_at, ip_address, user_agent) "
             "VALUES ('%s', '%s', '%s', UTC_TIMESTAMP() + INTERVAL 7 DAY, '', 'it')",
             sid, token, id);
    if (stack_db_exec(cl->s, sql) != 0)
        return 500;
    if (bauth_sign(token, (const unsigned char *)STACK_BAUTH_SECRET, strlen(STACK_BAUTH_SECRET),
                   cookie, sizeof cookie) != CS_OK)
        return 500;
    /* the cookie as BetterAuth's Set-Cookie leaves it in the browser (Netscape cookie line) */
    snprintf(line, sizeof line, "127.0.0.1\tFALSE\t/\tFALSE\t0\t%s\t%s", BAUTH_COOKIE, cookie);
    curl_easy_setopt(cl->c, CURLOPT_COOKIELIST, line);
    /* the first request after a login makes calsync's own row of the agent, as in Vesta */
    {
        struct resp r;
        long st = client_req(cl, "GET", "/api/auth/me", NULL, NULL, &r);
        resp_free(&r);
        if (st != 200)
            return st;
    }
    return 200;
}
