/*
 * The directory: its context, the shared helpers of the module's other
 * files (records, sets, listings, audit), and the checks of names and
 * values. Users are in users.c, groups and OUs in groups.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "directory/audit.h"
#include "directory/directory.h"
#include "directory/memo.h"
#include "directory/password.h"
#include "directory/throttle.h"

/* Checks timed when the directory is made (see af_dir_check_ns()). */
#define CHECK_TIMINGS 2

struct af_dir {
	store_ctx *store;
	af_dir_options opts;
	/* A hash of a random password made with opts.pw, checked when the
	 * user is unknown so that it costs what a real check costs. */
	char dummy_phc[AF_PW_PHC_MAX];
	uint64_t check_ns; /* what checking dummy_phc took, at best */
	af_dir_memo *memo; /* parsed apps and policies, see memo.h */
	/* A view (af_dir_view()): the directory it shows, and the origin. */
	const af_dir *base;
	char origin_ip[AF_DIR_ORIGIN_MAX];
	char origin_rid[AF_DIR_ORIGIN_MAX];
};

const char *af_dir_strerror(af_dir_status st)
{
	switch (st) {
#define AF_DIR_XX(name, value, text) \
	case AF_DIR_##name:          \
		return text;
		AF_DIR_STATUS_MAP(AF_DIR_XX)
#undef AF_DIR_XX
	}
	return "unknown error";
}

const char *af_dir_status_name(af_dir_status st)
{
	switch (st) {
#define AF_DIR_XX(name, value, text) \
	case AF_DIR_##name:          \
		return #name;
		AF_DIR_STATUS_MAP(AF_DIR_XX)
#undef AF_DIR_XX
	}
	return "UNKNOWN";
}

void af_dir__err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

/* Sets key of obj to a new value; AF_DIR_NOMEM when it cannot. */
af_dir_status af_dir__set_new(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) == 0 ? AF_DIR_OK : AF_DIR_NOMEM;
}

af_dir_status af_dir__from_store(store_status st)
{
	switch (st) {
	case STORE_OK:
		return AF_DIR_OK;
	case STORE_NOT_FOUND:
		return AF_DIR_NOT_FOUND;
	case STORE_EXISTS:
		return AF_DIR_EXISTS;
	case STORE_CONFLICT:
		return AF_DIR_CONFLICT;
	case STORE_ERR_NOMEM:
		return AF_DIR_NOMEM;
	case STORE_ERR_TOO_BIG:
		return AF_DIR_LIMIT;
	case STORE_ERR_ARG:
	case STORE_ERR_IO:
	case STORE_ERR_CORRUPT:
	case STORE_ERR_UNAVAILABLE:
	case STORE_ERR_PROTOCOL:
	case STORE_ERR_CONFIG:
		break;
	}
	return AF_DIR_STORE;
}

af_dir_status af_dir__key(char *key, size_t keycap, const char *prefix,
			  const char *name)
{
	int n;

	if (key == NULL || prefix == NULL || name == NULL)
		return AF_DIR_INVALID;
	n = snprintf(key, keycap, "%s%s", prefix, name);
	if (n < 0 || (size_t)n >= keycap)
		return AF_DIR_INVALID;
	return AF_DIR_OK;
}

/*
 * Tells the operator (store_damaged()) that the record at key is
 * damaged: not a JSON object, or, in a listing, one that does not name
 * itself as its key does. A read of it fails as a store failure does
 * (AF_DIR_STORE); a listing leaves it out, but the policies' for
 * sign-ins fails.
 */
static void damaged(af_dir *dir, const char *key)
{
	store_damaged(dir->store, key);
}

/*
 * The record v holds, just read from key (v is taken: handed out in raw,
 * or freed); see get_json().
 */
static af_dir_status decode_json(af_dir *dir, const char *key, store_value v,
				 json_t **out, store_value *raw, int shared)
{
	af_dir_memo *memo = af_dir__memo_wanted(key) ? dir->memo : NULL;
	json_t *obj;

	obj = shared ? af_dir__memo_share(memo, key, (const char *)v.data,
					  v.len)
		     : af_dir__memo_parse(memo, key, (const char *)v.data,
					  v.len);
	if (!json_is_object(obj)) {
		/* Only this module writes these keys: anything else there is
		 * damage, not input, and the operator is told which. */
		json_decref(obj);
		store_value_free(&v);
		damaged(dir, key);
		return AF_DIR_STORE;
	}
	if (raw != NULL)
		*raw = v;
	else
		store_value_free(&v);
	*out = obj;
	return AF_DIR_OK;
}

/* af_dir__get_json(), or with shared 1 af_dir__get_json_shared(). */
static af_dir_status get_json(af_dir *dir, const char *key, json_t **out,
			      store_value *raw, int shared)
{
	store_value v = {NULL, 0};
	store_status st;

	*out = NULL;
	st = store_get(dir->store, key, &v);
	if (st != STORE_OK)
		return af_dir__from_store(st);
	return decode_json(dir, key, v, out, raw, shared);
}

af_dir_status af_dir__get_json(af_dir *dir, const char *key, json_t **out,
			       store_value *raw)
{
	return get_json(dir, key, out, raw, 0);
}

af_dir_status af_dir__get_json_shared(af_dir *dir, const char *key,
				      json_t **out)
{
	return get_json(dir, key, out, NULL, 1);
}

af_dir_status af_dir__put_json(af_dir *dir, const char *key, const json_t *obj,
			       unsigned flags)
{
	return af_dir__put_json_ttl(dir, key, obj, 0, flags);
}

af_dir_status af_dir__put_json_ttl(af_dir *dir, const char *key,
				   const json_t *obj, uint64_t ttl_ms,
				   unsigned flags)
{
	af_dir_status rc;
	char *text;

	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return AF_DIR_NOMEM;
	rc = af_dir__from_store(
		store_set(dir->store, key, text, strlen(text), ttl_ms, flags));
	/* User objects hold password hashes: wipe the serialisation. */
	OPENSSL_clear_free(text, strlen(text));
	return rc;
}

af_dir_status af_dir__update(af_dir *dir, const char *key, af_dir__update_fn fn,
			     void *arg, json_t **out, json_t **old)
{
	af_dir_status rc = AF_DIR_CONFLICT;

	if (out != NULL)
		*out = NULL;
	if (old != NULL)
		*old = NULL;
	for (int tries = 0; tries < AF_DIR__CAS_TRIES; tries++) {
		store_value raw = {NULL, 0};
		json_t *obj = NULL, *before = NULL;
		char *text = NULL;

		rc = af_dir__get_json(dir, key, &obj, &raw);
		if (rc != AF_DIR_OK)
			return rc;
		if (old != NULL) {
			before = json_deep_copy(obj);
			if (before == NULL) {
				rc = AF_DIR_NOMEM;
				goto next;
			}
		}
		rc = fn(obj, arg);
		if (rc != AF_DIR_OK)
			goto next;
		text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
		if (text == NULL) {
			rc = AF_DIR_NOMEM;
			goto next;
		}
		rc = af_dir__from_store(store_cas(dir->store, key, raw.data,
						  raw.len, text, strlen(text),
						  0));
		if (rc == AF_DIR_OK) {
			if (out != NULL) {
				*out = obj;
				obj = NULL;
			}
			if (old != NULL) {
				*old = before;
				before = NULL;
			}
		}
	next:
		if (text != NULL)
			OPENSSL_clear_free(text, strlen(text));
		store_value_free(&raw);
		json_decref(obj);
		json_decref(before);
		/* Someone changed the object since it was read: read again. */
		if (rc != AF_DIR_CONFLICT)
			return rc;
	}
	return rc;
}

typedef struct collect {
	json_t *arr;
	size_t count;
	size_t cap; /* count only, up to cap + 1, when arr is NULL */
	int failed;
} collect;

static int collect_member(const char *member, void *arg)
{
	collect *c = arg;

	if (c->arr == NULL) {
		c->count++;
		return c->count > c->cap;
	}
	if (json_array_append_new(c->arr, json_string(member)) != 0) {
		c->failed = 1;
		return 1;
	}
	return 0;
}

typedef struct sort_item {
	const char *k;
	json_t *v;
} sort_item;

static int sort_item_cmp(const void *a, const void *b)
{
	const sort_item *x = a, *y = b;

	return strcmp(x->k, y->k);
}

af_dir_status af_dir__sort(json_t *arr, const char *field)
{
	af_dir_status rc = AF_DIR_OK;
	sort_item *items;
	size_t i, n;

	if (!json_is_array(arr))
		return AF_DIR_INVALID;
	n = json_array_size(arr);
	if (n < 2)
		return AF_DIR_OK;
	items = calloc(n, sizeof(*items));
	if (items == NULL)
		return AF_DIR_NOMEM;
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		const char *k = json_string_value(
			field != NULL ? json_object_get(v, field) : v);

		items[i].k = k != NULL ? k : "";
		items[i].v = json_incref(v);
	}
	qsort(items, n, sizeof(*items), sort_item_cmp);
	/* The array holds its own references; ours keep the keys alive. */
	json_array_clear(arr);
	for (i = 0; i < n; i++) {
		if (rc == AF_DIR_OK && json_array_append(arr, items[i].v) != 0)
			rc = AF_DIR_NOMEM;
		json_decref(items[i].v);
	}
	free(items);
	return rc;
}

af_dir_status af_dir__members(af_dir *dir, const char *key, json_t **out)
{
	collect c = {NULL, 0, 0, 0};
	af_dir_status rc;

	*out = NULL;
	c.arr = json_array();
	if (c.arr == NULL)
		return AF_DIR_NOMEM;
	rc = af_dir__from_store(
		store_smembers(dir->store, key, collect_member, &c));
	if (rc == AF_DIR_OK && c.failed)
		rc = AF_DIR_NOMEM;
	if (rc == AF_DIR_OK)
		rc = af_dir__sort(c.arr, NULL);
	if (rc != AF_DIR_OK) {
		json_decref(c.arr);
		return rc;
	}
	*out = c.arr;
	return AF_DIR_OK;
}

af_dir_status af_dir__count(af_dir *dir, const char *key, size_t cap,
			    size_t *out)
{
	collect c = {NULL, 0, cap, 0};
	af_dir_status rc;

	rc = af_dir__from_store(
		store_smembers(dir->store, key, collect_member, &c));
	*out = c.count;
	return rc;
}

/* What af_dir__case_twin() looks for, and what it found. */
typedef struct twin_search {
	const char *name;
	char *twin;
	size_t cap;
	int found;
} twin_search;

static int twin_member(const char *member, void *arg)
{
	twin_search *t = arg;

	if (t->found || strcasecmp(member, t->name) != 0 ||
	    strcmp(member, t->name) == 0)
		return 0;
	snprintf(t->twin, t->cap, "%s", member);
	t->found = 1;
	return 0;
}

af_dir_status af_dir__case_twin(af_dir *dir, const char *index,
				const char *noun, const char *name, char *err,
				size_t errlen)
{
	char twin[STORE_KEY_MAX] = "";
	twin_search t = {name, twin, sizeof(twin), 0};
	af_dir_status rc;

	rc = af_dir__from_store(
		store_smembers(dir->store, index, twin_member, &t));
	if (rc != AF_DIR_OK || !t.found)
		return rc;
	af_dir__err(err, errlen,
		    "name: %s named \"%s\" exists; names that differ only "
		    "in case would be mistaken for each other",
		    noun, twin);
	return AF_DIR_EXISTS;
}

void af_dir__index_drop(af_dir *dir, const char *index, const char *name,
			const char *key)
{
	uint64_t ttl = 0;
	store_status st;

	if (store_srem(dir->store, index, name) != STORE_OK)
		return;
	/*
	 * A record of the name written since the old one was deleted was
	 * indexed by its writer, maybe just before the removal above: it is
	 * indexed again, so that it never goes unlisted. (Whether it is
	 * there: store_ttl() answers that without the record's bytes.)
	 */
	st = store_ttl(dir->store, key, &ttl);
	if (st == STORE_OK)
		st = store_sadd(dir->store, index, name);
	(void)st; /* best effort, as above */
}

/*
 * 1 when the store answers for key: a record af_dir__get_json() refused
 * is then damaged (not JSON, say), not out of reach.
 */
static int store_answers(af_dir *dir, const char *key)
{
	store_value v = {NULL, 0};
	store_status st = store_get(dir->store, key, &v);

	if (v.data != NULL)
		OPENSSL_cleanse(v.data, v.len);
	store_value_free(&v);
	return st == STORE_OK || st == STORE_ERR_ARG;
}

/* Records list_objects() reads in one store_batch(). */
#define LIST_BATCH 64

/* The member of a record under prefix that holds the name its key ends
 * with (NULL: none checked). */
static const char *name_member(const char *prefix)
{
	static const struct {
		const char *prefix, *member;
	} named[] = {
		{"user:", "username"}, {"group:", "name"},    {"ou:", "name"},
		{"policy:", "name"},   {"app:", "client_id"},
	};

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (strcmp(prefix, named[i].prefix) == 0)
			return named[i].member;
	}
	return NULL;
}

/*
 * Whether obj, the record at key (prefix then its name), names itself as
 * its key does: one that does not was not written by this module (a
 * change by hand, say), and every reader of the name would go wrong.
 */
static int names_itself(const json_t *obj, const char *key, const char *prefix)
{
	const char *member = name_member(prefix), *name;
	size_t plen = strlen(prefix);

	if (member == NULL || strncmp(key, prefix, plen) != 0)
		return 1;
	name = json_string_value(json_object_get(obj, member));
	return name != NULL && strcmp(name, key + plen) == 0;
}

/*
 * Appends to arr the records of the n keys read by ops (their values are
 * freed): AF_DIR_OK, or the failure that ends the listing. A damaged
 * record (one that does not parse, or does not name itself as its key
 * does) is told to the operator and left out; but with shared, the
 * policies that sign-ins are decided by, it ends the listing
 * (AF_DIR_STORE): which users a damaged policy named is not known, and
 * passing it over could let them sign in under a looser one.
 */
static af_dir_status list_take(af_dir *dir, store_op *ops, size_t n,
			       const char *prefix, json_t *arr, int shared)
{
	af_dir_status rc = AF_DIR_OK, r;
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *obj = NULL;

		r = af_dir__from_store(ops[i].status);
		if (r == AF_DIR_OK && rc == AF_DIR_OK) {
			r = decode_json(dir, ops[i].key, ops[i].value, &obj,
					NULL, shared);
			ops[i].value.data = NULL;
		}
		store_value_free(&ops[i].value);
		if (obj != NULL && !names_itself(obj, ops[i].key, prefix)) {
			json_decref(obj);
			obj = NULL;
			damaged(dir, ops[i].key);
			if (!shared)
				continue; /* damaged: the rest are listed */
			r = AF_DIR_STORE;
		}
		if (rc != AF_DIR_OK || r == AF_DIR_NOT_FOUND)
			continue; /* gone meanwhile */
		if (!shared && r != AF_DIR_OK && r != AF_DIR_NOMEM &&
		    store_answers(dir, ops[i].key))
			continue; /* damaged: the rest are listed */
		if (r == AF_DIR_OK && json_array_append_new(arr, obj) != 0)
			r = AF_DIR_NOMEM;
		rc = r;
	}
	return rc;
}

/*
 * af_dir__list(), or with shared 1 the objects shared
 * (af_dir__get_json_shared()), for af_dir__policies_shared(). The records
 * are read LIST_BATCH at a time: one round trip to redis each, rather
 * than one per record, as every sign-in lists the policies.
 */
static af_dir_status list_objects(af_dir *dir, const char *set_key,
				  const char *prefix, json_t **out, int shared)
{
	char(*keys)[STORE_KEY_MAX] = NULL;
	store_op ops[LIST_BATCH];
	json_t *names = NULL, *arr = NULL;
	af_dir_status rc;
	size_t i = 0, n;

	*out = NULL;
	rc = af_dir__members(dir, set_key, &names);
	if (rc != AF_DIR_OK)
		return rc;
	arr = json_array();
	keys = malloc(sizeof(*keys) * LIST_BATCH);
	if (arr == NULL || keys == NULL) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	while (rc == AF_DIR_OK && i < json_array_size(names)) {
		for (n = 0; n < LIST_BATCH && i < json_array_size(names); i++) {
			const char *name =
				json_string_value(json_array_get(names, i));

			if (af_dir__key(keys[n], STORE_KEY_MAX, prefix, name) !=
			    AF_DIR_OK)
				continue;
			memset(&ops[n], 0, sizeof(ops[n]));
			ops[n].kind = STORE_OP_GET;
			ops[n].key = keys[n];
			n++;
		}
		if (n == 0)
			break;
		/* Each read gets its own answer, failures too, unless the
		 * batch itself is refused (nothing read). */
		if (store_batch(dir->store, ops, n) == STORE_ERR_ARG) {
			rc = AF_DIR_STORE;
			break;
		}
		rc = list_take(dir, ops, n, prefix, arr, shared);
	}
	if (rc == AF_DIR_OK) {
		*out = arr;
		arr = NULL;
	}
out:
	free(keys);
	json_decref(arr);
	json_decref(names);
	return rc;
}

af_dir_status af_dir__list(af_dir *dir, const char *set_key, const char *prefix,
			   json_t **out)
{
	return list_objects(dir, set_key, prefix, out, 0);
}

/* The counter every change of a policy bumps: see memo.h. */
#define POLICIES_GEN "policies_gen"

/* 1 when the listings a and b hold the very same records, in order. */
static int same_records(const json_t *a, const json_t *b)
{
	size_t i;

	if (json_array_size(a) != json_array_size(b))
		return 0;
	for (i = 0; i < json_array_size(a); i++)
		if (json_array_get(a, i) != json_array_get(b, i))
			return 0;
	return 1;
}

/*
 * Lists the policies anew into *out and indexes them into *index; keeps
 * both for gen unless gen is "".
 */
static af_dir_status policies_anew(af_dir *dir, const char *gen, json_t **out,
				   json_t **index)
{
	uint64_t read_ns = af_mono_ns(); /* before the reading, not after */
	json_t *last;
	af_dir_status rc;

	rc = list_objects(dir, "policies", "policy:", out, 1);
	if (rc != AF_DIR_OK)
		return rc;
	/*
	 * Listed again once a second with no change: the records are then
	 * the memo's very values, held by the last listing as well, and its
	 * index is kept rather than made again.
	 */
	last = af_dir__memo_listing_last(dir->memo, index);
	if (last == NULL || !same_records(last, *out)) {
		json_decref(*index);
		*index = NULL;
		rc = af_dir__policy_index(*out, index);
	}
	json_decref(last);
	if (rc != AF_DIR_OK) {
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	if (gen[0] != '\0')
		af_dir__memo_keep_listing(dir->memo, gen, *out, *index,
					  read_ns);
	return AF_DIR_OK;
}

/* The listing kept for gen and its index, or NULL. */
static json_t *policies_kept(af_dir *dir, const char *gen, json_t **index)
{
	*index = NULL;
	if (gen[0] == '\0')
		return NULL;
	return af_dir__memo_listing(dir->memo, gen, af_mono_ns(), index);
}

af_dir_status af_dir__policies_shared(af_dir *dir, json_t **out, json_t **index)
{
	char gen[AF_DIR_MEMO_GEN_MAX] = "none";
	store_value v = {NULL, 0};
	store_status st;
	af_dir_status rc = AF_DIR_OK;

	*out = NULL;
	*index = NULL;
	st = store_get(dir->store, POLICIES_GEN, &v);
	if (st == STORE_OK && v.len < sizeof(gen))
		memcpy(gen, v.data, v.len + 1);
	else if (st == STORE_OK)
		gen[0] = '\0'; /* not a counter: never kept */
	store_value_free(&v);
	if (st != STORE_OK && st != STORE_NOT_FOUND)
		return af_dir__from_store(st);
	*out = policies_kept(dir, gen, index);
	if (*out != NULL)
		return AF_DIR_OK;
	af_dir__memo_listing_lock(dir->memo);
	/* Another reader may have listed them while this one waited. */
	*out = policies_kept(dir, gen, index);
	if (*out == NULL)
		rc = policies_anew(dir, gen, out, index);
	af_dir__memo_listing_unlock(dir->memo);
	return rc;
}

void af_dir__policies_changed(af_dir *dir)
{
	int64_t gen;
	store_status st = store_incr(dir->store, POLICIES_GEN, 1, 0, &gen);

	/* Without the bump, other readers see the change within
	 * AF_DIR_MEMO_LISTING_NS all the same. */
	(void)st;
}

json_t *af_dir__iterable(const json_t *v)
{
	/* A union, not a cast: nothing is ever written through it. */
	union {
		const json_t *c;
		json_t *m;
	} u;

	u.c = v;
	return u.m;
}

const char *af_dir__target_field(af_dir_target kind)
{
	switch (kind) {
	case AF_DIR_TARGET_USER:
		return "users";
	case AF_DIR_TARGET_GROUP:
		return "groups";
	case AF_DIR_TARGET_OU:
		return "ous";
	case AF_DIR_TARGET_DOMAIN:
		return "domains";
	case AF_DIR_TARGET_ALL:
	default:
		return NULL;
	}
}

int af_dir__array_has(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	if (s == NULL)
		return 0;
	json_array_foreach(arr, i, v)
	{
		const char *e = json_string_value(v);

		if (e != NULL && strcmp(e, s) == 0)
			return 1;
	}
	return 0;
}

int af_dir__array_drop(json_t *arr, const char *s)
{
	int dropped = 0;
	size_t i = 0;

	while (i < json_array_size(arr)) {
		const char *e = json_string_value(json_array_get(arr, i));

		if (e != NULL && s != NULL && strcmp(e, s) == 0) {
			/* Cannot fail: i is within the array. */
			dropped = json_array_remove(arr, i) == 0 || dropped;
			continue;
		}
		i++;
	}
	return dropped;
}

long af_dir__utf8_chars(const char *s, size_t maxbytes)
{
	size_t n;

	if (s == NULL)
		return -1;
	n = strnlen(s, maxbytes + 1);
	if (n > maxbytes)
		return -1;
	return af_utf8_display_chars(s, n);
}

af_dir_status af_dir__check_actor(const char *actor)
{
	long n = af_dir__utf8_chars(actor, AF_DIR_ACTOR_MAX);

	return n >= 1 ? AF_DIR_OK : AF_DIR_INVALID;
}

int af_dir__is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

af_dir_status af_dir_check_username(const char *field, const char *v, char *err,
				    size_t errlen)
{
	size_t n, i;

	n = v != NULL ? strnlen(v, AF_DIR_USERNAME_MAX + 1) : 0;
	if (n == 0 || n > AF_DIR_USERNAME_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		if (!af_dir__is_alnum(v[i]) && strchr("._@-", v[i]) == NULL)
			goto bad;
	}
	return AF_DIR_OK;
bad:
	af_dir__err(err, errlen,
		    "%s: must be 1..%d characters of A-Z a-z 0-9 . _ @ -",
		    field, AF_DIR_USERNAME_MAX);
	return AF_DIR_INVALID;
}

af_dir_status af_dir_check_name(const char *field, const char *v, char *err,
				size_t errlen)
{
	size_t n, i;

	n = v != NULL ? strnlen(v, AF_DIR_NAME_MAX + 1) : 0;
	if (n == 0 || n > AF_DIR_NAME_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		if (!af_dir__is_alnum(v[i]) && strchr(" ._/-", v[i]) == NULL)
			goto bad;
	}
	/* Names that differ only by outer spaces would look the same. */
	if (v[0] == ' ' || v[n - 1] == ' ')
		goto bad;
	return AF_DIR_OK;
bad:
	af_dir__err(err, errlen,
		    "%s: must be 1..%d characters of A-Z a-z 0-9 space . _ / - "
		    "(no space first or last)",
		    field, AF_DIR_NAME_MAX);
	return AF_DIR_INVALID;
}

af_dir_status af_dir__check_not_dots(const char *field, const char *v,
				     char *err, size_t errlen)
{
	size_t i = 0;

	if (v == NULL || v[0] == '\0')
		return AF_DIR_OK; /* the syntax checks refuse it */
	while (v[i] == '.')
		i++;
	if (v[i] != '\0')
		return AF_DIR_OK;
	af_dir__err(err, errlen,
		    "%s: must not be only dots (\".\" and \"..\" cannot "
		    "be named in a URL path)",
		    field);
	return AF_DIR_INVALID;
}

af_dir_status af_dir_check_display(const char *field, const char *v,
				   size_t maxch, char *err, size_t errlen)
{
	long n = -1;

	/* Four bytes is the longest UTF-8 character. */
	if (maxch > 0 && maxch <= 4096)
		n = af_dir__utf8_chars(v, maxch * 4);
	if (n < 1 || (size_t)n > maxch || af_utf8_blank(v, strlen(v))) {
		af_dir__err(err, errlen,
			    "%s: must be 1..%zu printable UTF-8 characters, "
			    "not only spaces",
			    field, maxch);
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

af_dir_status af_dir_check_domain(const char *field, const char *v, char *err,
				  size_t errlen)
{
	size_t n, i, label = 0;

	n = v != NULL ? strnlen(v, AF_DIR_DOMAIN_MAX + 1) : 0;
	if (n == 0 || n > AF_DIR_DOMAIN_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		if (v[i] == '.') {
			/* No empty labels, no hyphen at the end of one. */
			if (label == 0 || v[i - 1] == '-')
				goto bad;
			label = 0;
			continue;
		}
		if (!af_dir__is_alnum(v[i]) && !(v[i] == '-' && label > 0))
			goto bad;
		if (++label > 63)
			goto bad;
	}
	if (label == 0 || v[n - 1] == '-')
		goto bad;
	return AF_DIR_OK;
bad:
	af_dir__err(err, errlen, "%s: not a valid domain name", field);
	return AF_DIR_INVALID;
}

af_dir_status af_dir_check_email(const char *field, const char *v, char *err,
				 size_t errlen)
{
	const char *at, *dot;
	size_t n, local, i;

	n = v != NULL ? strnlen(v, AF_DIR_EMAIL_MAX + 1) : 0;
	if (n == 0 || n > AF_DIR_EMAIL_MAX)
		goto bad;
	at = strchr(v, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL)
		goto bad;
	local = (size_t)(at - v);
	if (local == 0 || local > 64 || v[0] == '.' || v[local - 1] == '.')
		goto bad;
	for (i = 0; i < local; i++) {
		if (!af_dir__is_alnum(v[i]) &&
		    strchr(".!#$%&'*+/=?^_`{|}~-", v[i]) == NULL)
			goto bad;
		if (v[i] == '.' && v[i + 1] == '.')
			goto bad;
	}
	dot = strchr(at + 1, '.');
	if (dot == NULL ||
	    af_dir_check_domain(field, at + 1, NULL, 0) != AF_DIR_OK)
		goto bad;
	return AF_DIR_OK;
bad:
	af_dir__err(err, errlen, "%s: not a valid address", field);
	return AF_DIR_INVALID;
}

void af_dir__fold_lower(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

af_dir_status af_dir__exists(af_dir *dir, const char *prefix, const char *name)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	af_dir_status rc;

	rc = af_dir__key(key, sizeof(key), prefix, name);
	if (rc != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	rc = af_dir__from_store(store_get(dir->store, key, &v));
	store_value_free(&v);
	return rc;
}

af_dir_status af_dir__user_read(af_dir *dir, const char *key, json_t **user)
{
	store_value v = {NULL, 0};
	af_dir_status rc;

	*user = NULL;
	rc = af_dir__from_store(store_get(dir->store, key, &v));
	if (rc != AF_DIR_OK)
		return rc;
	*user = json_loadb((const char *)v.data, v.len, 0, NULL);
	/* The record holds a password hash: the bytes are wiped on free. */
	store_value_free(&v);
	if (!json_is_object(*user)) {
		json_decref(*user);
		*user = NULL;
	}
	return AF_DIR_OK;
}

af_dir_status af_dir__user_present(af_dir *dir, const char *name)
{
	char key[STORE_KEY_MAX];
	json_t *user = NULL;
	af_dir_status rc;

	if (af_dir__key(key, sizeof(key), "user:", name) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	rc = af_dir__user_read(dir, key, &user);
	if (rc == AF_DIR_OK && af_dir_user_removing(user))
		rc = AF_DIR_REMOVING;
	json_decref(user);
	return rc;
}

af_dir_status af_dir__name_of(af_dir *dir, const char *field, const char *v,
			      af_dir_target kind, char *out, size_t outcap,
			      char *err, size_t errlen)
{
	af_dir_status rc;
	const char *prefix = NULL, *noun = NULL;

	switch (kind) {
	case AF_DIR_TARGET_USER:
		rc = af_dir_check_username(field, v, err, errlen);
		prefix = "user:";
		noun = "user";
		break;
	case AF_DIR_TARGET_GROUP:
		rc = af_dir_check_name(field, v, err, errlen);
		prefix = "group:";
		noun = "group";
		break;
	case AF_DIR_TARGET_OU:
		rc = af_dir_check_name(field, v, err, errlen);
		prefix = "ou:";
		noun = "OU";
		break;
	case AF_DIR_TARGET_DOMAIN:
		rc = af_dir_check_domain(field, v, err, errlen);
		break;
	case AF_DIR_TARGET_ALL:
	default:
		af_dir__err(err, errlen, "%s: not a user, group, OU or domain",
			    field);
		return AF_DIR_INVALID;
	}
	if (rc != AF_DIR_OK)
		return rc;
	if (af_dir__key(out, outcap, "", v) != AF_DIR_OK)
		return AF_DIR_INVALID;
	if (kind == AF_DIR_TARGET_USER || kind == AF_DIR_TARGET_DOMAIN)
		af_dir__fold_lower(out);
	if (prefix == NULL)
		return AF_DIR_OK;
	/* A user being removed is as good as gone: naming it would leave a
	 * reference behind once the removal is done. */
	rc = kind == AF_DIR_TARGET_USER ? af_dir__user_present(dir, out)
					: af_dir__exists(dir, prefix, out);
	if (rc == AF_DIR_NOT_FOUND || rc == AF_DIR_REMOVING) {
		af_dir__err(err, errlen, "%s: no %s named \"%s\"%s", field,
			    noun, out,
			    rc == AF_DIR_REMOVING ? " (being removed)" : "");
		return AF_DIR_INVALID;
	}
	if (rc != AF_DIR_OK)
		af_dir__err(err, errlen, "%s: %s", field, af_dir_strerror(rc));
	return rc;
}

af_dir_status af_dir_check_target(af_dir *dir, const char *field,
				  af_dir_target kind, const char *v, char *err,
				  size_t errlen)
{
	char name[AF_DIR_DOMAIN_MAX + 1];

	return af_dir__name_of(dir, field, v, kind, name, sizeof(name), err,
			       errlen);
}

/* A list of names may be sent with repeats, up to this many times its cap. */
#define NAMES_SENT_PER_MAX 4

af_dir_status af_dir__names(af_dir *dir, const char *field, const json_t *arr,
			    af_dir_target kind, size_t max, json_t **out,
			    char *err, size_t errlen)
{
	char name[AF_DIR_DOMAIN_MAX + 1];
	af_dir_status rc;
	json_t *res, *v;
	size_t i;

	*out = NULL;
	if (!json_is_array(arr)) {
		af_dir__err(err, errlen, "%s: must be an array of names",
			    field);
		return AF_DIR_INVALID;
	}
	/*
	 * Repeats are dropped, so the cap is on distinct names; the list as
	 * sent is bounded too, since each name costs a check.
	 */
	if (json_array_size(arr) > NAMES_SENT_PER_MAX * max) {
		af_dir__err(err, errlen, "%s: at most %zu entries", field, max);
		return AF_DIR_INVALID;
	}
	res = json_array();
	if (res == NULL)
		return AF_DIR_NOMEM;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v)) {
			af_dir__err(err, errlen,
				    "%s: must be an array of names", field);
			rc = AF_DIR_INVALID;
			goto out;
		}
		rc = af_dir__name_of(dir, field, json_string_value(v), kind,
				     name, sizeof(name), err, errlen);
		if (rc != AF_DIR_OK)
			goto out;
		if (!af_dir__array_has(res, name) &&
		    json_array_append_new(res, json_string(name)) != 0) {
			rc = AF_DIR_NOMEM;
			goto out;
		}
	}
	if (json_array_size(res) > max) {
		af_dir__err(err, errlen, "%s: at most %zu entries", field, max);
		rc = AF_DIR_INVALID;
		goto out;
	}
	rc = af_dir__sort(res, NULL);
	if (rc == AF_DIR_OK) {
		*out = res;
		res = NULL;
	}
out:
	json_decref(res);
	return rc;
}

void af_dir_options_default(af_dir_options *opts)
{
	if (opts == NULL)
		return;
	memset(opts, 0, sizeof(*opts));
	af_pw_params_default(&opts->pw);
	opts->pw_min_chars = AF_DIR_PW_MIN_CHARS;
	opts->pw_temporary_s = AF_DIR_PW_TEMPORARY_S;
	af_throttle_params_default(&opts->throttle);
}

af_dir_status af_dir_new(store_ctx *store, const af_dir_options *opts,
			 af_dir **out, char *err, size_t errlen)
{
	char pw[AF_DIR_SECRET_BUF];
	af_dir_status rc;
	af_dir *dir;
	uint64_t t0, t1;
	unsigned i;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (store == NULL) {
		af_dir__err(err, errlen, "directory: no state store");
		return AF_DIR_INVALID;
	}
	dir = calloc(1, sizeof(*dir));
	if (dir == NULL)
		return AF_DIR_NOMEM;
	dir->store = store;
	if (opts != NULL)
		dir->opts = *opts;
	else
		af_dir_options_default(&dir->opts);
	dir->memo = af_dir__memo_new();
	if (dir->memo == NULL) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = af_pw_params_check(&dir->opts.pw, err, errlen);
	if (rc == AF_DIR_OK &&
	    (dir->opts.pw_min_chars == 0 ||
	     dir->opts.pw_min_chars > AF_DIR_PW_MIN_CHARS_MAX)) {
		af_dir__err(err, errlen,
			    "directory: the fewest characters of a password "
			    "must be 1..%u",
			    AF_DIR_PW_MIN_CHARS_MAX);
		rc = AF_DIR_INVALID;
	}
	if (rc == AF_DIR_OK &&
	    (dir->opts.audit_keep_s < 0 ||
	     dir->opts.audit_keep_s > AF_DIR_AUDIT_KEEP_S_MAX)) {
		af_dir__err(err, errlen,
			    "directory: audit events are kept 0..%lld s",
			    (long long)AF_DIR_AUDIT_KEEP_S_MAX);
		rc = AF_DIR_INVALID;
	}
	if (rc == AF_DIR_OK)
		rc = af_throttle_params_check(&dir->opts.throttle, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	/* A password nobody knows, so the dummy hash never matches. */
	if (af_random_token(32, pw, sizeof(pw)) != 0) {
		rc = AF_DIR_CRYPTO;
		goto out;
	}
	rc = af_pw_hash(&dir->opts.pw, pw, dir->dummy_phc,
			sizeof(dir->dummy_phc));
	/*
	 * What a check costs: the quickest of a few timed checks. The hash
	 * just made is no measure; a process's first hash also pays for
	 * the random generator's seeding and the first touch of its memory,
	 * several times a cheap hash's cost.
	 */
	for (i = 0; rc == AF_DIR_OK && i < CHECK_TIMINGS; i++) {
		t0 = af_mono_ns();
		rc = af_pw_verify(dir->dummy_phc, pw, NULL);
		t1 = af_mono_ns() - t0;
		if (i == 0 || t1 < dir->check_ns)
			dir->check_ns = t1;
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen, "directory: cannot hash passwords");
		goto out;
	}
	*out = dir;
	dir = NULL;
out:
	af_dir_free(dir);
	return rc;
}

void af_dir_free(af_dir *dir)
{
	if (dir == NULL)
		return;
	/* A view shares the memo with the directory it shows. */
	if (dir->base == NULL)
		af_dir__memo_free(dir->memo);
	OPENSSL_clear_free(dir, sizeof(*dir));
}

/* Copies src, cut to fit, into dst of AF_DIR_ORIGIN_MAX bytes. */
static void origin_copy(char *dst, const char *src)
{
	size_t n = src != NULL ? strnlen(src, AF_DIR_ORIGIN_MAX - 1) : 0;

	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

af_dir *af_dir_view(const af_dir *dir, const char *ip, const char *rid)
{
	af_dir *v;

	if (dir == NULL)
		return NULL;
	v = malloc(sizeof(*v));
	if (v == NULL)
		return NULL;
	memcpy(v, dir, sizeof(*v));
	v->base = dir->base != NULL ? dir->base : dir;
	origin_copy(v->origin_ip, ip);
	origin_copy(v->origin_rid, rid);
	return v;
}

void af_dir_origin(const af_dir *dir, const char **ip, const char **rid)
{
	*ip = dir != NULL ? dir->origin_ip : "";
	*rid = dir != NULL ? dir->origin_rid : "";
}

store_ctx *af_dir_store(const af_dir *dir)
{
	return dir != NULL ? dir->store : NULL;
}

const af_dir_options *af_dir_options_get(const af_dir *dir)
{
	return dir != NULL ? &dir->opts : NULL;
}

uint64_t af_dir_check_ns(const af_dir *dir)
{
	return dir != NULL ? dir->check_ns : 0;
}

const char *af_dir__dummy_phc(const af_dir *dir)
{
	return dir->dummy_phc;
}

af_dir_status af_dir__removed_detail(const json_t *obj,
				     const char *const *members, json_t **out)
{
	json_t *detail = json_object();
	const json_t *v;

	*out = NULL;
	if (detail == NULL)
		return AF_DIR_NOMEM;
	for (size_t i = 0; members[i] != NULL; i++) {
		v = json_object_get(obj, members[i]);
		if (v != NULL &&
		    af_dir__set_new(detail, members[i], json_deep_copy(v)) !=
			    AF_DIR_OK) {
			json_decref(detail);
			return AF_DIR_NOMEM;
		}
	}
	*out = detail;
	return AF_DIR_OK;
}

/* Records an audit event for a change that was made; see directory.h. */
af_dir_status af_dir__forget_audit(af_dir *dir, const char *actor,
				   const char *action, const char *target,
				   const char *field, const char *name)
{
	json_t *detail = json_pack("{s:s, s:b}", field, name, "removed", 1);
	af_dir_status rc;

	if (detail == NULL)
		return AF_DIR_NOMEM;
	rc = af_dir__audit(dir, actor, action, target, detail, NULL, 0);
	json_decref(detail);
	return rc;
}

af_dir_status af_dir__audit(af_dir *dir, const char *actor, const char *action,
			    const char *target, const json_t *detail, char *err,
			    size_t errlen)
{
	af_dir_status rc;

	rc = af_audit_record(dir, actor, action, target, detail);
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen,
			    "audit: the change was made but not recorded (%s)",
			    af_dir_strerror(rc));
		return AF_DIR_STORE;
	}
	return AF_DIR_OK;
}

/* 1 when k is one of the NULL-terminated names (NULL: none). */
static int named(const char *const *names, const char *k)
{
	for (; names != NULL && *names != NULL; names++) {
		if (strcmp(*names, k) == 0)
			return 1;
	}
	return 0;
}

/* What member k of before held, as af_dir__change_detail() shows it. */
static json_t *was_of(const json_t *before, const char *k, const json_t *v,
		      af_dir_unset unset, const char *const *by_key)
{
	const json_t *old = json_object_get(before, k), *lv;
	json_t *lists;
	const char *lk;

	if (old == NULL)
		return unset == AF_DIR_UNSET_FLAG_FALSE && json_is_boolean(v)
			       ? json_false()
			       : json_null();
	if (!named(by_key, k) || !json_is_object(v) || !json_is_object(old))
		return json_deep_copy(old);
	lists = json_object();
	json_object_foreach(af_dir__iterable(v), lk, lv)
	{
		const json_t *was = json_object_get(old, lk);

		(void)lv;
		if (lists != NULL &&
		    json_object_set_new(lists, lk,
					was != NULL ? json_deep_copy(was)
						    : json_null()) != 0) {
			json_decref(lists);
			return NULL;
		}
	}
	return lists;
}

json_t *af_dir__change_detail(const json_t *norm, const json_t *before,
			      af_dir_unset unset, const char *const *by_key)
{
	json_t *detail = json_deep_copy(norm), *was = json_object(), *v;
	const char *k;

	if (detail == NULL || was == NULL)
		goto fail;
	json_object_foreach(af_dir__iterable(norm), k, v)
	{
		if (json_object_set_new(
			    was, k, was_of(before, k, v, unset, by_key)) != 0)
			goto fail;
	}
	if (json_object_set_new(detail, "was", was) != 0) {
		json_decref(detail);
		return NULL;
	}
	return detail;
fail:
	json_decref(detail);
	json_decref(was);
	return NULL;
}

af_dir_status af_dir__audit_removal(af_dir *dir, const char *actor,
				    const char *action, const char *target,
				    const json_t *detail, char *err,
				    size_t errlen)
{
	af_dir_status rc;

	rc = af_audit_record(dir, actor, action, target, detail);
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen,
			    "audit: the event could not be written (%s): "
			    "nothing was removed",
			    af_dir_strerror(rc));
		return AF_DIR_STORE;
	}
	return AF_DIR_OK;
}
