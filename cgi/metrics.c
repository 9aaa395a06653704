/* metrics: GET /metrics: the Prometheus text exposition of the whole installation (gauges read
 * from the store, counters every node added), served to loopback or to a client holding the
 * bearer token CALSYNC_METRICS_TOKEN; 403 to anyone else. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "http.h"
#include "log.h"
#include "metrics_scrape.h"

#define METRICS_BODY_MAX (1024 * 1024)

/* True when the client (nginx's $remote_addr) is this host: 127.0.0.0/8, ::1, or IPv4 loopback
 * mapped into IPv6. Behind another proxy on the same host, nginx's real_ip must name the real
 * client, or everyone would look local. */
static int from_loopback(struct http_req *req)
{
    const char *a = http_param(req, "REMOTE_ADDR");
    unsigned char ip[16];

    if (a == NULL)
        return 0;
    if (inet_pton(AF_INET, a, ip) == 1)
        return ip[0] == 127;
    if (inet_pton(AF_INET6, a, ip) != 1)
        return 0;
    static const unsigned char one[16] = {[15] = 1}, mapped[12] = {[10] = 0xff, [11] = 0xff};
    return memcmp(ip, one, 16) == 0 || (memcmp(ip, mapped, 12) == 0 && ip[12] == 127);
}

/* True when the request carries Authorization: Bearer <the configured token>. */
static int has_token(struct http_req *req)
{
    const char *h = http_param(req, "HTTP_AUTHORIZATION");

    if (req->cfg->metrics_token == NULL || h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    for (h += 7; *h == ' '; h++)
        ;
    return crypt_str_eq(h, req->cfg->metrics_token);
}

static int route(struct http_req *req, void *ctx)
{
    struct buf out;
    int rc;

    (void)ctx;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_reply_405(req, "GET, HEAD");
        return 0;
    }
    if (!from_loopback(req) && !has_token(req)) {
        /* the access line says 403 already: this one only for debugging (a flood of refusals
         * must not fill the log) */
        log_debug("metrics refused to %s (not loopback, no valid bearer token)",
                  http_param(req, "REMOTE_ADDR") ? http_param(req, "REMOTE_ADDR") : "?");
        http_reply_error(req, 403,
                         "metrics are served to loopback, or with Authorization: Bearer and the "
                         "configured token");
        return 0;
    }
    buf_init(&out, METRICS_BODY_MAX);
    if ((rc = metrics_scrape(req->db, &out)) != CS_OK) {
        log_error("metrics: %s", cs_strerror(rc));
        http_reply_error(req, 503, rc == CS_ERR_DB ? "store unavailable" : "metrics unavailable");
    } else {
        http_reply(req, 200, METRICS_CONTENT_TYPE, NULL, out.data ? out.data : "", out.len);
    }
    buf_free(&out);
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "metrics", route, NULL);
}
