/* cs.c: error texts, the detail-buffer helper and small shared pieces (hex digits, stop signals).
 */
#include "cs.h"

#include <signal.h>
#include <string.h>

#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>

static const char *const cs_texts[CS_ERR__MAX] = {
    [CS_OK] = "ok",
    [CS_ERR_NOMEM] = "out of memory",
    [CS_ERR_INVAL] = "invalid input",
    [CS_ERR_NOTFOUND] = "not found",
    [CS_ERR_CONFLICT] = "conflict",
    [CS_ERR_TOOBIG] = "too large",
    [CS_ERR_DB] = "database error",
    [CS_ERR_CRYPTO] = "cryptography error",
    [CS_ERR_NET] = "network error",
    [CS_ERR_GOOGLE] = "Google API error",
    [CS_ERR_AUTH] = "not authenticated",
    [CS_ERR_REAUTH] = "Google access revoked; reconnect needed",
    [CS_ERR_RATELIMIT] = "Google rate limit",
    [CS_ERR_BUSY] = "busy",
    [CS_ERR_IO] = "I/O error",
    [CS_ERR_CONFIG] = "configuration error",
};

const char *cs_strerror(int err)
{
    if (err < 0 || err >= CS_ERR__MAX || cs_texts[err] == NULL)
        return "unknown error";
    return cs_texts[err];
}

int cs_fail(char *errbuf, size_t errlen, int err, const char *fmt, ...)
{
    va_list ap;

    if (errbuf != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return err;
}

int cs_text_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        unsigned int c = *p, need, cp;
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                return 0;
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        p++;
        for (unsigned int i = 0; i < need; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (*p & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

void cs_secure_umask(void)
{
    umask(077);
}

int cs_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void cs_on_stop_signals(void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
