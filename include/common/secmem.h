/*
 * A wiping allocator with the signatures of malloc, free, realloc, strdup
 * and calloc, for json_set_alloc_funcs(), curl_global_init_mem() and
 * cjose_set_alloc_funcs(). Blocks freed by af_secmem_free() are wiped
 * (OPENSSL_cleanse over malloc_usable_size) before they go back to the C
 * library; realloc always moves, so no stale copy of a secret is left
 * behind. Blocks are plain malloc blocks, so free() may release them too
 * (without the wipe): code that frees a library's output with free()
 * stays correct.
 *
 * Thread-safety: all functions are re-entrant.
 */
#ifndef COMMON_SECMEM_H
#define COMMON_SECMEM_H

#include <stddef.h>

#include <jansson.h>

void *af_secmem_malloc(size_t n);
void af_secmem_free(void *p);
void *af_secmem_realloc(void *p, size_t n);
char *af_secmem_strdup(const char *s);
void *af_secmem_calloc(size_t n, size_t size);

/*
 * Wipes the bytes of a JSON string value in place (anything else is left
 * alone). jansson frees its strings with plain free() unless the program
 * installed this allocator; a secret (password, TOTP seed, enrollment
 * code) that must not linger is wiped through this before the value is
 * released.
 */
void af_secmem_wipe_json_string(json_t *v);

/*
 * Lowers the core-file limit to 0, soft and hard, so that a crash leaves
 * no image of a memory that holds keys, passwords and tokens (and a core
 * handler such as systemd-coredump, which honours the limit, keeps none).
 * Called by every program as it starts: 0, or -1 with errno (lowering a
 * limit needs no privilege). Thread-safety: process-wide; call it before
 * starting threads.
 */
int af_secmem_no_core(void);

#endif /* COMMON_SECMEM_H */
