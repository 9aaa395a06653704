/* db_url.c: the store URL (CALSYNC_DB): which back end, the parts of a mysql:// URL, and the
 * form of it that may be logged. Outside input: fuzzed by tests/fuzz/fuzz_dburl.c. */
#include "db.h"
#include "cs.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

int db_url_is_mysql(const char *url)
{
    return url != NULL && strncmp(url, "mysql://", 8) == 0;
}

/* Percent-decodes s[0..n) into out (NUL-terminated); -1 when malformed, too long, or when it
 * decodes to a control character (a NUL would cut the value short). */
static int db_url_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = cs_hex_digit(s[i + 1])) < 0 ||
                (lo = cs_hex_digit(s[i + 2])) < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

int db_url_parse(const char *url, struct db_url *out, char *errbuf, size_t errlen)
{
    const char *p, *auth_end, *at, *colon, *host, *host_end, *path, *query;
    char port[8];
    size_t n;
    int rc = CS_ERR_CONFIG;

    memset(out, 0, sizeof *out);
    out->port = 3306;
    if (!db_url_is_mysql(url))
        return cs_fail(errbuf, errlen, rc, "CALSYNC_DB: a MySQL URL starts with mysql://");
    for (p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return cs_fail(errbuf, errlen, rc,
                           "CALSYNC_DB: spaces and control characters must be percent-encoded");
    p = url + 8;
    path = strchr(p, '/');
    if (path == NULL)
        return cs_fail(errbuf, errlen, rc,
                       "CALSYNC_DB: expected mysql://USER:PASSWORD@HOST:PORT/DATABASE");
    auth_end = path;
    /* the last '@' before the path ends the user info (a password may hold an encoded '@') */
    at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at == NULL || at == p)
        return cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the user is missing (mysql://USER@...)");
    colon = memchr(p, ':', (size_t)(at - p));
    if (db_url_decode(p, (size_t)((colon ? colon : at) - p), out->user, sizeof out->user) != 0 ||
        out->user[0] == '\0') {
        rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the user is malformed or too long");
        goto fail;
    }
    if (colon != NULL && db_url_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                                       sizeof out->password) != 0) {
        rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the password is malformed or too long");
        goto fail;
    }
    host = at + 1;
    if (*host == '[') { /* IPv6 literal */
        const char *rb = memchr(host, ']', (size_t)(auth_end - host));
        if (rb == NULL || rb - host - 1 <= 0 || (size_t)(rb - host - 1) >= sizeof out->host) {
            rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: malformed [IPv6] host");
            goto fail;
        }
        memcpy(out->host, host + 1, (size_t)(rb - host - 1));
        host_end = rb + 1;
        if (host_end < auth_end && *host_end != ':') {
            rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: malformed [IPv6] host");
            goto fail;
        }
    } else {
        host_end = memchr(host, ':', (size_t)(auth_end - host));
        if (host_end == NULL)
            host_end = auth_end;
        n = (size_t)(host_end - host);
        if (n >= sizeof out->host) {
            rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the host is too long");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            char c = host[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_')) {
                rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the host is malformed");
                goto fail;
            }
        }
        memcpy(out->host, host, n);
    }
    if (host_end < auth_end) { /* ":PORT" */
        const char *ps = host_end + 1;
        unsigned long v = 0;
        n = (size_t)(auth_end - ps);
        if (n == 0 || n >= sizeof port) {
            rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the port must be 1..65535");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (ps[i] < '0' || ps[i] > '9') {
                rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the port must be 1..65535");
                goto fail;
            }
            v = v * 10 + (unsigned long)(ps[i] - '0');
        }
        if (v < 1 || v > 65535) {
            rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the port must be 1..65535");
            goto fail;
        }
        out->port = (unsigned)v;
    }
    path++;
    query = strchr(path, '?');
    n = query ? (size_t)(query - path) : strlen(path);
    if (n == 0 || n >= sizeof out->database) {
        rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the database name is missing or too long");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '$')) {
            rc = cs_fail(errbuf, errlen, rc,
                         "CALSYNC_DB: the database name may hold letters, digits, _ and $ only");
            goto fail;
        }
    }
    memcpy(out->database, path, n);
    if (query != NULL) {
        const char *q = query + 1;
        while (*q) {
            const char *amp = strchr(q, '&');
            size_t len = amp ? (size_t)(amp - q) : strlen(q);
            if (len > 7 && strncmp(q, "socket=", 7) == 0) {
                if (db_url_decode(q + 7, len - 7, out->socket, sizeof out->socket) != 0 ||
                    out->socket[0] != '/') {
                    rc = cs_fail(errbuf, errlen, rc,
                                 "CALSYNC_DB: socket= takes an absolute path (at most 255 bytes)");
                    goto fail;
                }
            } else {
                rc = cs_fail(errbuf, errlen, rc,
                             "CALSYNC_DB: unknown option in the URL (only socket=PATH is known)");
                goto fail;
            }
            q += len;
            if (*q == '&')
                q++;
        }
    }
    if (out->host[0] == '\0' && out->socket[0] == '\0') {
        rc = cs_fail(errbuf, errlen, rc, "CALSYNC_DB: the host is missing");
        goto fail;
    }
    return CS_OK;
fail:
    sodium_memzero(out->password, sizeof out->password);
    return rc;
}

void db_url_redact(const char *url, char *out, size_t outlen)
{
    const char *p, *path, *at = NULL, *colon;

    if (outlen == 0)
        return;
    if (!db_url_is_mysql(url)) {
        snprintf(out, outlen, "%s", url ? url : "");
        return;
    }
    p = url + 8;
    /* the user info ends where db_url_parse ends it: the last '@' before the first '/' */
    path = strchr(p, '/');
    if (path == NULL)
        path = p + strlen(p);
    for (const char *q = p; q < path; q++)
        if (*q == '@')
            at = q;
    if (at == NULL) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    colon = memchr(p, ':', (size_t)(at - p));
    if (colon == NULL)
        snprintf(out, outlen, "mysql://%.*s@%s", (int)(at - p), p, at + 1);
    else
        snprintf(out, outlen, "mysql://%.*s:***@%s", (int)(colon - p), p, at + 1);
}
