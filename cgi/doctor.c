/* doctor.c: calsync-admin doctor: checks an installation and prints OK/WARN/FAIL per check. */
#include "doctor.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>

#include <curl/curl.h>

#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "store.h"
#include "vesta_schema.h"

#define DOC_HOST_MAX 256
#define DOC_PROBE_TIMEOUT_MS 5000L
#define DOC_SKEW_WARN_S 60
#define DOC_SKEW_FAIL_S 300

enum doc_level { DOC_OK, DOC_WARN, DOC_FAIL, DOC_SKIP, DOC__MAX };

struct doc {
    int fails, warns;
};

/* Prints one result line and counts it. */
static void doc_say(struct doc *d, enum doc_level lvl, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void doc_say(struct doc *d, enum doc_level lvl, const char *check, const char *fmt, ...)
{
    static const char *const names[DOC__MAX] = {"OK", "WARN", "FAIL", "SKIP"};
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("%-5s %-16s %s\n", names[lvl], check, msg);
    if (lvl == DOC_FAIL)
        d->fails++;
    else if (lvl == DOC_WARN)
        d->warns++;
}

/* The mode bits of path into *mode and its owner's name into owner; 0, or -1 when absent. */
static int doc_stat(const char *path, mode_t *mode, char *owner, size_t ownerlen, int *regular)
{
    struct stat st;
    struct passwd *pw;

    if (stat(path, &st) != 0)
        return -1;
    *mode = st.st_mode & 07777;
    *regular = S_ISREG(st.st_mode);
    pw = getpwuid(st.st_uid);
    if (pw != NULL)
        snprintf(owner, ownerlen, "%s", pw->pw_name);
    else
        snprintf(owner, ownerlen, "uid %ld", (long)st.st_uid);
    return 0;
}

/* The CALSYNC_CONFIG file holds secrets (client secret, webhook secret): nobody else may read it.
 */
static void doc_config_file(struct doc *d, const char *path)
{
    char owner[64];
    mode_t mode;
    int regular;

    if (path == NULL || *path == '\0')
        return;
    if (doc_stat(path, &mode, owner, sizeof owner, &regular) != 0)
        return; /* cfg_load already said it cannot be opened */
    if (mode & 0007)
        doc_say(d, DOC_FAIL, "config file",
                "%s is readable by everyone (mode %04o) and holds secrets: chmod 640 it", path,
                (unsigned)mode);
    else
        doc_say(d, DOC_OK, "config file", "%s (mode %04o, owner %s)", path, (unsigned)mode, owner);
}

/* The secret key decrypts every stored Google token: it must be 0600 or 0400. */
static void doc_key_file(struct doc *d, const struct cfg *cfg)
{
    char owner[64];
    mode_t mode;
    int regular;

    if (cfg->secret_key_file == NULL) {
        doc_say(d, DOC_WARN, "secret key",
                "CALSYNC_SECRET_KEY is given inline; prefer CALSYNC_SECRET_KEY_FILE (mode 0600)");
        return;
    }
    if (doc_stat(cfg->secret_key_file, &mode, owner, sizeof owner, &regular) != 0) {
        doc_say(d, DOC_FAIL, "secret key", "%s: cannot stat", cfg->secret_key_file);
        return;
    }
    if (!regular)
        doc_say(d, DOC_FAIL, "secret key", "%s is not a regular file", cfg->secret_key_file);
    else if (mode & 0077)
        doc_say(d, DOC_FAIL, "secret key",
                "%s has mode %04o: it must be 0600 or 0400 (not group/world readable): "
                "chmod 600 %s",
                cfg->secret_key_file, (unsigned)mode, cfg->secret_key_file);
    else
        doc_say(d, DOC_OK, "secret key", "%s (mode %04o, owner %s)", cfg->secret_key_file,
                (unsigned)mode, owner);
}

/* The vesta host: the secret is there (never shown), and Vesta's tables, columns and the indexes
 * calsync needs exist with usable types. */
static void doc_vesta(struct doc *d, const struct cfg *cfg, struct db *db)
{
    char err[CS_ERRLEN];
    int bad = 0;

    if (cfg->bauth_secret_len > 0)
        doc_say(d, DOC_OK, "vesta", "BetterAuth secret set (%zu bytes, not shown)",
                cfg->bauth_secret_len);
    else
        doc_say(d, DOC_FAIL, "vesta", "BETTER_AUTH_SECRET is not set");
    for (size_t i = 0; i < vesta_needs_count; i++) {
        const struct vesta_need *n = &vesta_needs[i];
        int rc = vesta_need_check(db, n, err, sizeof err);
        if (rc == CS_OK)
            continue;
        bad++;
        if (rc == CS_ERR_INVAL)
            doc_say(d, DOC_FAIL, "vesta", "%s", err);
        else
            doc_say(d, DOC_FAIL, "vesta", "%s%s%s%s is missing%s", n->table, n->column ? "." : "",
                    n->column ? n->column : "", n->index ? " (index)" : "",
                    n->add ? ": run calsync-admin migrate" : " (is CALSYNC_DB Vesta's database?)");
    }
    if (bad == 0)
        doc_say(d, DOC_OK, "vesta",
                "Vesta's tables and columns calsync reads are there with usable types; the "
                "change feed's index on appointments(updated_at) and the link index exist");
}

/* Opens the database without creating or migrating it and compares its schema version with the
 * migrations this program carries (SQLite file or MySQL-protocol server alike). */
static void doc_database(struct doc *d, const struct cfg *cfg)
{
    struct db *db = NULL;
    char err[CS_ERRLEN], where[512];
    int version = -1, want;

    db_url_redact(cfg->db_path, where, sizeof where); /* never the password */
    if (!db_url_is_mysql(cfg->db_path) && access(cfg->db_path, F_OK) != 0) {
        doc_say(d, DOC_FAIL, "database", "%s does not exist: run calsync-admin migrate", where);
        return;
    }
    if (store_open(cfg, 0, &db, err, sizeof err) != CS_OK) {
        doc_say(d, DOC_FAIL, "database", "%s", err); /* names the store, redacted */
        goto out;
    }
    want = db_version_latest(db);
    if ((version = db_version(db)) < 0) {
        doc_say(d, DOC_FAIL, "database", "%s is not readable as a database: %s", where,
                db_errmsg(db));
        goto out;
    }
    if (version < want)
        doc_say(d, DOC_FAIL, "database",
                "%s: schema version %d of %d: run calsync-admin migrate (as the calsync user)",
                where, version, want);
    else if (version > want)
        doc_say(d, DOC_FAIL, "database",
                "%s: schema version %d is newer than this calsync (%d): upgrade calsync", where,
                version, want);
    else
        doc_say(d, DOC_OK, "database", "%s: schema version %d (latest)", where, version);
    if (cfg->host == CFG_HOST_VESTA)
        doc_vesta(d, cfg, db);
out:
    db_close(db);
}

/* Copies the host of an http(s) URL (lowercased, without brackets, port or userinfo) into out;
 * 0, or -1 when there is none. */
static int doc_url_host(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://"), *end, *at;
    size_t n;

    if (p == NULL)
        return -1;
    p += 3;
    end = p + strcspn(p, "/?#");
    at = memchr(p, '@', (size_t)(end - p));
    if (at != NULL)
        p = at + 1;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL)
            return -1;
        p++;
        end = rb;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon != NULL)
            end = colon;
    }
    n = (size_t)(end - p);
    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)p[i]);
    out[n] = '\0';
    return 0;
}

/* True when s ends with suffix. */
static int doc_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Why host cannot be reached from the internet (loopback, private, link-local, local names),
 * or NULL when it looks public. Names are not resolved: doctor must work offline. */
static const char *doc_host_private(const char *host)
{
    unsigned char a6[16];
    struct in_addr a4;

    if (inet_pton(AF_INET, host, &a4) == 1) {
        unsigned long ip = ntohl(a4.s_addr);
        unsigned b0 = (unsigned)(ip >> 24), b1 = (unsigned)((ip >> 16) & 0xff);
        if (b0 == 127)
            return "a loopback address";
        if (b0 == 10 || (b0 == 172 && b1 >= 16 && b1 <= 31) || (b0 == 192 && b1 == 168))
            return "a private address";
        if (b0 == 169 && b1 == 254)
            return "a link-local address";
        if (b0 == 100 && b1 >= 64 && b1 <= 127)
            return "a shared (CGNAT) address";
        if (b0 == 0 || b0 >= 224)
            return "not a unicast address";
        return NULL;
    }
    if (inet_pton(AF_INET6, host, a6) == 1) {
        static const unsigned char loop[16] = {[15] = 1}, any[16] = {0};
        if (memcmp(a6, loop, 16) == 0)
            return "a loopback address";
        if (memcmp(a6, any, 16) == 0)
            return "not a unicast address";
        if ((a6[0] & 0xfe) == 0xfc)
            return "a private (ULA) address";
        if (a6[0] == 0xfe && (a6[1] & 0xc0) == 0x80)
            return "a link-local address";
        return NULL;
    }
    if (strcmp(host, "localhost") == 0 || doc_ends_with(host, ".localhost"))
        return "a loopback name";
    if (doc_ends_with(host, ".local") || doc_ends_with(host, ".internal") ||
        doc_ends_with(host, ".lan") || doc_ends_with(host, ".home.arpa") ||
        strchr(host, '.') == NULL)
        return "a local name";
    return NULL;
}

/* Google only posts notifications to https on a public host with a valid certificate. */
static void doc_webhook(struct doc *d, const struct cfg *cfg)
{
    char host[DOC_HOST_MAX];
    const char *why;

    if (!cfg_google_enabled(cfg)) {
        doc_say(d, DOC_SKIP, "webhook URL", "Google is not configured");
        return;
    }
    if (*cfg->webhook_url == '\0') {
        doc_say(d, DOC_WARN, "webhook URL",
                "empty: polling only (changes in Google show up every CALSYNC_POLL_INTERVAL s)");
        return;
    }
    if (strncmp(cfg->webhook_url, "https://", 8) != 0) {
        doc_say(d, DOC_FAIL, "webhook URL",
                "%s: Google only sends notifications to https:// addresses", cfg->webhook_url);
        return;
    }
    if (doc_url_host(cfg->webhook_url, host, sizeof host) != 0) {
        doc_say(d, DOC_FAIL, "webhook URL", "%s: no host name", cfg->webhook_url);
        return;
    }
    why = doc_host_private(host);
    if (why != NULL)
        doc_say(d, DOC_FAIL, "webhook URL", "%s: %s is %s; Google cannot reach it",
                cfg->webhook_url, host, why);
    else
        doc_say(d, DOC_OK, "webhook URL", "%s", cfg->webhook_url);
}

/* The public base URL: the OAuth redirect and the session cookie's Secure flag depend on it. */
static void doc_base_url(struct doc *d, const struct cfg *cfg)
{
    char host[DOC_HOST_MAX];

    if (strncmp(cfg->base_url, "https://", 8) == 0) {
        doc_say(d, DOC_OK, "base URL", "%s", cfg->base_url);
        return;
    }
    if (doc_url_host(cfg->base_url, host, sizeof host) == 0 && doc_host_private(host) != NULL)
        doc_say(d, DOC_WARN, "base URL", "%s: plain http, reachable from this network only",
                cfg->base_url);
    else
        doc_say(d, DOC_WARN, "base URL",
                "%s: plain http: cookies are not Secure and Google refuses http redirect URIs",
                cfg->base_url);
}

static void doc_clock(struct doc *d)
{
    time_t now = time(NULL);
    struct tm tm;
    char when[64];

    if (gmtime_r(&now, &tm) == NULL || tm.tm_year + 1900 < 2024) {
        doc_say(d, DOC_FAIL, "clock", "the system clock says year %d: set the time (NTP)",
                tm.tm_year + 1900);
        return;
    }
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    doc_say(d, DOC_OK, "clock", "%s", when);
}

struct doc_probe {
    time_t date; /* the answer's Date header, 0 when none */
};

static size_t doc_probe_header(char *p, size_t size, size_t n, void *ctx)
{
    struct doc_probe *pr = ctx;
    size_t len = size * n;
    char line[256];

    if (len > 5 && len < sizeof line && strncasecmp(p, "Date:", 5) == 0) {
        memcpy(line, p + 5, len - 5);
        line[len - 5] = '\0';
        time_t t = curl_getdate(line, NULL);
        if (t > 0)
            pr->date = t;
    }
    return len;
}

/* The body is not needed: any HTTP answer shows the endpoint is reachable. */
static size_t doc_probe_body(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* One GET with a short timeout; reports reachability and returns the Date header (0 if none). */
static time_t doc_probe(struct doc *d, const struct cfg *cfg, const char *check, const char *url)
{
    struct doc_probe pr = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    long code = 0, timeout = cfg->http_timeout_ms < DOC_PROBE_TIMEOUT_MS
                                 ? (long)cfg->http_timeout_ms
                                 : DOC_PROBE_TIMEOUT_MS;
    double secs = 0;
    CURLcode rc;
    CURL *c = curl_easy_init();

    if (c == NULL) {
        doc_say(d, DOC_FAIL, check, "libcurl failed to initialise");
        return 0;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, doc_probe_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &pr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, doc_probe_body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "calsync-doctor");
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &secs);
    if (rc != CURLE_OK || code == 0)
        doc_say(d, DOC_FAIL, check, "%s: unreachable: %s", url,
                *errbuf ? errbuf : curl_easy_strerror(rc));
    else
        doc_say(d, DOC_OK, check, "%s answers (HTTP %ld in %.0f ms)", url, code, secs * 1000);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? pr.date : 0;
}

/* Google's token and Calendar endpoints answer; our clock agrees with the token endpoint's. */
static void doc_google(struct doc *d, const struct cfg *cfg)
{
    time_t date;

    if (!cfg_google_enabled(cfg)) {
        doc_say(d, DOC_WARN, "google", "GOOGLE_CLIENT_ID is empty: Google sync is off");
        return;
    }
    doc_say(d, DOC_OK, "google", "OAuth client configured");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        doc_say(d, DOC_FAIL, "google", "libcurl failed to initialise");
        return;
    }
    date = doc_probe(d, cfg, "token endpoint", cfg->token_url);
    doc_probe(d, cfg, "calendar API", cfg->api_url);
    if (date > 0) {
        long long skew = (long long)time(NULL) - (long long)date;
        if (skew < 0)
            skew = -skew;
        if (skew > DOC_SKEW_FAIL_S)
            doc_say(d, DOC_FAIL, "clock skew", "%lld s off the token endpoint's clock: fix NTP",
                    skew);
        else if (skew > DOC_SKEW_WARN_S)
            doc_say(d, DOC_WARN, "clock skew", "%lld s off the token endpoint's clock", skew);
        else
            doc_say(d, DOC_OK, "clock skew", "%lld s off the token endpoint's clock", skew);
    }
    curl_global_cleanup();
}

int doctor_run(int argc, char **argv)
{
    struct doc d = {0};
    struct cfg cfg;
    char err[CS_ERRLEN];
    const char *path = getenv("CALSYNC_CONFIG");
    int loaded;

    (void)argv;
    if (argc != 2) {
        fprintf(stderr, "usage: calsync-admin doctor\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("calsync doctor\n");
    if (geteuid() == 0)
        doc_say(&d, DOC_WARN, "user",
                "running as root: run as the service user to check what the services see "
                "(runuser -u calsync -- calsync-admin doctor)");
    loaded = cfg_load(&cfg, err, sizeof err) == CS_OK;
    if (!loaded)
        doc_say(&d, DOC_FAIL, "configuration", "%s", err);
    else
        doc_say(&d, DOC_OK, "configuration", "loaded%s%s", path && *path ? " from " : "",
                path && *path ? path : " from the environment");
    doc_config_file(&d, path);
    doc_clock(&d);
    if (loaded) {
        doc_key_file(&d, &cfg);
        doc_database(&d, &cfg);
        doc_base_url(&d, &cfg);
        doc_webhook(&d, &cfg);
        doc_google(&d, &cfg);
        cfg_free(&cfg);
    } else {
        doc_say(&d, DOC_SKIP, "the rest", "needs a configuration that loads");
    }
    printf("doctor: %d failure%s, %d warning%s\n", d.fails, d.fails == 1 ? "" : "s", d.warns,
           d.warns == 1 ? "" : "s");
    return d.fails > 0 ? 1 : 0;
}
