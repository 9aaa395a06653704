/* buf.h: a growable byte buffer with a hard cap, always NUL-terminated. */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

struct buf {
    char *data;  /* NUL-terminated; NULL until the first append */
    size_t len;  /* bytes used, excluding the terminator */
    size_t size; /* bytes allocated */
    size_t cap;  /* most bytes it may ever hold */
};

/* Sets up an empty buffer that will refuse to grow past cap bytes. */
void buf_init(struct buf *b, size_t cap);
/* Appends n bytes. Returns CS_OK, CS_ERR_TOOBIG (nothing appended) or CS_ERR_NOMEM. */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/* Frees the memory (zeroing it first); the buffer can be reused after buf_init. */
void buf_free(struct buf *b);
/* Hands the data to the caller (free with free()), leaving b empty. Never NULL. */
char *buf_steal(struct buf *b);

#endif
