/* cfg_file.c: where the configuration comes from: the environment over a KEY=VALUE file. */
#include "cfg.h"
#include "cfg_int.h"
#include "log.h"
#include "cs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CFG_FILE_MAX 64

struct cfg_file {
    char *keys[CFG_FILE_MAX];
    char *vals[CFG_FILE_MAX];
    size_t n;
};

static void cfg_file_free(struct cfg_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->keys[i]);
        sodium_memzero(f->vals[i], strlen(f->vals[i]));
        free(f->vals[i]);
    }
    f->n = 0;
}

/* Parses a KEY=VALUE file (# comments, blank lines, optional quotes). */
static int cfg_file_read(const char *path, struct cfg_file *f, char *errbuf, size_t errlen)
{
    FILE *fp;
    char line[4096];
    int rc = CS_OK, lineno = 0;

    fp = fopen(path, "r");
    if (fp == NULL)
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG, "CALSYNC_CONFIG: cannot open %s: %s", path,
                       strerror(errno));
    while (fgets(line, sizeof line, fp) != NULL) {
        char *k, *v, *eq;
        size_t vl;

        lineno++;
        k = cfg_trim(line);
        if (*k == '\0' || *k == '#')
            continue;
        eq = strchr(k, '=');
        if (eq == NULL || f->n == CFG_FILE_MAX) {
            rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG, "%s:%d: expected KEY=VALUE", path, lineno);
            goto out;
        }
        *eq = '\0';
        k = cfg_trim(k);
        v = cfg_trim(eq + 1);
        vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = '\0';
            v++;
        }
        f->keys[f->n] = strdup(k);
        f->vals[f->n] = strdup(v);
        if (f->keys[f->n] == NULL || f->vals[f->n] == NULL) {
            free(f->keys[f->n]);
            free(f->vals[f->n]);
            rc = CS_ERR_NOMEM;
            goto out;
        }
        f->n++;
    }
out:
    sodium_memzero(line, sizeof line);
    fclose(fp);
    return rc;
}

struct cfg_env {
    struct cfg_file file;
};

static const char *cfg_env_get(const char *key, void *ctx)
{
    struct cfg_env *e = ctx;
    const char *v = getenv(key);

    if (v != NULL)
        return v;
    for (size_t i = e->file.n; i > 0; i--)
        if (strcmp(e->file.keys[i - 1], key) == 0)
            return e->file.vals[i - 1];
    return NULL;
}

int cfg_load(struct cfg *out, char *errbuf, size_t errlen)
{
    struct cfg_env env = {0};
    const char *path = getenv("CALSYNC_CONFIG");
    int rc;

    if (path != NULL && *path != '\0') {
        rc = cfg_file_read(path, &env.file, errbuf, errlen);
        if (rc != CS_OK)
            goto out;
    }
    rc = cfg_load_from(out, cfg_env_get, &env, errbuf, errlen);
out:
    cfg_file_free(&env.file);
    return rc;
}

void cfg_load_or_die(struct cfg *out)
{
    char err[CS_ERRLEN];

    cs_secure_umask(); /* before the first file of the process exists */
    if (cfg_load(out, err, sizeof err) != CS_OK) {
        fprintf(stderr, "calsync: configuration error: %s\n", err);
        exit(2);
    }
    log_set_level((enum log_level)out->log_level);
}
