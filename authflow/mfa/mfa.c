/*
 * The MFA data model's shared parts: status strings, the helpers every
 * file of the module uses (keys, JSON in the store, CAS updates), the
 * workflow settings and app version comparison.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "mfa/mfa.h"
#include "mfa/mfa_internal.h"

#define WORKFLOW_KEY "mfa:workflow"

/* Ranges of the workflow settings. */
#define PUSH_COUNT_MIN	1
#define PUSH_COUNT_MAX	100
#define PUSH_PERIOD_MIN 10
#define PUSH_PERIOD_MAX 86400
#define PAUSE_MAX	86400
/* The longest pause or period: a cut older than this binds nothing. */
#define CUT_MAX_S	PAUSE_MAX
_Static_assert(PUSH_PERIOD_MAX <= CUT_MAX_S, "a period outlasts its cuts");
/* Versions: "2023.2.1"; at most four parts of at most nine digits. */
#define VERSION_PARTS  4
#define VERSION_DIGITS 9

const char *af_mfa_strerror(af_mfa_status st)
{
	switch (st) {
#define AF_MFA_XX(name, value, text) \
	case AF_MFA_##name:          \
		return text;
		AF_MFA_STATUS_MAP(AF_MFA_XX)
#undef AF_MFA_XX
	}
	return "unknown MFA error";
}

/* --- shared helpers ------------------------------------------------------ */

af_mfa_status af_mfa__from_store(store_status st)
{
	switch (st) {
	case STORE_OK:
		return AF_MFA_OK;
	case STORE_NOT_FOUND:
		return AF_MFA_NOT_FOUND;
	case STORE_ERR_NOMEM:
		return AF_MFA_NOMEM;
	case STORE_ERR_TOO_BIG:
		return AF_MFA_INVALID;
	case STORE_EXISTS:
	case STORE_CONFLICT:
	case STORE_ERR_ARG:
	case STORE_ERR_IO:
	case STORE_ERR_CORRUPT:
	case STORE_ERR_UNAVAILABLE:
	case STORE_ERR_PROTOCOL:
	case STORE_ERR_CONFIG:
		break;
	}
	return AF_MFA_STORE;
}

void af_mfa__errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

bool af_mfa__token_ok(const char *s, size_t max)
{
	size_t i, n;

	if (s == NULL)
		return false;
	n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '!' || s[i] > '~')
			return false;
	}
	return true;
}

bool af_mfa__text_ok(const char *s, size_t max)
{
	size_t i, n;

	if (s == NULL)
		return false;
	n = strnlen(s, max + 1);
	if (n > max)
		return false;
	/* Bytes from 0x80 are UTF-8, which jansson has already checked. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

bool af_mfa__user_ok(const char *user)
{
	return af_mfa__token_ok(user, AF_MFA__USER_MAX);
}

bool af_mfa__id_ok(const char *id)
{
	size_t n;

	if (id == NULL)
		return false;
	n = strnlen(id, AF_MFA_ID_BUF);
	return n < AF_MFA_ID_BUF && af_b64url_text_ok(id, n);
}

af_mfa_status af_mfa__new_id(char id[AF_MFA_ID_BUF])
{
	unsigned tries;

	/*
	 * Ids are typed and pasted as command-line arguments (idsim approve
	 * TXN, authflowctl device remove ID): one starting with '-' would be
	 * read as an option, so draw again. 128 random bits remain either way;
	 * the first character just avoids two of its 64 values.
	 */
	for (tries = 0; tries < 64; tries++) {
		if (af_random_token(16, id, AF_MFA_ID_BUF) != 0)
			return AF_MFA_CRYPTO;
		if (id[0] != '-' && id[0] != '_')
			return AF_MFA_OK;
	}
	return AF_MFA_CRYPTO;
}

af_mfa_status af_mfa__key(char *key, size_t cap, const char *prefix,
			  const char *name)
{
	int n;

	if (key == NULL || prefix == NULL || name == NULL)
		return AF_MFA_INVALID;
	n = snprintf(key, cap, "%s%s", prefix, name);
	if (n < 0 || (size_t)n >= cap)
		return AF_MFA_INVALID;
	return AF_MFA_OK;
}

int af_mfa__key_answers(store_ctx *st, const char *key)
{
	store_value v = {NULL, 0};
	store_status ss = store_get(st, key, &v);

	store_value_free(&v);
	return ss == STORE_OK || ss == STORE_ERR_ARG;
}

af_mfa_status af_mfa__get_json(store_ctx *st, const char *key, json_t **out,
			       store_value *raw)
{
	store_value v = {NULL, 0};
	json_error_t jerr;
	store_status rc;
	json_t *obj;

	*out = NULL;
	rc = store_get(st, key, &v);
	if (rc != STORE_OK)
		return af_mfa__from_store(rc);
	obj = json_loadb((const char *)v.data, v.len, 0, &jerr);
	if (!json_is_object(obj)) {
		/* Not what this module writes: the operator is told which. */
		store_damaged(st, key);
		json_decref(obj);
		store_value_free(&v);
		return AF_MFA_STORE;
	}
	if (raw != NULL)
		*raw = v;
	else
		store_value_free(&v);
	*out = obj;
	return AF_MFA_OK;
}

char *af_mfa__dump(const json_t *obj)
{
	return json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
}

void af_mfa__dump_free(char *text)
{
	if (text != NULL)
		OPENSSL_clear_free(text, strlen(text));
}

af_mfa_status af_mfa__update(store_ctx *st, const char *key,
			     af_mfa__update_fn fn, void *arg, json_t **out)
{
	af_mfa_status rc = AF_MFA_STORE;
	int tries;

	if (out != NULL)
		*out = NULL;
	for (tries = 0; tries < AF_MFA__CAS_TRIES; tries++) {
		store_value raw = {NULL, 0};
		json_t *obj = NULL;
		char *text = NULL;
		bool write = true, again = false;

		rc = af_mfa__get_json(st, key, &obj, &raw);
		if (rc != AF_MFA_OK)
			return rc;
		rc = fn(obj, arg, &write);
		if (rc != AF_MFA_OK || !write)
			goto next;
		text = af_mfa__dump(obj);
		if (text == NULL) {
			rc = AF_MFA_NOMEM;
			goto next;
		}
		switch (store_cas(st, key, raw.data, raw.len, text,
				  strlen(text), 0)) {
		case STORE_OK:
			break;
		case STORE_CONFLICT:
			/* Changed since it was read: read it again. */
			again = true;
			break;
		case STORE_NOT_FOUND:
			rc = AF_MFA_NOT_FOUND;
			break;
		default:
			rc = AF_MFA_STORE;
			break;
		}
	next:
		if (rc == AF_MFA_OK && !again && out != NULL) {
			*out = obj;
			obj = NULL;
		}
		af_mfa__dump_free(text);
		store_value_free(&raw);
		/* A device's record holds its TOTP secret. */
		af_mfa_device_free(obj);
		if (!again)
			return rc;
		rc = AF_MFA_STORE;
	}
	return rc;
}

json_t *af_mfa__iterable(const json_t *v)
{
	/* A union, not a cast: nothing is ever written through it. */
	union {
		const json_t *c;
		json_t *m;
	} u;

	u.c = v;
	return u.m;
}

bool af_mfa__array_has(const json_t *arr, const char *s)
{
	size_t i;
	const json_t *v;

	if (s == NULL)
		return false;
	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	}
	return false;
}

typedef struct sort_item {
	json_t *obj;
	json_int_t key;
	const char *id;
} sort_item;

static int sort_cmp(const void *a, const void *b)
{
	const sort_item *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

af_mfa_status af_mfa__sort(json_t *arr, const char *field)
{
	size_t i, n = json_array_size(arr);
	af_mfa_status rc = AF_MFA_OK;
	sort_item *items;

	if (n < 2)
		return AF_MFA_OK;
	items = OPENSSL_zalloc(n * sizeof(*items));
	if (items == NULL)
		return AF_MFA_NOMEM;
	for (i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i);
		const char *id = json_string_value(json_object_get(o, "id"));

		if (id == NULL)
			id = json_string_value(json_object_get(o, "txn"));
		items[i].obj = json_incref(o);
		items[i].key = json_integer_value(json_object_get(o, field));
		items[i].id = id != NULL ? id : "";
	}
	qsort(items, n, sizeof(*items), sort_cmp);
	for (i = 0; i < n; i++) {
		if (json_array_set(arr, i, items[i].obj) != 0)
			rc = AF_MFA_NOMEM;
		json_decref(items[i].obj);
	}
	OPENSSL_free(items);
	return rc;
}

/* --- versions ------------------------------------------------------------ */

/*
 * Parses dotted decimal: 1..VERSION_PARTS parts of 1..VERSION_DIGITS
 * digits each, so every part fits an unsigned 32-bit number. 0 or -1.
 */
static int version_parse(const char *v, uint32_t parts[VERSION_PARTS],
			 size_t *nparts)
{
	size_t n = 0, digits = 0;

	if (v == NULL || *v == '\0')
		return -1;
	memset(parts, 0, VERSION_PARTS * sizeof(parts[0]));
	for (;; v++) {
		if (*v >= '0' && *v <= '9') {
			if (++digits > VERSION_DIGITS)
				return -1;
			parts[n] = parts[n] * 10 + (uint32_t)(*v - '0');
			continue;
		}
		if (digits == 0 || (*v != '.' && *v != '\0'))
			return -1;
		n++;
		if (*v == '\0')
			break;
		if (n == VERSION_PARTS)
			return -1;
		digits = 0;
	}
	*nparts = n;
	return 0;
}

static bool version_ok(const char *v)
{
	uint32_t parts[VERSION_PARTS];
	size_t n;

	return version_parse(v, parts, &n) == 0;
}

int af_mfa_version_at_least(const char *app_version, const char *min)
{
	uint32_t a[VERSION_PARTS], m[VERSION_PARTS];
	size_t na, nm, i;

	if (min == NULL || *min == '\0')
		return 1;
	/* A minimum that cannot be read lets no app through: fail closed. */
	if (version_parse(min, m, &nm) != 0 ||
	    version_parse(app_version, a, &na) != 0)
		return 0;
	/* Missing parts are zero: "2023.2" is "2023.2.0.0". */
	for (i = 0; i < VERSION_PARTS; i++) {
		if (a[i] != m[i])
			return a[i] > m[i];
	}
	return 1;
}

/* --- workflow --------------------------------------------------------------
 */

static json_t *workflow_defaults(void)
{
	return json_pack("{s:b, s:b, s:{}, s:{s:i, s:i}, s:i, s:b}",
			 "number_matching", 1, "legacy", 0, "min_app_version",
			 "push_limit", "count", 3, "period_s", 300,
			 "report_pause_s", 900, "enroll_after_password", 1);
}

static af_mfa_status int_in(const char *field, const json_t *v, json_int_t lo,
			    json_int_t hi, char *err, size_t errlen)
{
	json_int_t n;

	if (!json_is_integer(v)) {
		af_mfa__errf(err, errlen, "%s: must be a whole number", field);
		return AF_MFA_INVALID;
	}
	n = json_integer_value(v);
	if (n < lo || n > hi) {
		af_mfa__errf(err, errlen, "%s: must be from %lld to %lld",
			     field, (long long)lo, (long long)hi);
		return AF_MFA_INVALID;
	}
	return AF_MFA_OK;
}

/* min_app_version replaces the whole map: {} removes every minimum. */
static af_mfa_status set_min_versions(json_t *wf, const json_t *v, char *err,
				      size_t errlen)
{
	const char *k;
	json_t *item;

	if (!json_is_object(v)) {
		af_mfa__errf(err, errlen, "min_app_version: must be an object");
		return AF_MFA_INVALID;
	}
	json_object_foreach(af_mfa__iterable(v), k, item)
	{
		if (strcmp(k, "ios") != 0 && strcmp(k, "android") != 0) {
			af_mfa__errf(err, errlen,
				     "min_app_version: unknown platform (use "
				     "ios or android)");
			return AF_MFA_INVALID;
		}
		if (!json_is_string(item) ||
		    !version_ok(json_string_value(item))) {
			af_mfa__errf(err, errlen,
				     "min_app_version.%s: must be a dotted "
				     "version such as 2023.2",
				     k);
			return AF_MFA_INVALID;
		}
	}
	if (json_object_set_new(wf, "min_app_version", json_deep_copy(v)) != 0)
		return AF_MFA_NOMEM;
	return AF_MFA_OK;
}

/* push_limit merges: {"count": 5} keeps the period. */
static af_mfa_status set_push_limit(json_t *wf, const json_t *v, char *err,
				    size_t errlen)
{
	json_t *limit = json_object_get(wf, "push_limit");
	const char *k;
	json_t *item;
	af_mfa_status rc;

	if (!json_is_object(v)) {
		af_mfa__errf(err, errlen, "push_limit: must be an object");
		return AF_MFA_INVALID;
	}
	json_object_foreach(af_mfa__iterable(v), k, item)
	{
		if (strcmp(k, "count") == 0)
			rc = int_in("push_limit.count", item, PUSH_COUNT_MIN,
				    PUSH_COUNT_MAX, err, errlen);
		else if (strcmp(k, "period_s") == 0)
			rc = int_in("push_limit.period_s", item,
				    PUSH_PERIOD_MIN, PUSH_PERIOD_MAX, err,
				    errlen);
		else {
			af_mfa__errf(err, errlen,
				     "push_limit: unknown field (use count "
				     "and period_s)");
			rc = AF_MFA_INVALID;
		}
		if (rc != AF_MFA_OK)
			return rc;
		if (json_object_set(limit, k, item) != 0)
			return AF_MFA_NOMEM;
	}
	return AF_MFA_OK;
}

/*
 * A stored record of cuts (AF_MFA_PAUSE_CUTS, AF_MFA_PERIOD_CUTS):
 * [[at, seconds], ...], within bounds.
 */
static int cuts_ok(const json_t *v)
{
	const json_t *cut;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) > AF_MFA__CUTS_MAX)
		return 0;
	json_array_foreach(v, i, cut)
	{
		const json_t *at = json_array_get(cut, 0);
		const json_t *s = json_array_get(cut, 1);

		if (json_array_size(cut) != 2 || !json_is_integer(at) ||
		    json_integer_value(at) < 0 || !json_is_integer(s) ||
		    json_integer_value(s) < 0 ||
		    json_integer_value(s) > CUT_MAX_S)
			return 0;
	}
	return 1;
}

/*
 * The setting whose cuts wf's member name records was lowered to len at
 * now: records the cut, dropping those no pause or period can outlast.
 * Past AF_MFA__CUTS_MAX the two oldest become one, at the older time with
 * the shorter length: what ran between them ends sooner than it would,
 * never later.
 */
static af_mfa_status add_cut(json_t *wf, const char *name, int64_t now,
			     json_int_t len)
{
	const json_t *old = json_object_get(wf, name), *cut;
	json_t *cuts = json_array(), *first, *second;
	json_int_t a, b;
	size_t i;

	if (cuts == NULL)
		return AF_MFA_NOMEM;
	json_array_foreach(old, i, cut)
	{
		if (json_integer_value(json_array_get(cut, 0)) + CUT_MAX_S >
			    now &&
		    json_array_append_new(cuts, json_deep_copy(cut)) != 0)
			goto nomem;
	}
	if (json_array_append_new(
		    cuts, json_pack("[I, I]", (json_int_t)now, len)) != 0)
		goto nomem;
	while (json_array_size(cuts) > AF_MFA__CUTS_MAX) {
		first = json_array_get(cuts, 0);
		second = json_array_get(cuts, 1);
		a = json_integer_value(json_array_get(first, 1));
		b = json_integer_value(json_array_get(second, 1));
		if (json_array_set_new(second, 1,
				       json_integer(a < b ? a : b)) != 0 ||
		    json_array_set(second, 0, json_array_get(first, 0)) != 0 ||
		    json_array_remove(cuts, 0) != 0)
			goto nomem;
	}
	if (json_object_set_new(wf, name, cuts) != 0)
		return AF_MFA_NOMEM;
	return AF_MFA_OK;
nomem:
	json_decref(cuts);
	return AF_MFA_NOMEM;
}

/* The report pause and the push-limit period of wf, in seconds. */
static void lengths_of(const json_t *wf, json_int_t *pause_s,
		       json_int_t *period_s)
{
	*pause_s = json_integer_value(json_object_get(wf, "report_pause_s"));
	*period_s = json_integer_value(
		json_object_get(json_object_get(wf, "push_limit"), "period_s"));
}

/*
 * Applies a validated patch to wf; on a refusal wf may be half changed.
 * stored: the patch is the stored record, which may also hold
 * AF_MFA_PAUSE_CUTS and AF_MFA_PERIOD_CUTS; an administrator's may not.
 */
static af_mfa_status workflow_apply(json_t *wf, const json_t *patch, int stored,
				    char *err, size_t errlen)
{
	static const char *const flags[] = {"number_matching", "legacy",
					    "enroll_after_password"};
	const char *k;
	json_t *v;
	af_mfa_status rc;
	size_t i;

	if (!json_is_object(patch)) {
		af_mfa__errf(err, errlen, "workflow: must be an object");
		return AF_MFA_INVALID;
	}
	json_object_foreach(af_mfa__iterable(patch), k, v)
	{
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strcmp(k, flags[i]) == 0)
				break;
		}
		if (i < sizeof(flags) / sizeof(flags[0])) {
			if (!json_is_boolean(v)) {
				af_mfa__errf(err, errlen,
					     "%s: must be true or false", k);
				return AF_MFA_INVALID;
			}
			rc = json_object_set(wf, k, v) == 0 ? AF_MFA_OK
							    : AF_MFA_NOMEM;
		} else if (strcmp(k, "min_app_version") == 0) {
			rc = set_min_versions(wf, v, err, errlen);
		} else if (strcmp(k, "push_limit") == 0) {
			rc = set_push_limit(wf, v, err, errlen);
		} else if (strcmp(k, "report_pause_s") == 0) {
			rc = int_in(k, v, 0, PAUSE_MAX, err, errlen);
			if (rc == AF_MFA_OK && json_object_set(wf, k, v) != 0)
				rc = AF_MFA_NOMEM;
		} else if (stored && (strcmp(k, AF_MFA_PAUSE_CUTS) == 0 ||
				      strcmp(k, AF_MFA_PERIOD_CUTS) == 0)) {
			rc = !cuts_ok(v)		      ? AF_MFA_INVALID
			     : json_object_set(wf, k, v) != 0 ? AF_MFA_NOMEM
							      : AF_MFA_OK;
		} else {
			af_mfa__errf(err, errlen, "%s: unknown setting", k);
			rc = AF_MFA_INVALID;
		}
		if (rc != AF_MFA_OK)
			return rc;
	}
	return AF_MFA_OK;
}

/*
 * The stored settings are applied as a patch over the defaults, so a
 * setting added in a later version gets its default, and a damaged
 * record is found out rather than handed on.
 */
static af_mfa_status workflow_merge(const json_t *stored, json_t **out)
{
	json_t *wf = workflow_defaults();
	af_mfa_status rc;

	*out = NULL;
	if (wf == NULL)
		return AF_MFA_NOMEM;
	if (stored != NULL) {
		rc = workflow_apply(wf, stored, 1, NULL, 0);
		if (rc != AF_MFA_OK) {
			json_decref(wf);
			return rc == AF_MFA_INVALID ? AF_MFA_STORE : rc;
		}
	}
	*out = wf;
	return AF_MFA_OK;
}

af_mfa_status af_mfa_workflow_get(store_ctx *st, json_t **out)
{
	json_t *stored = NULL;
	af_mfa_status rc;

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL)
		return AF_MFA_INVALID;
	rc = af_mfa__get_json(st, WORKFLOW_KEY, &stored, NULL);
	if (rc != AF_MFA_OK && rc != AF_MFA_NOT_FOUND)
		return rc;
	rc = workflow_merge(stored, out);
	json_decref(stored);
	return rc;
}

/*
 * One round of a set: read, patch, write back with a compare-and-set (or
 * set-if-absent for the first write), so concurrent patches of different
 * settings do not undo each other. *again is set on a lost race.
 */
static af_mfa_status workflow_set_once(store_ctx *st, const json_t *patch,
				       json_t **out, char *err, size_t errlen,
				       bool *again)
{
	store_value raw = {NULL, 0};
	json_t *stored = NULL, *wf = NULL;
	json_int_t pause_was, pause_now, period_was, period_now;
	char *text = NULL;
	store_status sst;
	af_mfa_status rc;

	*again = false;
	rc = af_mfa__get_json(st, WORKFLOW_KEY, &stored, &raw);
	if (rc != AF_MFA_OK && rc != AF_MFA_NOT_FOUND)
		return rc;
	rc = workflow_merge(stored, &wf);
	if (rc != AF_MFA_OK)
		goto out;
	lengths_of(wf, &pause_was, &period_was);
	rc = workflow_apply(wf, patch, 0, err, errlen);
	lengths_of(wf, &pause_now, &period_now);
	/* Shortened: so stay the pauses and periods running now (mfa.h). */
	if (rc == AF_MFA_OK && pause_now < pause_was)
		rc = add_cut(wf, AF_MFA_PAUSE_CUTS, af_now(), pause_now);
	if (rc == AF_MFA_OK && period_now < period_was)
		rc = add_cut(wf, AF_MFA_PERIOD_CUTS, af_now(), period_now);
	if (rc != AF_MFA_OK)
		goto out;
	text = af_mfa__dump(wf);
	if (text == NULL) {
		rc = AF_MFA_NOMEM;
		goto out;
	}
	if (stored == NULL)
		sst = store_set(st, WORKFLOW_KEY, text, strlen(text), 0,
				STORE_SET_NX);
	else
		sst = store_cas(st, WORKFLOW_KEY, raw.data, raw.len, text,
				strlen(text), 0);
	*again = sst == STORE_EXISTS || sst == STORE_CONFLICT ||
		 sst == STORE_NOT_FOUND;
	rc = af_mfa__from_store(sst);
	if (rc == AF_MFA_OK && out != NULL) {
		*out = wf;
		wf = NULL;
	}
out:
	af_mfa__dump_free(text);
	store_value_free(&raw);
	json_decref(stored);
	json_decref(wf);
	return rc;
}

af_mfa_status af_mfa_workflow_set(store_ctx *st, const json_t *patch,
				  json_t **out, char *err, size_t errlen)
{
	af_mfa_status rc = AF_MFA_STORE;
	bool again = true;
	int tries;

	af_mfa__errf(err, errlen, "%s", "");
	if (out != NULL)
		*out = NULL;
	if (st == NULL || patch == NULL) {
		af_mfa__errf(err, errlen, "workflow: no settings given");
		return AF_MFA_INVALID;
	}
	for (tries = 0; again && tries < AF_MFA__CAS_TRIES; tries++)
		rc = workflow_set_once(st, patch, out, err, errlen, &again);
	if (again)
		rc = AF_MFA_STORE;
	return rc;
}
