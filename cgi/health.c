/* health: GET /healthz (the program answers: 200) and GET /readyz (200 when this node may take
 * requests: the store answers, its schema is current, this node's worker beats; else 503), each
 * with a one-line JSON answer, for load balancers and service managers. */
#include <string.h>

#include <cjson/cJSON.h>

#include "cfg.h"
#include "cs.h"
#include "health.h"
#include "http.h"
#include "log.h"

static void answer(struct http_req *req, int status, const char *key, const char *value)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && cJSON_AddStringToObject(o, key, value) == NULL) {
        cJSON_Delete(o);
        o = NULL;
    }
    if (o == NULL) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_reply_json(req, status, o, NULL);
}

static int route(struct http_req *req, void *ctx)
{
    char reason[CS_ERRLEN];
    static int was_ready = -1; /* the last answer of /readyz: changes are logged */

    (void)ctx;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_reply_405(req, "GET, HEAD");
        return 0;
    }
    if (strcmp(req->path, "/healthz") == 0) {
        answer(req, 200, "status", "ok");
        return 0;
    }
    if (strcmp(req->path, "/readyz") != 0) {
        http_reply_error(req, 404, "no such route");
        return 0;
    }
    if (health_ready(req->db, req->cfg, reason, sizeof reason) != CS_OK) {
        if (was_ready != 0)
            log_warn("not ready: %s", reason);
        was_ready = 0;
        answer(req, 503, "error", reason);
        return 0;
    }
    if (was_ready == 0)
        log_info("ready again");
    was_ready = 1;
    answer(req, 200, "status", "ready");
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "health", route, NULL);
}
