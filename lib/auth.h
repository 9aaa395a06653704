/* auth.h: a request's user (through the host's identity source) and the CSRF rules. */
#ifndef AUTH_H
#define AUTH_H

#include "auth_local.h"

struct http_req;

/* The session user of a request without answering: CS_OK or CS_ERR_AUTH. */
int auth_session_of(struct http_req *req, struct auth_user *u);
/* For routes: fills u from the request's cookie, or answers 401 and returns CS_ERR_AUTH. */
int auth_require(struct http_req *req, struct auth_user *u);
/* For state-changing routes: JSON content type (else 415) and a matching Origin when present
 * (else 403). Answers and returns non-CS_OK on refusal. */
int auth_check_write(struct http_req *req);
/* Same-origin check alone (for state-changing routes without a body). */
int auth_check_origin(struct http_req *req);
#endif
