/* calsync-admin: migrate, user-add EMAIL [--tz ZONE] (password on stdin), user-list, status,
 * doctor, copy --from STORE --to STORE [--force]. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "db_copy.h"
#include "progress.h"
#include "integ.h"
#include "doctor.h"
#include "log.h"
#include "vesta_adopt.h"
#include "store.h"

static int usage(void)
{
    fprintf(stderr, "usage: calsync-admin migrate\n"
                    "       calsync-admin user-add EMAIL [--tz ZONE]   (password on stdin)\n"
                    "       calsync-admin user-list\n"
                    "       calsync-admin status\n"
                    "       calsync-admin doctor\n"
                    "       calsync-admin vesta-adopt [--dry-run]   (CALSYNC_HOST=vesta: "
                    "Vesta's own Google connections move into calsync)\n"
                    "       calsync-admin copy --from STORE --to STORE [--force] "
                    "[--password-file FILE]\n"
                    "         (STORE: a SQLite path or mysql://USER:PASSWORD@HOST:PORT/DATABASE;\n"
                    "          stop calsync first; --force replaces a non-empty target)\n");
    return 2;
}

/* The schema is brought up to date by db_open; then tokens sealed before they were bound to
 * their row are re-sealed (idempotent). */
static int migrate(struct db *db, const struct cfg *cfg)
{
    char err[CS_ERRLEN];
    int n = 0;

    printf("schema version %d\n", db_version(db));
    if (integ_reseal_legacy(db, cfg->secret_key, &n, err, sizeof err) != CS_OK) {
        fprintf(stderr, "calsync-admin: %s\n", err);
        return 1;
    }
    if (n > 0)
        printf("tokens re-sealed: %d\n", n);
    return 0;
}

static int user_add(struct db *db, int argc, char **argv)
{
    const char *email = NULL, *tz = NULL;
    char pw[AUTH_PASSWORD_MAX + 2], err[CS_ERRLEN];
    struct auth_user u;
    size_t n;
    int rc;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--tz") == 0 && i + 1 < argc)
            tz = argv[++i];
        else if (email == NULL && argv[i][0] != '-')
            email = argv[i];
        else
            return usage();
    }
    if (email == NULL)
        return usage();
    if (fgets(pw, sizeof pw, stdin) == NULL) {
        fprintf(stderr, "calsync-admin: expected the password on stdin\n");
        return 2;
    }
    n = strlen(pw);
    while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        pw[--n] = '\0';
    rc = auth_user_add(db, email, pw, tz, &u, err, sizeof err);
    sodium_memzero(pw, sizeof pw);
    if (rc != CS_OK) {
        fprintf(stderr, "calsync-admin: %s\n", err);
        return rc == CS_ERR_CONFLICT ? 3 : 1;
    }
    printf("%s %s\n", u.id, u.email);
    return 0;
}

static int user_list(struct db *db)
{
    struct db_stmt *st = db_stmt(db, DB_USER_LIST);

    if (st == NULL)
        return 1;
    while (db_step(st) == DB_ROW) {
        const unsigned char *tz = db_col_text(st, 2);
        printf("%s\t%s\t%s\n", db_col_text(st, 0), db_col_text(st, 1), tz ? (const char *)tz : "-");
    }
    db_reset(st);
    return 0;
}

static int status(struct db *db, const struct cfg *cfg)
{
    struct db_stmt *st = db_stmt(db, DB_USER_COUNT);
    long long users = 0;
    char where[512];

    db_url_redact(cfg->db_path, where, sizeof where); /* never the password */
    if (st != NULL && db_step(st) == DB_ROW)
        users = db_col_int64(st, 0);
    if (st != NULL)
        db_reset(st);
    printf("database: %s\nschema version: %d of %d\nusers: %lld\ngoogle: %s\nwebhooks: %s\n", where,
           db_version(db), db_version_latest(db), users,
           cfg_google_enabled(cfg) ? cfg->api_url : "not configured",
           *cfg->webhook_url ? cfg->webhook_url : "off (polling)");
    /* one line per connected user: what an operator looks at first */
    st = db_stmt(db, DB_INTEG_OVERVIEW);
    if (st == NULL)
        return 1;
    printf("connected:\n");
    while (db_step(st) == DB_ROW) {
        char when[CAL_STRLEN] = "never", chan[CAL_STRLEN] = "none";
        const unsigned char *err = db_col_text(st, 4);
        if (!db_col_is_null(st, 2))
            cal_format_utc((time_t)db_col_int64(st, 2), when);
        if (!db_col_is_null(st, 3))
            cal_format_utc((time_t)(db_col_int64(st, 3) / 1000), chan);
        printf("  %s\t%s\tlast sync %s\tchannel until %s\tpending %lld%s%s\n", db_col_text(st, 0),
               db_col_text(st, 1), when, chan, db_col_int64(st, 5), err ? "\terror: " : "",
               err ? (const char *)err : "");
    }
    db_reset(st);
    return 0;
}

/* Rows copied of all the tables: a line per finished table, and how far the whole copy got
 * (redrawn on a terminal, a line per tenth otherwise). */
struct copy_state {
    struct progress p;
    long long before; /* rows of the tables already finished */
};

static void copy_progress(const char *table, long long rows, int finished, void *ctx)
{
    struct copy_state *cs = ctx;

    progress_set(&cs->p, cs->before + rows);
    if (!finished)
        return;
    cs->before += rows;
    progress_note(&cs->p, "%-18s %lld", table, rows);
}

/* Rows of every table of the source, for the progress' total (-1 when one cannot be counted). */
static long long copy_total(struct db *src)
{
    long long total = 0;

    for (size_t i = 0; i < db_copy_table_count(); i++) {
        long long n = db_copy_rows(src, i);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

/* The first line of a password file into out; CS_OK or CS_ERR_CONFIG (told on stderr). */
static int read_password(const char *file, char *out, size_t outlen)
{
    FILE *fp = fopen(file, "r");

    if (fp == NULL) {
        fprintf(stderr, "calsync-admin: copy: cannot open %s: %s\n", file, strerror(errno));
        return CS_ERR_CONFIG;
    }
    if (fgets(out, (int)outlen, fp) == NULL)
        out[0] = '\0';
    fclose(fp);
    out[strcspn(out, "\r\n")] = '\0';
    if (out[0] == '\0') {
        fprintf(stderr, "calsync-admin: copy: %s must hold the password on its first line\n", file);
        return CS_ERR_CONFIG;
    }
    return CS_OK;
}

/* copy --from STORE --to STORE [--force] [--password-file FILE]: both are migrated to the
 * latest schema first; the password file serves the mysql:// side(s) whose URL has none. */
static int copy(int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *pwfile = NULL;
    struct db *src = NULL, *dst = NULL;
    struct copy_state cs = {.before = 0};
    char err[CS_ERRLEN], a[512], b[512], pw[512] = "";
    int force = 0, rc = 1;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            force = 1;
        else if (strcmp(argv[i], "--password-file") == 0 && i + 1 < argc)
            pwfile = argv[++i];
        else
            return usage();
    }
    if (from == NULL || to == NULL || *from == '\0' || *to == '\0')
        return usage();
    db_url_redact(from, a, sizeof a);
    db_url_redact(to, b, sizeof b);
    if (strcmp(from, to) == 0) {
        fprintf(stderr, "calsync-admin: copy: --from and --to name the same store\n");
        return 2;
    }
    if (pwfile != NULL && read_password(pwfile, pw, sizeof pw) != CS_OK)
        return 2;
    if (db_open_with(from, pw[0] ? pw : NULL, 1, &src, err, sizeof err) != CS_OK ||
        db_open_with(to, pw[0] ? pw : NULL, 1, &dst, err, sizeof err) != CS_OK) {
        fprintf(stderr, "calsync-admin: copy: %s\n", err);
        goto out;
    }
    printf("copying %s -> %s\n", a, b);
    progress_start(&cs.p, stdout, "copy", "rows", copy_total(src));
    if (db_copy(src, dst, force, copy_progress, &cs, err, sizeof err) != CS_OK) {
        progress_end(&cs.p);
        fprintf(stderr, "calsync-admin: copy: %s\n", err);
        goto out;
    }
    progress_end(&cs.p);
    printf("done\n");
    rc = 0;
out:
    sodium_memzero(pw, sizeof pw);
    db_close(src);
    db_close(dst);
    return rc;
}

/* Users done of the total, with each user's line (progress_note keeps it when the progress is
 * redrawn on a terminal). */
struct adopt_state {
    struct progress p;
    const struct vesta_adopt_stats *st; /* its total is set before the first user's line */
};

static void adopt_line(void *ctx, const char *user_id, const char *what)
{
    struct adopt_state *as = ctx;

    if (as->p.total < 0)
        as->p.total = as->st->total;
    progress_set(&as->p, as->p.done + 1);
    progress_note(&as->p, "%s: %s", user_id, what);
}

/* vesta-adopt [--dry-run]: exit 1 only when a user could not be moved (or the store failed). */
static int adopt(struct db *db, const struct cfg *cfg, int argc, char **argv)
{
    struct vesta_adopt_stats st;
    struct adopt_state as = {.st = &st};
    int dry = 0;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0)
            dry = 1;
        else
            return usage();
    }
    if (cfg->host != CFG_HOST_VESTA) {
        fprintf(stderr, "calsync-admin: vesta-adopt runs with CALSYNC_HOST=vesta (on Vesta's "
                        "database)\n");
        return 2;
    }
    progress_start(&as.p, stdout, "vesta-adopt", "users", -1);
    if (vesta_adopt(db, cfg, dry, adopt_line, &as, &st) != CS_OK) {
        fprintf(stderr, "calsync-admin: vesta-adopt: cannot read Vesta's user_integrations\n");
        return 1;
    }
    if (st.total > 0)
        progress_end(&as.p);
    printf("%s%d of %d Vesta connection(s) %s, %d need a new consent, %d skipped, %d failed\n",
           dry ? "dry run: " : "", st.adopted, st.total, dry ? "would be adopted" : "adopted",
           st.reauth, st.skipped, st.failed);
    return st.failed > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    struct db *db = NULL;
    char err[CS_ERRLEN];
    int rc;

    log_init("admin");
    if (argc < 2)
        return usage();
#ifdef CALSYNC_DEFAULT_CONFIG
    /* installed: the packaged environment file, unless the caller names one (or "") */
    if (getenv("CALSYNC_CONFIG") == NULL && access(CALSYNC_DEFAULT_CONFIG, F_OK) == 0)
        setenv("CALSYNC_CONFIG", CALSYNC_DEFAULT_CONFIG, 1);
#endif
    if (strcmp(argv[1], "doctor") == 0) /* before the database is opened (and migrated) */
        return doctor_run(argc, argv);
    cfg_load_or_die(&cfg);
    if (crypt_init() != CS_OK)
        return 1;
    if (strcmp(argv[1], "copy") == 0) { /* between the stores it names, not CALSYNC_DB */
        rc = copy(argc, argv);
        cfg_free(&cfg);
        return rc;
    }
    if (store_open(&cfg, 1, &db, err, sizeof err) != CS_OK) {
        fprintf(stderr, "calsync-admin: %s\n", err);
        cfg_free(&cfg);
        return 1;
    }
    if (strcmp(argv[1], "migrate") == 0) {
        rc = migrate(db, &cfg);
    } else if (strcmp(argv[1], "user-add") == 0) {
        rc = user_add(db, argc, argv);
    } else if (strcmp(argv[1], "user-list") == 0) {
        rc = user_list(db);
    } else if (strcmp(argv[1], "status") == 0) {
        rc = status(db, &cfg);
    } else if (strcmp(argv[1], "vesta-adopt") == 0) {
        rc = adopt(db, &cfg, argc, argv);
    } else {
        rc = usage();
    }
    db_close(db);
    cfg_free(&cfg);
    return rc;
}
