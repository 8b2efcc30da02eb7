/*
 * A memo of parsed directory records that nearly every request reads and
 * few requests change: apps and policies (and groups and OUs). For each
 * key it keeps the text the key held when last parsed and the value that
 * text parsed to. A read whose text is byte for byte the one kept costs a
 * compare and a copy (or, for readers that only read, a reference)
 * instead of a parse; any other text is parsed and
 * kept instead. The store stays the only truth: the memo never answers
 * without the text just read from the store, so a change made by another
 * node is seen on the next read, as before (the listing of the policies
 * below answers on a counter just read from the store instead).
 *
 * Direct-mapped: AF_DIR_MEMO_SLOTS slots, one key each (a collision only
 * costs a parse). AF_DIR_MEMO_TEXT_MAX is above the longest record the
 * directory allows (a policy or profile naming a thousand users, groups
 * and OUs), so that such a record does not cost every sign-in a parse;
 * and the texts kept add up to AF_DIR_MEMO_BUDGET at most (a text that
 * would go over is parsed and not kept), so the memo holds some tens of
 * megabytes at the very most, whatever the directory holds.
 *
 * Thread-safety: af_dir__memo_parse() and af_dir__memo_share() may be
 * called from any number of threads at once (a mutex per slot; a kept
 * value is never changed, only replaced whole, and jansson's reference
 * counts are atomic); new and free from one thread.
 */
#ifndef AF_DIR_MEMO_H
#define AF_DIR_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AF_DIR_MEMO_SLOTS    256
#define AF_DIR_MEMO_TEXT_MAX ((size_t)512 * 1024)
#define AF_DIR_MEMO_BUDGET   ((size_t)8 * 1024 * 1024)

typedef struct af_dir_memo af_dir_memo;

/* A new, empty memo, or NULL out of memory. */
af_dir_memo *af_dir__memo_new(void);

/* Frees the memo and everything it keeps; NULL is allowed. */
void af_dir__memo_free(af_dir_memo *m);

/*
 * 1 when records under key are kept in the memo (the kinds read on every
 * sign-in and few in number), 0 for the rest (users: many, and read a few
 * times per sign-in at most).
 */
int af_dir__memo_wanted(const char *key);

/*
 * The JSON value of text (len bytes, the value key holds in the store
 * now), as json_loadb(text, len, 0, NULL) would return it: a new value
 * the caller owns and may change, or NULL when text is not JSON or
 * memory ran out. With m NULL it simply parses.
 */
json_t *af_dir__memo_parse(af_dir_memo *m, const char *key, const char *text,
			   size_t len);

/*
 * As af_dir__memo_parse(), but without the copy: the value the memo keeps,
 * shared with the memo and with every other reader, on any thread. The
 * caller only reads it and json_decref()s it; it must change nothing in
 * it (a change would show in every other reader's value, unlocked), nor
 * put anything of it into a value that is changed later. With m NULL (or
 * a text too long to keep) it is a new value no one else holds.
 */
json_t *af_dir__memo_share(af_dir_memo *m, const char *key, const char *text,
			   size_t len);

/*
 * The one listing kept beside the records: the policies, which every
 * sign-in resolves a user's policy from. It is kept with the generation
 * it was read under (the text of a counter in the store that every
 * change of a policy bumps once it is written, af_dir__policies_changed())
 * and answers only a reader that has just read that same generation,
 * within AF_DIR_MEMO_LISTING_NS of the reading: so a change made on any
 * node is seen at the next read there, and a change whose bump was lost
 * (the store failed, the node stopped, between the write and the bump)
 * within that time.
 *
 * Beside the listing the memo keeps an index made from it (what it holds
 * is the reader's business), replaced with it.
 *
 * af_dir__memo_listing(): the listing kept for gen and its index in
 * *index (both shared: read only, json_decref() them), or NULL.
 * af_dir__memo_listing_last(): the same for the last listing kept,
 * whatever its generation and age, so that a reader that has listed the
 * policies again may keep the index when the records are the same.
 * af_dir__memo_keep_listing(): keeps list and index (a reference to
 * each; neither NULL) as read under gen, read at the time now_ns. A
 * listing is thus never kept without its index.
 *
 * af_dir__memo_listing_lock() and _unlock(): held by a reader that found
 * no listing to use around listing the policies anew and keeping the
 * listing, so that when the policies change the readers that come at
 * once wait for one of them to list and index them, rather than each
 * doing it (an index of every name a thousand policies list is large).
 * A reader that got the lock looks in the memo again first.
 */
#define AF_DIR_MEMO_LISTING_NS 1000000000ull
#define AF_DIR_MEMO_GEN_MAX    32

json_t *af_dir__memo_listing(af_dir_memo *m, const char *gen, uint64_t now_ns,
			     json_t **index);
json_t *af_dir__memo_listing_last(af_dir_memo *m, json_t **index);
void af_dir__memo_keep_listing(af_dir_memo *m, const char *gen, json_t *list,
			       json_t *index, uint64_t now_ns);
void af_dir__memo_listing_lock(af_dir_memo *m);
void af_dir__memo_listing_unlock(af_dir_memo *m);

#endif /* AF_DIR_MEMO_H */
