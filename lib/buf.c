/* buf.c: capped growable buffer (the one place bodies and replies are accumulated). */
#include "buf.h"
#include "cs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->cap = cap;
}

static int buf_grow(struct buf *b, size_t need)
{
    size_t nsize;
    char *p;

    if (need > b->cap)
        return CS_ERR_TOOBIG;
    if (need + 1 <= b->size)
        return CS_OK;
    nsize = b->size ? b->size : 256;
    while (nsize < need + 1)
        nsize *= 2;
    if (nsize > b->cap + 1)
        nsize = b->cap + 1;
    p = realloc(b->data, nsize);
    if (p == NULL)
        return CS_ERR_NOMEM;
    b->data = p;
    b->size = nsize;
    return CS_OK;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
    int rc;

    if (n > b->cap - b->len)
        return CS_ERR_TOOBIG;
    rc = buf_grow(b, b->len + n);
    if (rc != CS_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CS_OK;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CS_ERR_INVAL;
    if ((size_t)n > b->cap - b->len)
        return CS_ERR_TOOBIG;
    rc = buf_grow(b, b->len + (size_t)n);
    if (rc != CS_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CS_OK;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->size);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->size = 0;
}

char *buf_steal(struct buf *b)
{
    char *p = b->data;

    if (p == NULL)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->size = 0;
    return p;
}
