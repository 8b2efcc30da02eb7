/*
 * Inside the MFA data model: helpers shared by mfa.c (status, workflow),
 * device.c (devices, enrollment and token codes), txn.c (transactions
 * and push jobs) and gate.c (push gating). Not for use outside
 * authflow/mfa/.
 *
 * Thread-safety: every function is re-entrant.
 */
#ifndef AF_MFA_INTERNAL_H
#define AF_MFA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/store.h"
#include "mfa/mfa.h"

/* Read-change-CAS rounds before a busy object is given up on. */
#define AF_MFA__CAS_TRIES 32
/* Bytes of a user name (the callers' buffers hold 128 with the NUL). */
#define AF_MFA__USER_MAX  127
/* Bytes of a store key built here ("user_devices:" and a user name). */
#define AF_MFA__KEY_MAX	  192
/*
 * Bytes of a transaction's app (client id) and app_name: the display
 * name of a profile, up to 128 characters of UTF-8 (AF_DIR_DISPLAY_MAX),
 * and of its flow id.
 */
#define AF_MFA__APP_MAX	  512
#define AF_MFA__FLOW_MAX  128
/* Bytes of the client address a transaction keeps (as the throttle's). */
#define AF_MFA__IP_MAX	  64
/* Bytes of what its browser is ("Firefox on Windows"). */
#define AF_MFA__UA_MAX	  64
/* Bytes of a user's full name a txn carries: the directory's 128
 * characters (AF_DIR_DISPLAY_MAX) of up to 4 bytes each. */
#define AF_MFA__NAME_MAX  512
/* Entries of the workflow's AF_MFA_PAUSE_CUTS and AF_MFA_PERIOD_CUTS. */
#define AF_MFA__CUTS_MAX  16

#if defined(__GNUC__)
#define AF_MFA__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AF_MFA__PRINTF(a, b)
#endif

/* Maps a store status onto the module's. */
af_mfa_status af_mfa__from_store(store_status st);

/* Writes "field: reason" into err when err is not NULL. */
void af_mfa__errf(char *err, size_t errlen, const char *fmt, ...)
	AF_MFA__PRINTF(3, 4);

/*
 * True when s is 1..max bytes of printable ASCII without spaces (user
 * names, ids, push tokens, versions: they end up in keys and headers).
 */
bool af_mfa__token_ok(const char *s, size_t max);

/* True when s is 0..max bytes without control characters (names). */
bool af_mfa__text_ok(const char *s, size_t max);

/* A user name as accepted here: af_mfa__token_ok(s, AF_MFA__USER_MAX). */
bool af_mfa__user_ok(const char *user);

/* An object id: 1..AF_MFA_ID_BUF - 1 characters of base64url. */
bool af_mfa__id_ok(const char *id);

/* Writes a fresh random id (16 bytes, base64url) into id. */
af_mfa_status af_mfa__new_id(char id[AF_MFA_ID_BUF]);

/* key = prefix + name; AF_MFA_INVALID when it does not fit in cap. */
af_mfa_status af_mfa__key(char *key, size_t cap, const char *prefix,
			  const char *name);

/*
 * Reads the JSON object at key. *out is a new reference; when raw is not
 * NULL it gets the exact stored text (for a later compare-and-set; free
 * it with store_value_free()). A value that is not a JSON object is
 * AF_MFA_STORE, told to store_damaged(): only this module writes these
 * keys.
 */
af_mfa_status af_mfa__get_json(store_ctx *st, const char *key, json_t **out,
			       store_value *raw);

/*
 * 1 when the store answers for key although af_mfa__get_json() found no
 * JSON object there (what it holds is damaged), 0 when it does not.
 */
int af_mfa__key_answers(store_ctx *st, const char *key);

/*
 * Compact JSON text with sorted keys (so equal objects give equal text),
 * or NULL when out of memory. Free with af_mfa__dump_free(), which wipes
 * it: device records hold TOTP secrets.
 */
char *af_mfa__dump(const json_t *obj);
void af_mfa__dump_free(char *text);

/*
 * An update of the object at key by read, change and compare-and-set,
 * retried while others change it meanwhile. fn changes obj and returns
 * AF_MFA_OK, or another status to stop without writing (returned as is);
 * it may set *write to false to stop with AF_MFA_OK and write nothing.
 * fn runs again from a fresh read after a conflict, so it must not keep
 * state across calls. The key keeps its TTL. On AF_MFA_OK *out (when not
 * NULL) gets the object as written (or as read, when nothing was written).
 */
typedef af_mfa_status (*af_mfa__update_fn)(json_t *obj, void *arg, bool *write);
af_mfa_status af_mfa__update(store_ctx *st, const char *key,
			     af_mfa__update_fn fn, void *arg, json_t **out);

/*
 * The same pointer without const, for jansson's iterators, which take a
 * mutable object even to read. Nothing is written through it.
 */
json_t *af_mfa__iterable(const json_t *v);

/* True when the array arr holds the string s. */
bool af_mfa__array_has(const json_t *arr, const char *s);

/*
 * Sorts an array of objects in place by the integer member field, then
 * by the string member "id" (or "txn"), so equal times keep one order.
 */
af_mfa_status af_mfa__sort(json_t *arr, const char *field);

/*
 * Pauses pushes to user from now for the workflow's report_pause_s
 * (nothing when it is 0): after a report.
 */
af_mfa_status af_mfa__pause_pushes(store_ctx *st, const char *user,
				   int64_t now);

/*
 * Cancels (AF_MFA_CANCEL_DEVICE_REMOVED) the pending transactions in the
 * index of device, which is being removed, that no other enrolled device
 * may answer. Best effort: one left over expires on its own.
 */
void af_mfa__cancel_for_removed(store_ctx *st, const char *device, int64_t now);

#endif /* AF_MFA_INTERNAL_H */
