/* cfg_host.c: the configuration of the host calsync serves (CALSYNC_HOST): standalone, or
 * vesta with Vesta's MySQL-protocol database and its BetterAuth secret. */
#include "cfg.h"
#include "cfg_int.h"
#include "cs.h"
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CFG_BAUTH_SECRET_MAX 1024

int cfg_value_or_file(const char *name, const char *v, const char *file, char *out, size_t outlen,
                      char *errbuf, size_t errlen)
{
    out[0] = '\0';
    if (v != NULL && *v != '\0' && file != NULL && *file != '\0')
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                       "%s and %s_FILE are both set: give it in one place", name, name);
    if (file != NULL && *file != '\0') {
        FILE *fp = fopen(file, "r");
        if (fp == NULL)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG, "%s_FILE: cannot open %s: %s", name, file,
                           strerror(errno));
        if (fgets(out, (int)outlen, fp) == NULL)
            out[0] = '\0';
        fclose(fp);
        out[strcspn(out, "\r\n")] = '\0';
        return CS_OK;
    }
    if (v != NULL && strlen(v) >= outlen)
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG, "%s: longer than %zu bytes", name,
                       outlen - 2);
    snprintf(out, outlen, "%s", v ? v : "");
    return CS_OK;
}

/* The secret's bytes from the variable or the first line of the file (one of them). */
static int cfg_bauth_secret(struct cfg *c, const char *v, const char *file, char *errbuf,
                            size_t errlen)
{
    char line[CFG_BAUTH_SECRET_MAX + 2];
    int rc = cfg_value_or_file("BETTER_AUTH_SECRET", v, file, line, sizeof line, errbuf, errlen);

    if (rc != CS_OK)
        ;
    else if (line[0] == '\0')
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "CALSYNC_HOST=vesta needs Vesta's BetterAuth secret: set BETTER_AUTH_SECRET "
                     "or BETTER_AUTH_SECRET_FILE");
    else if (strlen(line) > CFG_BAUTH_SECRET_MAX)
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG, "BETTER_AUTH_SECRET: longer than %d bytes",
                     CFG_BAUTH_SECRET_MAX);
    else if ((c->bauth_secret = (unsigned char *)strdup(line)) == NULL)
        rc = CS_ERR_NOMEM;
    else
        c->bauth_secret_len = strlen(line);
    sodium_memzero(line, sizeof line);
    return rc;
}

int cfg_host_load(struct cfg *c, const char *(*get)(const char *, void *), void *ctx, char *errbuf,
                  size_t errlen)
{
    const char *host = get("CALSYNC_HOST", ctx), *v;
    char *end;
    long ms = 250;

    c->host = CFG_HOST_STANDALONE;
    if (host != NULL && *host != '\0' && strcmp(host, "standalone") != 0) {
        if (strcmp(host, "vesta") != 0)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_HOST: expected standalone or vesta, not \"%.40s\"", host);
        c->host = CFG_HOST_VESTA;
    }
    if ((v = get("CALSYNC_FEED_MS", ctx)) != NULL && *v != '\0') {
        errno = 0;
        ms = strtol(v, &end, 10);
        if (errno != 0 || *end != '\0' || ms < 20 || ms > 60000)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_FEED_MS: expected milliseconds from 20 to 60000");
    }
    c->feed_ms = (int)ms;
    if (c->host != CFG_HOST_VESTA)
        return CS_OK;
    if (!db_url_is_mysql(c->db_path))
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                       "CALSYNC_HOST=vesta runs on Vesta's own database: CALSYNC_DB must be its "
                       "mysql://USER@HOST:PORT/DATABASE URL, not a SQLite file");
    return cfg_bauth_secret(c, get("BETTER_AUTH_SECRET", ctx), get("BETTER_AUTH_SECRET_FILE", ctx),
                            errbuf, errlen);
}

void cfg_host_free(struct cfg *c)
{
    if (c->bauth_secret != NULL) {
        sodium_memzero(c->bauth_secret, c->bauth_secret_len);
        free(c->bauth_secret);
    }
    c->bauth_secret = NULL;
    c->bauth_secret_len = 0;
}
