/*
 * The directory: its context, shared helpers for the other files of the
 * module, value checks, users, groups and OUs.
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
#include "directory/signins.h"
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

/* How a group and an OU differ in the store and in a user. */
typedef struct member_kind {
	af_dir_target target;
	const char *prefix;  /* "group:" */
	const char *index;   /* "groups" */
	const char *members; /* "group_members:" */
	const char *field;   /* member of a user: "groups" */
	const char *noun;    /* "group" */
	const char *a_noun;  /* "a group", "an OU" */
	const char *act_add; /* audit actions */
	const char *act_set;
	const char *act_remove;
	const char *act_join;
	const char *act_leave;
} member_kind;

static const member_kind group_kind = {
	.target = AF_DIR_TARGET_GROUP,
	.prefix = "group:",
	.index = "groups",
	.members = "group_members:",
	.field = "groups",
	.noun = "group",
	.a_noun = "a group",
	.act_add = "group.add",
	.act_set = "group.set",
	.act_remove = "group.remove",
	.act_join = "group.add_member",
	.act_leave = "group.remove_member",
};

static const member_kind ou_kind = {
	.target = AF_DIR_TARGET_OU,
	.prefix = "ou:",
	.index = "ous",
	.members = "ou_members:",
	.field = "ous",
	.noun = "OU",
	.a_noun = "an OU",
	.act_add = "ou.add",
	.act_set = "ou.set",
	.act_remove = "ou.remove",
	.act_join = "ou.add_member",
	.act_leave = "ou.remove_member",
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
		if (dir->opts.damage_sink != NULL)
			dir->opts.damage_sink(dir->opts.damage_arg, key);
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
	af_dir_status rc;
	char *text;

	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return AF_DIR_NOMEM;
	rc = af_dir__from_store(
		store_set(dir->store, key, text, strlen(text), 0, flags));
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

/*
 * Appends to arr the records of the n keys read by ops (their values are
 * freed): AF_DIR_OK, or the failure that ends the listing.
 */
static af_dir_status list_take(af_dir *dir, store_op *ops, size_t n,
			       json_t *arr, int shared)
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
		if (rc != AF_DIR_OK || r == AF_DIR_NOT_FOUND ||
		    (r != AF_DIR_OK && r != AF_DIR_NOMEM &&
		     store_answers(dir, ops[i].key)))
			continue; /* gone meanwhile, or damaged: the rest */
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
		rc = list_take(dir, ops, n, arr, shared);
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

static int is_alnum(char c)
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
		if (!is_alnum(v[i]) && strchr("._@-", v[i]) == NULL)
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
		if (!is_alnum(v[i]) && strchr(" ._/-", v[i]) == NULL)
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
		if (!is_alnum(v[i]) && !(v[i] == '-' && label > 0))
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
		if (!is_alnum(v[i]) &&
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

static void fold_lower(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

/* AF_DIR_OK when the object prefix+name exists, else NOT_FOUND or an
 * error. */
static af_dir_status exists(af_dir *dir, const char *prefix, const char *name)
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

/* The member that marks a user being removed (af_dir_user_remove()). */
#define USER_REMOVING "removing"

int af_dir_user_removing(const json_t *user)
{
	return json_is_true(json_object_get(user, USER_REMOVING));
}

/*
 * Reads the user record at key as it is: AF_DIR_OK and *user, or AF_DIR_OK
 * and *user NULL when the record is damaged (not a JSON object),
 * AF_DIR_NOT_FOUND, or the store's failure. Unlike af_dir__get_json(), a
 * damaged record is told apart from a store that does not answer, so that
 * it can still be removed.
 */
static af_dir_status user_read(af_dir *dir, const char *key, json_t **user)
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

/*
 * Whether the user name (folded) is there to be named by a policy, a
 * deployment or a group: AF_DIR_OK (a damaged record counts, as it did
 * for exists()), AF_DIR_NOT_FOUND, AF_DIR_REMOVING, or the store's failure.
 */
static af_dir_status user_present(af_dir *dir, const char *name)
{
	char key[STORE_KEY_MAX];
	json_t *user = NULL;
	af_dir_status rc;

	if (af_dir__key(key, sizeof(key), "user:", name) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	rc = user_read(dir, key, &user);
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
		fold_lower(out);
	if (prefix == NULL)
		return AF_DIR_OK;
	/* A user being removed is as good as gone: naming it would leave a
	 * reference behind once the removal is done. */
	rc = kind == AF_DIR_TARGET_USER ? user_present(dir, out)
					: exists(dir, prefix, out);
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

/*
 * Users.
 */

/* Checks and folds a user name given by a caller into name. */
static af_dir_status user_name(const char *in, char *name, size_t cap)
{
	if (af_dir_check_username("username", in, NULL, 0) != AF_DIR_OK ||
	    af_dir__key(name, cap, "", in) != AF_DIR_OK)
		return AF_DIR_INVALID;
	fold_lower(name);
	return AF_DIR_OK;
}

/* Makes u (owned) the user as handed out: without the password hash. */
static json_t *user_strip(json_t *u)
{
	if (u == NULL)
		return NULL;
	if (json_object_set_new(u, "password_set",
				json_boolean(json_is_string(json_object_get(
					u, "password")))) != 0) {
		json_decref(u);
		return NULL;
	}
	if (json_object_set_new(u, AF_DIR_USER_PW_CHANGE,
				json_boolean(json_is_true(json_object_get(
					u, AF_DIR_USER_PW_CHANGE)))) != 0) {
		json_decref(u);
		return NULL;
	}
	/* Deleting a member that is not there is not an error here. */
	if (json_object_del(u, "password") != 0 &&
	    json_object_get(u, "password") != NULL) {
		json_decref(u);
		return NULL;
	}
	return u;
}

/* The user as handed out, a copy of the stored one. */
static json_t *user_public(const json_t *stored)
{
	return user_strip(json_deep_copy(stored));
}

static af_dir_status hand_out_user(const json_t *stored, json_t **out)
{
	if (out == NULL)
		return AF_DIR_OK;
	*out = user_public(stored);
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
}

/* As hand_out_user, but *user (just read, owned) becomes *out, uncopied. */
static af_dir_status hand_over_user(json_t **user, json_t **out)
{
	if (out == NULL)
		return AF_DIR_OK;
	*out = user_strip(*user);
	*user = NULL;
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
}

static af_dir_status check_password(const char *password, char *err,
				    size_t errlen)
{
	size_t n = password != NULL ? strnlen(password, AF_PW_MAX + 1) : 0;

	if (n == 0 || n > AF_PW_MAX) {
		af_dir__err(err, errlen, "password: must be 1..%d bytes",
			    AF_PW_MAX);
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

/* 1 when s is a unit of 1..4 bytes repeated ("aaaaaaaa", "abababab"). */
static int repeated(const char *s, size_t len)
{
	size_t unit, i;

	for (unit = 1; unit <= 4 && unit < len; unit++) {
		for (i = unit; i < len && s[i] == s[i - unit]; i++)
			;
		if (i == len)
			return 1;
	}
	return 0;
}

/* 1 when each byte of s is one more, or each one less, than the last. */
static int consecutive(const char *s, size_t len)
{
	size_t i, up = 1, down = 1;

	for (i = 1; i < len; i++) {
		up &= (unsigned char)s[i] == (unsigned char)s[i - 1] + 1u;
		down &= (unsigned char)s[i] + 1u == (unsigned char)s[i - 1];
	}
	return len > 1 && (up || down);
}

/* check_new_password() over the normalised password. */
static af_dir_status check_new_rules(const af_dir *dir, const char *user,
				     const char *password, char *err,
				     size_t errlen)
{
	size_t len = strlen(password);
	long chars;

	/*
	 * A form may post any bytes; the admin API's JSON is UTF-8 only.
	 * Control characters and invisible ones (a tab or line break pasted
	 * with it, a zero-width space, a direction mark) cannot be typed
	 * into a sign-in form alike on every keyboard: such a password would
	 * lock its owner out.
	 */
	chars = af_utf8_display_chars(password, len);
	if (chars < 0) {
		af_dir__err(err, errlen,
			    "password: must be valid UTF-8 text without "
			    "control or invisible characters (tabs, line "
			    "breaks, zero-width spaces, direction marks)");
		return AF_DIR_INVALID;
	}
	if ((unsigned long)chars < dir->opts.pw_min_chars) {
		af_dir__err(err, errlen,
			    "password: must be at least %u characters",
			    dir->opts.pw_min_chars);
		return AF_DIR_INVALID;
	}
	if (user != NULL && strcasecmp(password, user) == 0) {
		af_dir__err(err, errlen, "password: must not be the user name");
		return AF_DIR_INVALID;
	}
	if (repeated(password, len)) {
		af_dir__err(err, errlen,
			    "password: must not be a character or a few "
			    "repeated, like aaaaaaaa or abababab");
		return AF_DIR_INVALID;
	}
	if (consecutive(password, len)) {
		af_dir__err(err, errlen,
			    "password: must not be a run of consecutive "
			    "characters, like 12345678 or abcdefgh");
		return AF_DIR_INVALID;
	}
	if (af_pwlist_has(dir->opts.pwlist, password)) {
		af_dir__err(err, errlen,
			    "password: is on the list of common and breached "
			    "passwords: choose another");
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

/*
 * A password being set: within the bytes any password may have, and in
 * its normal form (af_pw_normalize(), what is hashed) of at least
 * opts.pw_min_chars characters (code points, as a person counts them:
 * "pässwörd" is eight), and none that NIST SP 800-63B (5.1.1.2) says to
 * refuse: the user's name, repeated or consecutive characters, and a
 * common or breached password (opts.pwlist). A password already set is
 * never judged again: it signs in whatever the rules have become.
 */
static af_dir_status check_new_password(const af_dir *dir, const char *user,
					const char *password, char *err,
					size_t errlen)
{
	char norm[AF_PW_NORM_MAX + 1];
	af_dir_status rc = check_password(password, err, errlen);

	if (rc != AF_DIR_OK)
		return rc;
	/* The rules judge what is hashed: "ｐａｓｓｗｏｒｄ" is "password". */
	rc = af_pw_normalize(password, norm, sizeof(norm));
	if (rc == AF_DIR_INVALID)
		af_dir__err(err, errlen,
			    "password: must be at most %zu bytes in Unicode "
			    "normal form (NFKC)",
			    AF_PW_NORM_MAX);
	if (rc == AF_DIR_OK)
		rc = check_new_rules(dir, user, norm, err, errlen);
	OPENSSL_cleanse(norm, sizeof(norm));
	return rc;
}

/* Sets key of obj to a new value; AF_DIR_NOMEM when it cannot. */
af_dir_status af_dir__set_new(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) == 0 ? AF_DIR_OK : AF_DIR_NOMEM;
}

/* Checks a string member that may be null (to clear it). */
static af_dir_status user_string(const char *k, const json_t *v, json_t *norm,
				 char *err, size_t errlen)
{
	char buf[AF_DIR_DOMAIN_MAX + 1];
	const char *s = json_string_value(v);
	af_dir_status rc;

	if (json_is_null(v))
		return af_dir__set_new(norm, k, json_null());
	if (s == NULL) {
		af_dir__err(err, errlen, "%s: must be a string or null", k);
		return AF_DIR_INVALID;
	}
	if (strcmp(k, "name") == 0 || strcmp(k, "given_name") == 0 ||
	    strcmp(k, "family_name") == 0)
		rc = af_dir_check_display(k, s, AF_DIR_DISPLAY_MAX, err,
					  errlen);
	else if (strcmp(k, "email") == 0)
		rc = af_dir_check_email(k, s, err, errlen);
	else
		rc = af_dir_check_domain(k, s, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	if (strcmp(k, "domain") == 0) {
		if (af_dir__key(buf, sizeof(buf), "", s) != AF_DIR_OK)
			return AF_DIR_INVALID;
		fold_lower(buf);
		s = buf;
	}
	return af_dir__set_new(norm, k, json_string(s));
}

/*
 * Checks the members of a user spec (adding) or patch into a normalised
 * object: names folded, arrays sorted, null for members to remove.
 */
static af_dir_status user_fields(af_dir *dir, const json_t *spec, int adding,
				 json_t **out, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1];
	af_dir_status rc = AF_DIR_OK;
	const char *k;
	json_t *norm, *v;

	*out = NULL;
	if (!json_is_object(spec)) {
		af_dir__err(err, errlen, "user: must be a JSON object");
		return AF_DIR_INVALID;
	}
	norm = json_object();
	if (norm == NULL)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(spec), k, v)
	{
		if (strcmp(k, "username") == 0 && adding) {
			rc = af_dir_check_username(k, json_string_value(v), err,
						   errlen);
			if (rc == AF_DIR_OK)
				rc = af_dir__check_not_dots(
					k, json_string_value(v), err, errlen);
			if (rc == AF_DIR_OK)
				rc = user_name(json_string_value(v), name,
					       sizeof(name));
			if (rc == AF_DIR_OK)
				rc = af_dir__set_new(norm, k,
						     json_string(name));
		} else if (strcmp(k, "name") == 0 || strcmp(k, "email") == 0 ||
			   strcmp(k, "domain") == 0 ||
			   strcmp(k, "given_name") == 0 ||
			   strcmp(k, "family_name") == 0) {
			rc = user_string(k, v, norm, err, errlen);
		} else if (strcmp(k, "email_verified") == 0 ||
			   strcmp(k, "enabled") == 0 ||
			   strcmp(k, AF_DIR_USER_PW_CHANGE) == 0) {
			if (!json_is_boolean(v)) {
				af_dir__err(err, errlen,
					    "%s: must be true or false", k);
				rc = AF_DIR_INVALID;
			} else {
				rc = af_dir__set_new(norm, k, json_incref(v));
			}
		} else if (strcmp(k, "groups") == 0 || strcmp(k, "ous") == 0) {
			json_t *names = NULL;

			rc = af_dir__names(dir, k, v,
					   k[0] == 'g' ? AF_DIR_TARGET_GROUP
						       : AF_DIR_TARGET_OU,
					   AF_DIR_MEMBERSHIPS_MAX, &names, err,
					   errlen);
			if (rc == AF_DIR_OK)
				rc = af_dir__set_new(norm, k, names);
		} else if (strcmp(k, "username") == 0 ||
			   strcmp(k, "sub") == 0 ||
			   strcmp(k, "password") == 0 ||
			   strcmp(k, "password_set") == 0 ||
			   strcmp(k, AF_DIR_USER_GEN) == 0 ||
			   strcmp(k, AF_DIR_USER_PW_EXPIRES) == 0 ||
			   strcmp(k, AF_DIR_USER_ENABLED_AT) == 0 ||
			   strcmp(k, AF_DIR_USER_PW_SET_AT) == 0 ||
			   strcmp(k, AF_DIR_USER_PROFILE_AT) == 0 ||
			   strcmp(k, "created_at") == 0 ||
			   strcmp(k, "updated_at") == 0) {
			af_dir__err(err, errlen, "%s: cannot be set here", k);
			rc = AF_DIR_INVALID;
		} else {
			af_dir__err(err, errlen, "%.64s: unknown field", k);
			rc = AF_DIR_INVALID;
		}
		if (rc != AF_DIR_OK)
			break;
	}
	if (rc == AF_DIR_OK && adding &&
	    json_object_get(norm, "username") == NULL) {
		af_dir__err(err, errlen, "username: required");
		rc = AF_DIR_INVALID;
	}
	if (rc != AF_DIR_OK) {
		json_decref(norm);
		return rc;
	}
	*out = norm;
	return AF_DIR_OK;
}

/* The members of a user released as claims (oidc/claims.c). */
static int released(const char *k)
{
	static const char *const names[] = {
		"name",	  "given_name",	    "family_name", "email",
		"domain", "email_verified", "groups",	   "ous"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(k, names[i]) == 0)
			return 1;
	return 0;
}

/*
 * Merges a normalised patch into a stored user at now (one time for all
 * it stamps: a new user's profile is made when the user is).
 */
static af_dir_status user_merge(json_t *user, const json_t *norm, int64_t now)
{
	const json_t *old_email = json_object_get(user, "email");
	const json_t *new_email = json_object_get(norm, "email");
	const char *k;
	json_t *v;
	int profile = 0;

	/* A new address is not verified just because the old one was. */
	if (new_email != NULL && !json_equal(old_email, new_email) &&
	    json_object_get(norm, "email_verified") == NULL &&
	    af_dir__set_new(user, "email_verified", json_false()) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	/* Enabled again: idle from now on, not since its last sign-in. */
	if (json_is_true(json_object_get(norm, "enabled")) &&
	    !json_is_true(json_object_get(user, "enabled")) &&
	    af_dir__set_new(user, AF_DIR_USER_ENABLED_AT, json_integer(now)) !=
		    AF_DIR_OK)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(norm), k, v)
	{
		profile |=
			released(k) && !json_equal(json_object_get(user, k),
						   json_is_null(v) ? NULL : v);
		if (json_is_null(v)) {
			/* Removing an absent member is fine. */
			if (json_object_del(user, k) != 0 &&
			    json_object_get(user, k) != NULL)
				return AF_DIR_NOMEM;
		} else if (af_dir__set_new(user, k, json_deep_copy(v)) !=
			   AF_DIR_OK) {
			return AF_DIR_NOMEM;
		}
	}
	if (profile && af_dir__set_new(user, AF_DIR_USER_PROFILE_AT,
				       json_integer(now)) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(now));
}

/* Adds (add) or drops user in the member sets of the names in arr. */
static af_dir_status member_sets(af_dir *dir, const char *prefix,
				 const json_t *arr, const json_t *except,
				 const char *user, int add)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc = AF_DIR_OK;
	store_status st;
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		const char *name = json_string_value(v);

		if (name == NULL || af_dir__array_has(except, name))
			continue;
		if (af_dir__key(key, sizeof(key), prefix, name) != AF_DIR_OK)
			continue;
		st = add ? store_sadd(dir->store, key, user)
			 : store_srem(dir->store, key, user);
		if (st != STORE_OK && st != STORE_NOT_FOUND)
			rc = af_dir__from_store(st);
	}
	return rc;
}

/* Brings the member sets in step with a user's old and new memberships. */
static af_dir_status sync_members(af_dir *dir, const char *user,
				  const json_t *before, const json_t *after)
{
	static const member_kind *const kinds[] = {&group_kind, &ou_kind};
	af_dir_status rc = AF_DIR_OK, r;

	for (size_t i = 0; i < 2; i++) {
		const json_t *o = json_object_get(before, kinds[i]->field);
		const json_t *n = json_object_get(after, kinds[i]->field);

		r = member_sets(dir, kinds[i]->members, o, n, user, 0);
		if (r != AF_DIR_OK)
			rc = r;
		r = member_sets(dir, kinds[i]->members, n, o, user, 1);
		if (r != AF_DIR_OK)
			rc = r;
	}
	return rc;
}

/*
 * The user's record was written but its member sets were not brought in
 * line with it (sync): the change stands, so its audit event (action on
 * target, detail) is written all the same, and the answer says what
 * brings the sets in line (the writes of memberships add the user to
 * every set its record names, changed or not): running a change again,
 * or for a new user, which cannot be added twice, setting it. rc of the
 * audit event when that fails too, else sync.
 */
static af_dir_status unsynced(af_dir *dir, const char *actor,
			      const char *action, const char *target,
			      const json_t *detail, af_dir_status sync,
			      char *err, size_t errlen)
{
	af_dir_status rc =
		af_dir__audit(dir, actor, action, target, detail, err, errlen);

	if (rc != AF_DIR_OK)
		return rc;
	if (strcmp(action, "user.add") == 0)
		af_dir__err(err, errlen,
			    "added, but the member lists of its groups or OUs "
			    "could not be updated: set its groups and OUs "
			    "again");
	else
		af_dir__err(err, errlen,
			    "changed, but the member lists of its groups or "
			    "OUs could not be updated: run it again");
	return sync;
}

/*
 * After a user's memberships were written (and audited): a group or OU
 * joined that was removed meanwhile is swept again
 * (af_dir__named_recheck()).
 */
static void memberships_recheck(af_dir *dir, const char *actor,
				const json_t *before, const json_t *after)
{
	static const member_kind *const kinds[] = {&group_kind, &ou_kind};

	for (size_t i = 0; i < 2; i++) {
		const json_t *o = json_object_get(before, kinds[i]->field);
		size_t j;
		json_t *v;

		json_array_foreach(json_object_get(after, kinds[i]->field), j,
				   v)
		{
			if (!af_dir__array_has(o, json_string_value(v)))
				af_dir__named_recheck(dir, actor,
						      kinds[i]->target,
						      json_string_value(v));
		}
	}
}

/* Claims a fresh subject identifier "sub:<sub>" for user. */
static af_dir_status new_sub(af_dir *dir, const char *user, char *sub,
			     size_t cap)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc = AF_DIR_EXISTS;

	/* 128 random bits do not collide; the loop only makes it certain. */
	for (int tries = 0; tries < 3 && rc == AF_DIR_EXISTS; tries++) {
		if (af_random_token(16, sub, cap) != 0)
			return AF_DIR_CRYPTO;
		rc = af_dir__key(key, sizeof(key), "sub:", sub);
		if (rc != AF_DIR_OK)
			return rc;
		rc = af_dir__from_store(store_set(
			dir->store, key, user, strlen(user), 0, STORE_SET_NX));
	}
	return rc;
}

/*
 * After the store failed to answer the write of a new user's record at
 * key: whether it was written all the same (a reply lost on the way, a
 * command that ran after its timeout). AF_DIR_OK when the record there
 * holds sub, this add's own subject: the add goes on as written.
 * AF_DIR_EXISTS when it holds another's (an add of the same name won).
 * Else AF_DIR_STORE, with *sub_claimed cleared: the write may still land
 * (a command a stalled Redis runs late), and then the "sub:" mapping
 * names the user, while an orphan one names nobody and is harmless.
 */
static af_dir_status add_outcome(af_dir *dir, const char *key, const char *sub,
				 int *sub_claimed)
{
	json_t *user = NULL;
	const char *has;
	af_dir_status rc;

	rc = user_read(dir, key, &user);
	if (rc != AF_DIR_OK) {
		*sub_claimed = 0;
		return AF_DIR_STORE;
	}
	has = json_string_value(json_object_get(user, "sub"));
	rc = has != NULL && strcmp(has, sub) == 0 ? AF_DIR_OK : AF_DIR_EXISTS;
	json_decref(user);
	return rc;
}

/*
 * Drops what policies and app deployments still name a user who has no
 * record. Such names are left over from a removal cut short by an older
 * version of authflow, which deleted the record first and the references
 * after it, or by a store that lost writes; this version marks the record
 * and deletes it last, so that its own removals can always be finished by
 * running them again. They were granted to someone else, and a new person
 * given the name must get exactly what an administrator gives them, so
 * they are cleared here, each an audit event of the adding actor with
 * "removed": true, rather than the add refused: with no user there is
 * nothing to remove, so no other call could clear them. The cost is one
 * pass over the policies and profiles (at most AF_DIR_POLICIES_MAX and
 * AF_DIR_APPS_MAX, parsed through the memo), which an admin call can bear.
 * Member sets are left: they grant nothing (a user's groups and OUs are
 * read from the record) and clearing them would mean a pass over every
 * group and OU.
 */
static af_dir_status forget_stale(af_dir *dir, const char *actor,
				  const char *name, char *err, size_t errlen)
{
	af_dir_status rc;

	rc = af_dir__policies_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__apps_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc != AF_DIR_OK)
		af_dir__err(err, errlen,
			    "username: what policies and deployments still "
			    "name an earlier user \"%s\" could not be "
			    "cleared (%s); the user was not added",
			    name, af_dir_strerror(rc));
	return rc;
}

/* The message of a change refused because the user is being removed. */
static void removing_err(const char *name, char *err, size_t errlen)
{
	af_dir__err(err, errlen,
		    "username: user \"%s\" is being removed: remove it "
		    "again to finish",
		    name);
}

static af_dir_status user_key(char *key, size_t cap, const char *username,
			      char *name, size_t namecap)
{
	if (user_name(username, name, namecap) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	return af_dir__key(key, cap, "user:", name);
}

/* When a temporary password given now stops signing in (0: never). */
static int64_t temporary_until(const af_dir *dir)
{
	return dir->opts.pw_temporary_s > 0
		       ? af_now() + dir->opts.pw_temporary_s
		       : 0;
}

/* Sets (at > 0) or removes the end of a temporary password. */
static af_dir_status expiry_set(json_t *user, int64_t at)
{
	if (at > 0)
		return af_dir__set_new(user, AF_DIR_USER_PW_EXPIRES,
				       json_integer(at));
	if (json_object_del(user, AF_DIR_USER_PW_EXPIRES) != 0 &&
	    json_object_get(user, AF_DIR_USER_PW_EXPIRES) != NULL)
		return AF_DIR_NOMEM;
	return AF_DIR_OK;
}

af_dir_status af_dir_user_add(af_dir *dir, const char *actor,
			      const json_t *spec, const char *password,
			      json_t **out, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char sub[AF_DIR_SUB_LEN + 1], subkey[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "";
	json_t *norm = NULL, *user = NULL;
	int sub_claimed = 0;
	af_dir_status rc;
	int64_t now = af_now();

	if (out != NULL)
		*out = NULL;
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = user_fields(dir, spec, 1, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	if (password != NULL) {
		rc = check_new_password(
			dir,
			json_string_value(json_object_get(norm, "username")),
			password, err, errlen);
		if (rc != AF_DIR_OK)
			goto out;
	}
	if (af_dir__key(name, sizeof(name), "",
			json_string_value(json_object_get(norm, "username"))) !=
		    AF_DIR_OK ||
	    af_dir__key(key, sizeof(key), "user:", name) != AF_DIR_OK) {
		rc = AF_DIR_INVALID;
		goto out;
	}
	user = json_pack("{s:s, s:b, s:b, s:[], s:[], s:I}", "username", name,
			 "email_verified", 0, "enabled", 1, "groups", "ous",
			 "created_at", (json_int_t)now);
	if (user == NULL) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = user_merge(user, norm, now);
	if (rc != AF_DIR_OK)
		goto out;
	/* As authflowctl says: there is no password to replace. */
	if (password == NULL &&
	    json_is_true(json_object_get(norm, AF_DIR_USER_PW_CHANGE))) {
		af_dir__err(err, errlen,
			    AF_DIR_USER_PW_CHANGE
			    ": a user added without a "
			    "password has none to change");
		rc = AF_DIR_INVALID;
		goto out;
	}
	if (password != NULL) {
		rc = af_pw_hash(&dir->opts.pw, password, phc, sizeof(phc));
		if (rc == AF_DIR_OK)
			rc = af_dir__set_new(user, "password",
					     json_string(phc));
		/* Given to be replaced: temporary, as a reset's. */
		if (rc == AF_DIR_OK &&
		    json_is_true(json_object_get(norm, AF_DIR_USER_PW_CHANGE)))
			rc = expiry_set(user, temporary_until(dir));
		if (rc != AF_DIR_OK)
			goto out;
	}
	rc = user_present(dir, name);
	if (rc == AF_DIR_OK || rc == AF_DIR_REMOVING) {
		af_dir__err(err, errlen,
			    rc == AF_DIR_OK
				    ? "username: a user named \"%s\" exists"
				    : "username: a user named \"%s\" is being "
				      "removed: remove it again to finish",
			    name);
		rc = AF_DIR_EXISTS;
		goto out;
	}
	if (rc != AF_DIR_NOT_FOUND)
		goto out;
	/*
	 * Failures and a lock counted against the name before the user
	 * existed (anyone may try any name), and a sign-in an earlier user
	 * of the name finished while being removed, are not the new user's.
	 */
	rc = af_throttle_unlock(dir, name);
	if (rc == AF_DIR_OK)
		rc = af_dir_signin_forget(dir, name);
	if (rc != AF_DIR_OK)
		goto out;
	rc = forget_stale(dir, actor, name, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	rc = new_sub(dir, name, sub, sizeof(sub));
	if (rc != AF_DIR_OK)
		goto out;
	sub_claimed = 1;
	rc = af_dir__set_new(user, "sub", json_string(sub));
	/* Indexed before and after it is written: af_dir__index_drop(). */
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_sadd(dir->store, "users", name));
	if (rc == AF_DIR_OK)
		rc = af_dir__put_json(dir, key, user, STORE_SET_NX);
	if (rc == AF_DIR_STORE)
		rc = add_outcome(dir, key, sub, &sub_claimed);
	if (rc == AF_DIR_EXISTS)
		af_dir__err(err, errlen, "username: a user named \"%s\" exists",
			    name);
	if (rc != AF_DIR_OK)
		goto out;
	sub_claimed = 0;
	rc = af_dir__from_store(store_sadd(dir->store, "users", name));
	if (rc == AF_DIR_OK)
		rc = sync_members(dir, name, NULL, user);
	json_object_del(norm, "username");
	if (rc != AF_DIR_OK)
		rc = unsynced(dir, actor, "user.add", name, norm, rc, err,
			      errlen);
	else
		rc = af_dir__audit(dir, actor, "user.add", name, norm, err,
				   errlen);
	/*
	 * Added, whatever else failed: the caller gets the user, to clear
	 * what an earlier user of the name left (af_dir_user_add()).
	 */
	if (hand_out_user(user, out) != AF_DIR_OK && rc == AF_DIR_OK)
		rc = AF_DIR_NOMEM;
	memberships_recheck(dir, actor, NULL, user);
out:
	if (sub_claimed &&
	    af_dir__key(subkey, sizeof(subkey), "sub:", sub) == AF_DIR_OK) {
		/* Best effort: an orphan mapping names no user and is
		 * harmless. */
		store_status st = store_del(dir->store, subkey);

		(void)st;
	}
	OPENSSL_cleanse(phc, sizeof(phc));
	json_decref(norm);
	json_decref(user);
	return rc;
}

/* Raises the user's sign-in generation by one (af_dir_user_gen()). */
static af_dir_status gen_raise(json_t *user)
{
	return af_dir__set_new(user, AF_DIR_USER_GEN,
			       json_integer(af_dir_user_gen(user) + 1));
}

static af_dir_status merge_fn(json_t *user, void *arg)
{
	const json_t *norm = arg;
	int disabling = json_is_true(json_object_get(user, "enabled")) &&
			json_is_false(json_object_get(norm, "enabled"));
	af_dir_status rc;

	/* Enabled again or given new groups, it would outlive its removal. */
	if (af_dir_user_removing(user))
		return AF_DIR_REMOVING;
	rc = user_merge(user, norm, af_now());

	/* What the user signed into before being disabled stays ended. */
	if (rc == AF_DIR_OK && disabling)
		rc = gen_raise(user);
	/* No change asked for: a temporary password given is the user's. */
	if (rc == AF_DIR_OK &&
	    json_is_false(json_object_get(norm, AF_DIR_USER_PW_CHANGE)))
		rc = expiry_set(user, 0);
	return rc;
}

static af_dir_status end_signins_fn(json_t *user, void *arg)
{
	(void)arg;
	return gen_raise(user);
}

int64_t af_dir_user_gen(const json_t *user)
{
	json_int_t gen =
		json_integer_value(json_object_get(user, AF_DIR_USER_GEN));

	return gen > 0 ? (int64_t)gen : 0;
}

af_dir_status af_dir_user_end_signins(af_dir *dir, const char *username)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	af_dir_status rc;

	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, end_signins_fn, NULL, NULL, NULL);
	return rc;
}

/*
 * The detail of a change to a user: the fields given (norm, which never
 * holds a password), and under "was" what each replaced (null: nothing;
 * false for a flag not stored),
 * so the trail shows an address changed from what to what. A field the
 * change set without being given it (email_verified, cleared by a new
 * address) is there too, as after has it. NULL when out of memory.
 */
static json_t *change_detail(json_t *norm, const json_t *before,
			     const json_t *after)
{
	json_t *detail = json_deep_copy(norm), *was = json_object(), *v;
	const json_t *old, *now;
	const char *k;

	if (detail == NULL || was == NULL)
		goto fail;
	k = "email_verified";
	old = json_object_get(before, k);
	now = json_object_get(after, k);
	if (json_object_get(norm, k) == NULL && now != NULL &&
	    json_is_true(old) != json_is_true(now) &&
	    (json_object_set_new(detail, k, json_deep_copy(now)) != 0 ||
	     json_object_set_new(was, k, json_boolean(json_is_true(old))) != 0))
		goto fail;
	json_object_foreach(norm, k, v)
	{
		old = json_object_get(before, k);
		/* A flag not stored yet is off (password_change_required of
		 * users made before it existed). */
		if (old == NULL && json_is_boolean(v))
			old = json_false();
		if (json_object_set_new(was, k,
					old != NULL ? json_deep_copy(old)
						    : json_null()) != 0)
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

af_dir_status af_dir_user_set(af_dir *dir, const char *actor,
			      const char *username, const json_t *patch,
			      json_t **out, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *norm = NULL, *after = NULL, *before = NULL, *detail;
	af_dir_status rc;

	if (out != NULL)
		*out = NULL;
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen, "username: no such user");
		return rc;
	}
	rc = user_fields(dir, patch, 0, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__update(dir, key, merge_fn, norm, &after, &before);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no user named \"%s\"",
			    name);
	if (rc == AF_DIR_REMOVING)
		removing_err(name, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	/* From none: a set an earlier call failed to add to is added to. */
	rc = sync_members(dir, name, before, after);
	if (rc == AF_DIR_OK)
		rc = sync_members(dir, name, NULL, after);
	detail = change_detail(norm, before, after);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "user.set", name,
				   detail != NULL ? detail : norm, err, errlen);
	else
		rc = unsynced(dir, actor, "user.set", name,
			      detail != NULL ? detail : norm, rc, err, errlen);
	json_decref(detail);
	if (rc == AF_DIR_OK)
		rc = hand_out_user(after, out);
	memberships_recheck(dir, actor, before, after);
out:
	json_decref(norm);
	json_decref(after);
	json_decref(before);
	return rc;
}

/* Replaces the password hash (phc NULL: removes it). */
typedef struct pw_change {
	const char *phc;
	const char *only_if; /* replace only while this hash is stored */
	int temporary;	     /* the user must choose another at sign-in */
	int64_t expires;     /* and it signs in until then (0: ever) */
} pw_change;

int af_dir_user_password_expired(const json_t *user, int64_t now)
{
	json_int_t at = json_integer_value(
		json_object_get(user, AF_DIR_USER_PW_EXPIRES));

	return json_is_true(json_object_get(user, AF_DIR_USER_PW_CHANGE)) &&
	       at > 0 && now >= at;
}

static af_dir_status password_fn(json_t *user, void *arg)
{
	const pw_change *c = arg;

	if (af_dir_user_removing(user))
		return AF_DIR_REMOVING;
	if (c->only_if != NULL &&
	    !af_ct_streq(json_string_value(json_object_get(user, "password")),
			 c->only_if))
		return AF_DIR_MISMATCH; /* changed meanwhile: leave it */
	if (c->phc == NULL) {
		if (json_object_del(user, "password") != 0 &&
		    json_object_get(user, "password") != NULL)
			return AF_DIR_NOMEM;
	} else if (af_dir__set_new(user, "password", json_string(c->phc)) !=
		   AF_DIR_OK) {
		return AF_DIR_NOMEM;
	}
	if (c->only_if != NULL)
		return AF_DIR_OK;
	if (af_dir__set_new(user, AF_DIR_USER_PW_CHANGE,
			    json_boolean(c->temporary && c->phc != NULL)) !=
		    AF_DIR_OK ||
	    expiry_set(user, c->phc != NULL ? c->expires : 0) != AF_DIR_OK ||
	    (c->phc != NULL &&
	     af_dir__set_new(user, AF_DIR_USER_PW_SET_AT,
			     json_integer(af_now())) != AF_DIR_OK))
		return AF_DIR_NOMEM;
	/* Whatever was signed in with the old password ends with it. */
	if (gen_raise(user) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

static af_dir_status set_password(af_dir *dir, const char *actor,
				  const char *username, const char *password,
				  int temporary, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "";
	pw_change c = {NULL, NULL, temporary,
		       temporary ? temporary_until(dir) : 0};
	json_t *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen, "username: no such user");
		return rc;
	}
	if (password != NULL) {
		rc = check_new_password(dir, name, password, err, errlen);
		if (rc == AF_DIR_OK)
			rc = af_pw_hash(&dir->opts.pw, password, phc,
					sizeof(phc));
		if (rc != AF_DIR_OK)
			goto out;
		c.phc = phc;
	}
	rc = af_dir__update(dir, key, password_fn, &c, NULL, NULL);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no user named \"%s\"",
			    name);
	if (rc == AF_DIR_REMOVING)
		removing_err(name, err, errlen);
	if (rc == AF_DIR_OK && password != NULL) {
		detail = json_pack("{s:b}", "temporary", temporary);
		if (detail == NULL)
			rc = AF_DIR_NOMEM;
	}
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor,
				   password != NULL ? "user.passwd"
						    : "user.passwd_clear",
				   name, detail, err, errlen);
out:
	OPENSSL_cleanse(phc, sizeof(phc));
	json_decref(detail);
	return rc;
}

af_dir_status af_dir_user_set_password(af_dir *dir, const char *actor,
				       const char *username,
				       const char *password, char *err,
				       size_t errlen)
{
	return set_password(dir, actor, username, password, 0, err, errlen);
}

af_dir_status af_dir_user_reset_password(af_dir *dir, const char *actor,
					 const char *username,
					 const char *password, char *err,
					 size_t errlen)
{
	if (password == NULL) {
		af_dir__err(err, errlen, "password: missing");
		return AF_DIR_INVALID;
	}
	return set_password(dir, actor, username, password, 1, err, errlen);
}

/* The user's own change of their password: see the header. */
typedef struct pw_own {
	const char *phc;
	const char *was; /* the hash the new password was compared with */
	const char *sub;
	int64_t gen;
	int temporary;	 /* only while the mark is set */
	int64_t new_gen; /* out */
} pw_own;

static af_dir_status own_password_fn(json_t *user, void *arg)
{
	pw_own *o = arg;

	if (af_dir_user_removing(user) ||
	    !json_is_true(json_object_get(user, "enabled")) ||
	    (o->temporary &&
	     !json_is_true(json_object_get(user, AF_DIR_USER_PW_CHANGE))) ||
	    af_dir_user_gen(user) != o->gen ||
	    !af_ct_streq(json_string_value(json_object_get(user, "sub")),
			 o->sub) ||
	    !af_ct_streq(json_string_value(json_object_get(user, "password")),
			 o->was))
		return AF_DIR_MISMATCH; /* not CONFLICT: that reads again */
	if (af_dir__set_new(user, "password", json_string(o->phc)) !=
		    AF_DIR_OK ||
	    af_dir__set_new(user, AF_DIR_USER_PW_CHANGE, json_false()) !=
		    AF_DIR_OK ||
	    af_dir__set_new(user, AF_DIR_USER_PW_SET_AT,
			    json_integer(af_now())) != AF_DIR_OK ||
	    expiry_set(user, 0) != AF_DIR_OK || gen_raise(user) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	o->new_gen = af_dir_user_gen(user);
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

af_dir_status af_dir_user_change_password(af_dir *dir, const char *username,
					  const char *sub, int64_t gen,
					  int temporary, const char *password,
					  int64_t *new_gen, char *err,
					  size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "", was[AF_PW_PHC_MAX] = "";
	pw_own o = {phc, was, sub, gen, temporary != 0, 0};
	json_t *user = NULL;
	const char *stored;
	af_dir_status rc;

	if (dir == NULL || sub == NULL || new_gen == NULL)
		return AF_DIR_INVALID;
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &user, NULL);
	if (rc == AF_DIR_NOT_FOUND)
		rc = AF_DIR_CONFLICT;
	if (rc != AF_DIR_OK)
		goto out;
	stored = json_string_value(json_object_get(user, "password"));
	if (stored == NULL ||
	    snprintf(was, sizeof(was), "%s", stored) >= (int)sizeof(was)) {
		rc = AF_DIR_CONFLICT;
		goto out;
	}
	rc = check_new_password(dir, name, password, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	/* The one it replaces: the same again is no change. */
	rc = af_pw_verify(was, password, NULL);
	if (rc == AF_DIR_OK) {
		af_dir__err(err, errlen,
			    temporary ? "password: must differ from the one "
					"you signed in with"
				      : "password: must differ from the "
					"current one");
		rc = AF_DIR_INVALID;
		goto out;
	}
	if (rc != AF_DIR_MISMATCH && rc != AF_DIR_INVALID)
		goto out;
	rc = af_pw_hash(&dir->opts.pw, password, phc, sizeof(phc));
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, own_password_fn, &o, NULL, NULL);
	if (rc == AF_DIR_NOT_FOUND || rc == AF_DIR_MISMATCH)
		rc = AF_DIR_CONFLICT;
	if (rc == AF_DIR_OK)
		*new_gen = o.new_gen;
out:
	OPENSSL_cleanse(phc, sizeof(phc));
	OPENSSL_cleanse(was, sizeof(was));
	json_decref(user);
	return rc;
}

af_dir_status af_dir_user_canonical(const char *username, char *out, size_t cap)
{
	return username == NULL || out == NULL ? AF_DIR_INVALID
					       : user_name(username, out, cap);
}

/*
 * Marks a user for removal: disabled, "removing", its sign-in generation
 * raised so that what it is signed into ends. Nothing a marked user has
 * can grow any more (see merge_fn(), membership_fn()), so the marked
 * record is the last version whose references the removal must drop.
 */
static af_dir_status mark_fn(json_t *user, void *arg)
{
	(void)arg;
	if (af_dir_user_removing(user))
		return AF_DIR_EXISTS; /* marked already: nothing to write */
	if (af_dir__set_new(user, "enabled", json_false()) != AF_DIR_OK ||
	    af_dir__set_new(user, USER_REMOVING, json_true()) != AF_DIR_OK ||
	    gen_raise(user) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

/*
 * Marks the user at key (see mark_fn()) unless it is marked already.
 * AF_DIR_OK and *user, the marked record; AF_DIR_OK and *user NULL for a
 * damaged record, which cannot be marked (nor signed in with);
 * AF_DIR_NOT_FOUND; or a failure, with nothing marked.
 */
static af_dir_status mark_removing(af_dir *dir, const char *key, json_t **user)
{
	af_dir_status rc, r;

	*user = NULL;
	rc = af_dir__update(dir, key, mark_fn, NULL, user, NULL);
	if (rc != AF_DIR_EXISTS && rc != AF_DIR_STORE)
		return rc;
	/* Marked already, damaged, or the store failed: look again. */
	r = user_read(dir, key, user);
	if (r != AF_DIR_OK)
		return r;
	if (*user == NULL || af_dir_user_removing(*user))
		return AF_DIR_OK;
	json_decref(*user);
	*user = NULL;
	return rc;
}

af_dir_status af_dir_user_remove_begin(af_dir *dir, const char *username,
				       char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *user = NULL;
	af_dir_status rc;

	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = mark_removing(dir, key, &user);
	json_decref(user);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no such user");
	else if (rc != AF_DIR_OK)
		af_dir__err(err, errlen,
			    "user \"%s\" could not be marked for removal "
			    "(%s): nothing was removed",
			    name, af_dir_strerror(rc));
	return rc;
}

/*
 * Drops what refers to a user being removed, from the marked record (an
 * empty object for a damaged one): member sets, the "sub" mapping,
 * policies, deployments, brute-force counters. Every step is tried and
 * each can be run again; the first failure is returned.
 */
static af_dir_status drop_references(af_dir *dir, const char *actor,
				     const char *name, const json_t *user)
{
	char subkey[STORE_KEY_MAX];
	af_dir_status rc, r;
	const char *sub;

	rc = sync_members(dir, name, user, NULL);
	sub = json_string_value(json_object_get(user, "sub"));
	if (sub != NULL &&
	    af_dir__key(subkey, sizeof(subkey), "sub:", sub) == AF_DIR_OK) {
		r = af_dir__from_store(store_del(dir->store, subkey));
		if (rc == AF_DIR_OK)
			rc = r;
	}
	r = af_dir__policies_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc == AF_DIR_OK)
		rc = r;
	r = af_dir__apps_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc == AF_DIR_OK)
		rc = r;
	/* A later user of the same name starts with a clean slate. */
	r = af_throttle_unlock(dir, name);
	if (rc == AF_DIR_OK)
		rc = r;
	r = af_dir_signin_forget(dir, name);
	if (rc == AF_DIR_OK)
		rc = r;
	return rc;
}

/* The set of the ids of the devices deleted with a user being removed. */
static af_dir_status removed_devices_key(char *key, size_t cap,
					 const char *name)
{
	return af_dir__key(key, cap, "user_removed_devices:", name);
}

af_dir_status af_dir_user_remove_note_devices(af_dir *dir, const char *username,
					      const json_t *ids)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *user = NULL, *v;
	af_dir_status rc;
	size_t i;

	if (dir == NULL || !json_is_array(ids))
		return AF_DIR_INVALID;
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = user_read(dir, key, &user);
	/*
	 * Only for a user whose removal has begun (or whose record is
	 * damaged): the set goes with the removal that reads it, so a note
	 * made for anyone else would be left over for a later removal.
	 */
	if (rc == AF_DIR_OK && user != NULL && !af_dir_user_removing(user))
		rc = AF_DIR_INVALID;
	json_decref(user);
	if (rc == AF_DIR_OK)
		rc = removed_devices_key(key, sizeof(key), name);
	json_array_foreach(ids, i, v)
	{
		if (rc != AF_DIR_OK)
			break;
		rc = json_is_string(v)
			     ? af_dir__from_store(store_sadd(
				       dir->store, key, json_string_value(v)))
			     : AF_DIR_INVALID;
	}
	return rc;
}

/*
 * The detail of the user.remove event: who the user was (name, subject
 * identifier, groups, OUs, as the marked record has them; only the name
 * for a damaged record) and the ids of the devices deleted with them.
 * Members are chosen one by one, so that the password hash, or anything
 * added to user records later, never reaches the trail by default.
 */
static af_dir_status user_removed_detail(af_dir *dir, const char *name,
					 const json_t *user, json_t **out)
{
	static const char *const members[] = {"sub", "groups", "ous", NULL};
	char key[STORE_KEY_MAX];
	json_t *devices = NULL, *detail = NULL;
	af_dir_status rc;

	*out = NULL;
	rc = removed_devices_key(key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, key, &devices);
	if (rc == AF_DIR_OK)
		rc = af_dir__removed_detail(user, members, &detail);
	if (rc == AF_DIR_OK)
		rc = af_dir__set_new(detail, "username", json_string(name));
	if (rc == AF_DIR_OK) {
		rc = af_dir__set_new(detail, "devices", devices);
		devices = NULL; /* stolen either way */
	}
	if (rc == AF_DIR_OK) {
		*out = detail;
		detail = NULL;
	}
	json_decref(detail);
	json_decref(devices);
	return rc;
}

af_dir_status af_dir_user_remove(af_dir *dir, const char *actor,
				 const char *username, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char devkey[STORE_KEY_MAX];
	json_t *user = NULL, *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no such user");
	if (rc != AF_DIR_OK)
		return rc;
	/*
	 * The record is marked first and goes last: until it is gone, the
	 * marked user cannot sign in and every reference to it can be found
	 * from it, so a removal cut short anywhere (a crash, a store that
	 * refuses a write) is finished by running it again, and a later user
	 * of the name never meets what was left of this one.
	 */
	rc = mark_removing(dir, key, &user);
	if (rc != AF_DIR_OK) {
		if (rc == AF_DIR_NOT_FOUND)
			af_dir__err(err, errlen, "username: no such user");
		else
			af_dir__err(err, errlen,
				    "user \"%s\" could not be marked for "
				    "removal (%s): nothing was removed",
				    name, af_dir_strerror(rc));
		return rc;
	}
	if (user == NULL) {
		/* Damaged: its groups and sub are unknown, its name is not. */
		user = json_object();
		if (user == NULL)
			return AF_DIR_NOMEM;
	}
	rc = drop_references(dir, actor, name, user);
	if (rc == AF_DIR_OK)
		rc = user_removed_detail(dir, name, user, &detail);
	/*
	 * The event goes before the record: a crash after it leaves a marked
	 * user whose removal runs again (and is recorded twice), never a
	 * removal that nobody can see on the trail. The note of the devices
	 * deleted goes once the event has them.
	 */
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "user.remove", name, detail,
				   NULL, 0);
	if (rc == AF_DIR_OK)
		rc = removed_devices_key(devkey, sizeof(devkey), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_del(dir->store, devkey));
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_del(dir->store, key));
	if (rc == AF_DIR_OK)
		af_dir__index_drop(dir, "users", name, key);
	if (rc != AF_DIR_OK)
		af_dir__err(err, errlen,
			    "the removal of user \"%s\" is incomplete (%s): "
			    "the user can no longer sign in; remove it again "
			    "to finish",
			    name, af_dir_strerror(rc));
	json_decref(detail);
	json_decref(user);
	return rc;
}

af_dir_status af_dir_user_get(af_dir *dir, const char *username, json_t **out)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *user = NULL;
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &user, NULL);
	if (rc == AF_DIR_OK)
		rc = hand_over_user(&user, out);
	json_decref(user);
	return rc;
}

af_dir_status af_dir_user_get_by_sub(af_dir *dir, const char *sub, json_t **out)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	af_dir_status rc;
	const json_t *got;
	size_t n;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	n = sub != NULL ? strnlen(sub, AF_DIR_SUB_LEN + 1) : 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(sub[i]) && sub[i] != '-' && sub[i] != '_')
			return AF_DIR_NOT_FOUND;
	}
	if (n != AF_DIR_SUB_LEN ||
	    af_dir__key(key, sizeof(key), "sub:", sub) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	rc = af_dir__from_store(store_get(dir->store, key, &v));
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir_user_get(dir, (const char *)v.data, out);
	store_value_free(&v);
	if (rc != AF_DIR_OK)
		return rc;
	/* A stale mapping must not hand out another user of the name. */
	got = json_object_get(*out, "sub");
	if (!json_is_string(got) || strcmp(json_string_value(got), sub) != 0) {
		json_decref(*out);
		*out = NULL;
		return AF_DIR_NOT_FOUND;
	}
	return AF_DIR_OK;
}

af_dir_status af_dir_user_list(af_dir *dir, json_t **out)
{
	af_dir_status rc;
	json_t *arr = NULL, *v;
	size_t i;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__list(dir, "users", "user:", &arr);
	if (rc != AF_DIR_OK)
		return rc;
	json_array_foreach(arr, i, v)
	{
		json_t *pub = user_public(v);

		if (pub == NULL || json_array_set_new(arr, i, pub) != 0) {
			json_decref(arr);
			return AF_DIR_NOMEM;
		}
	}
	*out = arr;
	return AF_DIR_OK;
}

/* Spends the cost of one password check, for users that do not exist. */
static void dummy_check(const af_dir *dir, const char *password)
{
	/* The result is always a mismatch; only the time spent matters. */
	af_dir_status rc = af_pw_verify(dir->dummy_phc, password, NULL);

	(void)rc;
}

af_dir_status af_dir_user_login(af_dir *dir, const char *username,
				const char *password, json_t **out)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "", norm[AF_PW_NORM_MAX + 1];
	json_t *user = NULL;
	const char *stored;
	af_dir_status rc;
	int stale = 0;

	if (out != NULL)
		*out = NULL;
	if (dir == NULL || check_password(password, NULL, 0) != AF_DIR_OK)
		return AF_DIR_INVALID;
	/*
	 * A password whose normal form is too long is checked against no
	 * hash (af_pw_verify() refuses it first): refused as such for every
	 * name alike, so that the caller counts no hash's time for it.
	 */
	rc = af_pw_normalize(password, norm, sizeof(norm));
	OPENSSL_cleanse(norm, sizeof(norm));
	if (rc != AF_DIR_OK)
		return rc;
	rc = user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &user, NULL);
	if (rc != AF_DIR_OK && rc != AF_DIR_NOT_FOUND)
		goto out;
	stored = json_string_value(json_object_get(user, "password"));
	if (stored == NULL) {
		/* Unknown user, or no password: the same work and answer as
		 * a wrong password. */
		dummy_check(dir, password);
		rc = AF_DIR_MISMATCH;
		goto out;
	}
	rc = af_pw_verify(stored, password, &stale);
	if (rc == AF_DIR_INVALID)
		rc = AF_DIR_MISMATCH; /* a damaged hash matches nothing */
	if (rc != AF_DIR_OK)
		goto out;
	if (!json_is_true(json_object_get(user, "enabled"))) {
		rc = AF_DIR_FORBIDDEN;
		goto out;
	}
	if ((stale || af_pw_needs_rehash(stored, &dir->opts.pw)) &&
	    af_pw_hash(&dir->opts.pw, password, phc, sizeof(phc)) ==
		    AF_DIR_OK) {
		/* Only over the hash just checked: a password an admin set
		 * meanwhile wins. A failure is retried at the next sign-in. */
		pw_change c = {phc, stored, 0, 0};
		af_dir_status r =
			af_dir__update(dir, key, password_fn, &c, NULL, NULL);

		(void)r;
	}
	/* stored points into user: it is not used after this. */
	rc = hand_over_user(&user, out);
out:
	OPENSSL_cleanse(phc, sizeof(phc));
	json_decref(user);
	return rc;
}

/*
 * Groups and OUs.
 */

static af_dir_status kind_key(const member_kind *mk, char *key, size_t cap,
			      const char *name)
{
	if (af_dir_check_name("name", name, NULL, 0) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	return af_dir__key(key, cap, mk->prefix, name);
}

static af_dir_status check_description(const char *d, char *err, size_t errlen)
{
	if (d == NULL || d[0] == '\0')
		return AF_DIR_OK;
	/* Its own message: af_dir_check_display() says 1.., but "" is a
	 * description too (none). */
	if (af_dir_check_display("description", d, AF_DIR_DESCRIPTION_MAX, NULL,
				 0) != AF_DIR_OK) {
		af_dir__err(err, errlen,
			    "description: must be 0..%d printable UTF-8 "
			    "characters, not only spaces",
			    AF_DIR_DESCRIPTION_MAX);
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

static af_dir_status refs_sweep(af_dir *dir, const member_kind *mk,
				const char *actor, const char *name);

static af_dir_status kind_add(af_dir *dir, const member_kind *mk,
			      const char *actor, const char *name,
			      const char *description, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *obj = NULL;
	af_dir_status rc;
	size_t count = 0;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = af_dir_check_name("name", name, err, errlen);
	if (rc == AF_DIR_OK)
		rc = af_dir__check_not_dots("name", name, err, errlen);
	if (rc == AF_DIR_OK && mk == &group_kind)
		rc = check_description(description, err, errlen);
	if (rc == AF_DIR_OK)
		rc = af_dir__key(key, sizeof(key), mk->prefix, name);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__count(dir, mk->index, AF_DIR_GROUPS_MAX, &count);
	if (rc != AF_DIR_OK)
		return rc;
	if (count >= AF_DIR_GROUPS_MAX) {
		af_dir__err(err, errlen, "%s: at most %d", mk->index,
			    AF_DIR_GROUPS_MAX);
		return AF_DIR_LIMIT;
	}
	rc = af_dir__case_twin(dir, mk->index, mk->a_noun, name, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	obj = json_pack("{s:s}", "name", name);
	if (obj == NULL)
		return AF_DIR_NOMEM;
	if (mk == &group_kind) {
		rc = af_dir__set_new(
			obj, "description",
			json_string(description != NULL ? description : ""));
		if (rc != AF_DIR_OK)
			goto out;
	}
	/*
	 * What still names an earlier one of the name (a removal cut short,
	 * or raced by an assignment) was granted to other people: a new
	 * group or OU starts with exactly what an administrator gives it.
	 */
	rc = exists(dir, mk->prefix, name);
	if (rc == AF_DIR_NOT_FOUND)
		rc = refs_sweep(dir, mk, actor, name);
	else if (rc == AF_DIR_OK)
		rc = AF_DIR_EXISTS;
	/* Indexed before and after it is written: af_dir__index_drop(). */
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			store_sadd(dir->store, mk->index, name));
	if (rc == AF_DIR_OK)
		rc = af_dir__put_json(dir, key, obj, STORE_SET_NX);
	if (rc == AF_DIR_EXISTS)
		af_dir__err(err, errlen, "name: %s named \"%s\" exists",
			    mk->a_noun, name);
	if (rc != AF_DIR_OK)
		goto out;
	rc = af_dir__from_store(store_sadd(dir->store, mk->index, name));
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, mk->act_add, name, obj, err,
				   errlen);
out:
	json_decref(obj);
	return rc;
}

af_dir_status af_dir_group_add(af_dir *dir, const char *actor, const char *name,
			       const char *description, char *err,
			       size_t errlen)
{
	return kind_add(dir, &group_kind, actor, name, description, err,
			errlen);
}

af_dir_status af_dir_ou_add(af_dir *dir, const char *actor, const char *name,
			    char *err, size_t errlen)
{
	return kind_add(dir, &ou_kind, actor, name, NULL, err, errlen);
}

static af_dir_status description_fn(json_t *obj, void *arg)
{
	const char *d = *(const char **)arg;

	return af_dir__set_new(obj, "description",
			       json_string(d != NULL ? d : ""));
}

af_dir_status af_dir_group_set(af_dir *dir, const char *actor, const char *name,
			       const char *description, char *err,
			       size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *after = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = check_description(description, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = kind_key(&group_kind, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, description_fn, &description,
				    &after, NULL);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "name: no such group");
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, group_kind.act_set, name, after,
				   err, errlen);
	json_decref(after);
	return rc;
}

/* Adds or drops one name in a user's groups or OUs. */
typedef struct membership {
	const char *field;
	const char *name;
	int add;
} membership;

static af_dir_status membership_fn(json_t *user, void *arg)
{
	const membership *m = arg;
	json_t *arr = json_object_get(user, m->field);

	/*
	 * A user being removed joins nothing: its removal cleans the member
	 * sets of the marked record, so the record's groups and OUs may
	 * only shrink from then on (a group removed, say).
	 */
	if (m->add && af_dir_user_removing(user))
		return AF_DIR_REMOVING;
	if (!json_is_array(arr)) {
		arr = json_array();
		if (af_dir__set_new(user, m->field, arr) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	}
	if (m->add) {
		if (af_dir__array_has(arr, m->name))
			return AF_DIR_OK;
		if (json_array_size(arr) >= AF_DIR_MEMBERSHIPS_MAX)
			return AF_DIR_LIMIT;
		if (json_array_append_new(arr, json_string(m->name)) != 0)
			return AF_DIR_NOMEM;
		if (af_dir__sort(arr, NULL) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	} else if (!af_dir__array_has(arr, m->name)) {
		return AF_DIR_OK;
	} else {
		af_dir__array_drop(arr, m->name);
	}
	if (af_dir__set_new(user, AF_DIR_USER_PROFILE_AT,
			    json_integer(af_now())) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

/* Whether two lists of names (NULL or not an array: empty) are equal. */
static int same_list(const json_t *a, const json_t *b)
{
	size_t na = json_is_array(a) ? json_array_size(a) : 0;
	size_t nb = json_is_array(b) ? json_array_size(b) : 0;

	return na == nb && (na == 0 || json_equal(a, b));
}

static af_dir_status kind_member(af_dir *dir, const member_kind *mk,
				 const char *actor, const char *name,
				 const char *username, int add, int *changed,
				 char *err, size_t errlen)
{
	char uname[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	membership m = {mk->field, name, add};
	json_t *after = NULL, *before = NULL, *detail = NULL;
	af_dir_status rc, r;

	if (changed != NULL)
		*changed = 0;
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = exists(dir, mk->prefix, name);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "name: no such %s", mk->noun);
	if (rc != AF_DIR_OK)
		return rc;
	rc = user_key(key, sizeof(key), username, uname, sizeof(uname));
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, membership_fn, &m, &after,
				    &before);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no such user");
	if (rc == AF_DIR_REMOVING)
		removing_err(uname, err, errlen);
	if (rc == AF_DIR_LIMIT)
		af_dir__err(err, errlen, "%s: at most %d", mk->field,
			    AF_DIR_MEMBERSHIPS_MAX);
	if (rc != AF_DIR_OK)
		return rc;
	/*
	 * Already so (a member added again, a non-member removed): the
	 * answer is the same, but nothing changed, so nothing is recorded;
	 * the set is brought in line all the same, should an earlier call
	 * have changed the record but not the set.
	 */
	if (same_list(json_object_get(before, mk->field),
		      json_object_get(after, mk->field))) {
		json_t *one = json_pack("{s:[s]}", mk->field, name);

		rc = one != NULL ? sync_members(dir, uname, add ? NULL : one,
						add ? one : NULL)
				 : AF_DIR_NOMEM;
		json_decref(one);
		goto out;
	}
	rc = sync_members(dir, uname, before, after);
	if (rc != AF_DIR_OK) {
		detail = json_pack("{s:s}", "user", uname);
		rc = detail != NULL
			     ? unsynced(dir, actor,
					add ? mk->act_join : mk->act_leave,
					name, detail, rc, err, errlen)
			     : AF_DIR_NOMEM;
		goto out;
	}
	/*
	 * A user removed meanwhile may have had the member sets cleaned
	 * before this one was added to: undone, so that no ghost stays. A
	 * removal marks the record before it cleans the sets, and this adds
	 * to them before it looks, so a mark not seen here was made after
	 * the add and its cleaning comes after it too.
	 */
	r = add ? user_present(dir, uname) : AF_DIR_OK;
	if (r == AF_DIR_NOT_FOUND || r == AF_DIR_REMOVING) {
		if (sync_members(dir, uname, after, before) != AF_DIR_OK)
			af_dir__err(err, errlen, "username: no such user (%s)",
				    "its membership could not be undone");
		else
			af_dir__err(err, errlen, "username: no such user");
		rc = AF_DIR_NOT_FOUND;
		goto out;
	}
	/*
	 * Likewise the group or OU: its removal deletes it before reading
	 * its members, and this checks it after adding to them, so one of
	 * the two sees the other. A member left behind would join a later
	 * one of the same name, and whatever is deployed to it.
	 */
	if (add && exists(dir, mk->prefix, name) == AF_DIR_NOT_FOUND) {
		membership undo = {mk->field, name, 0};
		af_dir_status u = af_dir__update(dir, key, membership_fn, &undo,
						 NULL, NULL);

		if ((u != AF_DIR_OK && u != AF_DIR_NOT_FOUND) ||
		    sync_members(dir, uname, after, before) != AF_DIR_OK)
			af_dir__err(err, errlen, "name: no such %s (%s)",
				    mk->noun,
				    "the membership could not be undone");
		else
			af_dir__err(err, errlen, "name: no such %s", mk->noun);
		rc = AF_DIR_NOT_FOUND;
		goto out;
	}
	if (changed != NULL)
		*changed = 1;
	detail = json_pack("{s:s}", "user", uname);
	rc = detail != NULL ? af_dir__audit(dir, actor,
					    add ? mk->act_join : mk->act_leave,
					    name, detail, err, errlen)
			    : AF_DIR_NOMEM;
out:
	json_decref(detail);
	json_decref(after);
	json_decref(before);
	return rc;
}

af_dir_status af_dir_group_add_member(af_dir *dir, const char *actor,
				      const char *name, const char *username,
				      int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &group_kind, actor, name, username, 1, changed,
			   err, errlen);
}

af_dir_status af_dir_group_remove_member(af_dir *dir, const char *actor,
					 const char *name, const char *username,
					 int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &group_kind, actor, name, username, 0, changed,
			   err, errlen);
}

af_dir_status af_dir_ou_add_member(af_dir *dir, const char *actor,
				   const char *name, const char *username,
				   int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &ou_kind, actor, name, username, 1, changed,
			   err, errlen);
}

af_dir_status af_dir_ou_remove_member(af_dir *dir, const char *actor,
				      const char *name, const char *username,
				      int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &ou_kind, actor, name, username, 0, changed,
			   err, errlen);
}

/* Takes every member of the group or OU name out of it. */
static af_dir_status members_forget(af_dir *dir, const member_kind *mk,
				    const char *name)
{
	char key[STORE_KEY_MAX], setkey[STORE_KEY_MAX];
	membership m = {mk->field, name, 0};
	json_t *members = NULL, *v;
	af_dir_status rc, r;
	size_t i;

	rc = af_dir__key(setkey, sizeof(setkey), mk->members, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, setkey, &members);
	if (rc != AF_DIR_OK)
		return rc;
	json_array_foreach(members, i, v)
	{
		const char *user = json_string_value(v);

		r = af_dir__key(key, sizeof(key), "user:", user);
		if (r == AF_DIR_OK)
			r = af_dir__update(dir, key, membership_fn, &m, NULL,
					   NULL);
		/* The set keeps a member whose record still names the
		 * object, for the removal run again to find. */
		if (r == AF_DIR_OK || r == AF_DIR_NOT_FOUND)
			r = af_dir__from_store(
				store_srem(dir->store, setkey, user));
		if (r != AF_DIR_OK && rc == AF_DIR_OK)
			rc = r;
	}
	json_decref(members);
	return rc;
}

/* Drops every reference to the group or OU name: members, policies, apps. */
static af_dir_status refs_sweep(af_dir *dir, const member_kind *mk,
				const char *actor, const char *name)
{
	af_dir_status rc;

	rc = members_forget(dir, mk, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__policies_forget(dir, actor, mk->target, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__apps_forget(dir, actor, mk->target, name);
	return rc;
}

void af_dir__named_recheck(af_dir *dir, const char *actor, af_dir_target kind,
			   const char *name)
{
	const member_kind *mk = kind == AF_DIR_TARGET_GROUP ? &group_kind
				: kind == AF_DIR_TARGET_OU  ? &ou_kind
							    : NULL;

	if (mk != NULL && exists(dir, mk->prefix, name) == AF_DIR_NOT_FOUND) {
		af_dir_status rc = refs_sweep(dir, mk, actor, name);

		(void)rc; /* what is left, a new one of the name clears */
	}
}

/*
 * The detail of the removal event of a group or OU, read before anything
 * goes: its members and, for a group, its description. A record that
 * does not parse is removed all the same, described by its members.
 */
static af_dir_status kind_removed_detail(af_dir *dir, const member_kind *mk,
					 const char *key, const char *name,
					 json_t **out)
{
	static const char *const group_members[] = {"description", NULL};
	static const char *const ou_members[] = {NULL};
	char setkey[STORE_KEY_MAX];
	json_t *obj = NULL, *members = NULL, *detail = NULL;
	af_dir_status rc;

	*out = NULL;
	rc = af_dir__key(setkey, sizeof(setkey), mk->members, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, setkey, &members);
	if (rc == AF_DIR_OK &&
	    af_dir__get_json(dir, key, &obj, NULL) == AF_DIR_NOMEM)
		rc = AF_DIR_NOMEM;
	if (rc == AF_DIR_OK)
		rc = af_dir__removed_detail(
			obj, mk == &group_kind ? group_members : ou_members,
			&detail);
	if (rc == AF_DIR_OK) {
		rc = af_dir__set_new(detail, "members", members);
		members = NULL; /* stolen either way */
	}
	if (rc == AF_DIR_OK) {
		*out = detail;
		detail = NULL;
	}
	json_decref(detail);
	json_decref(members);
	json_decref(obj);
	return rc;
}

/*
 * The references go first and the object last: a removal cut short (a
 * crash, a full disk) leaves the group or OU in place with fewer members,
 * and running it again finishes it. Were the object to go first, its
 * members' records would go on naming it, and a later group of that name
 * would take them in, with whatever its policies and deployments grant.
 * The audit event comes before the object goes, so that a removal done is
 * never missing from the trail. A member, policy assignment or deployment
 * added meanwhile is taken out by a second pass once the object is gone;
 * one added after that pass finds the object gone itself
 * (af_dir__named_recheck()), and a later group or OU of the name starts
 * by clearing whatever an interruption left (kind_add()).
 */
static af_dir_status kind_remove(af_dir *dir, const member_kind *mk,
				 const char *actor, const char *name)
{
	char key[STORE_KEY_MAX];
	json_t *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK)
		return AF_DIR_INVALID;
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = exists(dir, mk->prefix, name);
	if (rc == AF_DIR_OK)
		rc = kind_removed_detail(dir, mk, key, name, &detail);
	if (rc == AF_DIR_OK)
		rc = refs_sweep(dir, mk, actor, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, mk->act_remove, name, detail,
				   NULL, 0);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_del(dir->store, key));
	if (rc == AF_DIR_OK)
		rc = refs_sweep(dir, mk, actor, name);
	if (rc == AF_DIR_OK)
		af_dir__index_drop(dir, mk->index, name, key);
	json_decref(detail);
	return rc;
}

af_dir_status af_dir_group_remove(af_dir *dir, const char *actor,
				  const char *name)
{
	return kind_remove(dir, &group_kind, actor, name);
}

af_dir_status af_dir_ou_remove(af_dir *dir, const char *actor, const char *name)
{
	return kind_remove(dir, &ou_kind, actor, name);
}

static af_dir_status kind_get(af_dir *dir, const member_kind *mk,
			      const char *name, json_t **out)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, out, NULL);
	return rc;
}

af_dir_status af_dir_group_get(af_dir *dir, const char *name, json_t **out)
{
	return kind_get(dir, &group_kind, name, out);
}

af_dir_status af_dir_ou_get(af_dir *dir, const char *name, json_t **out)
{
	return kind_get(dir, &ou_kind, name, out);
}

af_dir_status af_dir_group_list(af_dir *dir, json_t **out)
{
	if (out == NULL || dir == NULL)
		return AF_DIR_INVALID;
	return af_dir__list(dir, group_kind.index, group_kind.prefix, out);
}

af_dir_status af_dir_ou_list(af_dir *dir, json_t **out)
{
	if (out == NULL || dir == NULL)
		return AF_DIR_INVALID;
	return af_dir__list(dir, ou_kind.index, ou_kind.prefix, out);
}

static af_dir_status kind_members(af_dir *dir, const member_kind *mk,
				  const char *name, json_t **out)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = exists(dir, mk->prefix, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__key(key, sizeof(key), mk->members, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, key, out);
	return rc;
}

af_dir_status af_dir_group_members(af_dir *dir, const char *name, json_t **out)
{
	return kind_members(dir, &group_kind, name, out);
}

af_dir_status af_dir_ou_members(af_dir *dir, const char *name, json_t **out)
{
	return kind_members(dir, &ou_kind, name, out);
}

/*
 * Adds user to the member set at setkey unless sets (set key to an object
 * of its members, read on first use) says it is there: 1 added, 0 it
 * was, or a negative af_dir_status.
 */
static int mend_one(af_dir *dir, json_t *sets, const char *setkey,
		    const char *user)
{
	json_t *have = json_object_get(sets, setkey), *arr = NULL, *v;
	af_dir_status rc;
	size_t i;

	if (have == NULL) {
		rc = af_dir__members(dir, setkey, &arr);
		if (rc != AF_DIR_OK)
			return (int)rc;
		have = json_object();
		if (have == NULL || json_object_set_new(sets, setkey, have)) {
			json_decref(arr);
			return (int)AF_DIR_NOMEM;
		}
		json_array_foreach(arr, i, v)
		{
			if (json_object_set_new(have, json_string_value(v),
						json_true()) != 0) {
				json_decref(arr);
				return (int)AF_DIR_NOMEM;
			}
		}
		json_decref(arr);
	}
	if (json_object_get(have, user) != NULL)
		return 0;
	rc = af_dir__from_store(store_sadd(dir->store, setkey, user));
	if (rc == AF_DIR_OK && json_object_set_new(have, user, json_true()))
		rc = AF_DIR_NOMEM;
	return rc == AF_DIR_OK ? 1 : (int)rc;
}

/* Mends the sets of one user's record; adds to *mended. */
static af_dir_status mend_user(af_dir *dir, json_t *sets, const char *user,
			       size_t *mended, int *removing)
{
	static const member_kind *const kinds[] = {&group_kind, &ou_kind};
	char key[STORE_KEY_MAX];
	json_t *rec = NULL, *v;
	af_dir_status rc;
	size_t i, k;
	int r;

	rc = af_dir__key(key, sizeof(key), "user:", user);
	if (rc == AF_DIR_OK)
		rc = user_read(dir, key, &rec);
	/* Gone meanwhile, or damaged: nothing to read from it. */
	if (rc == AF_DIR_NOT_FOUND || (rc == AF_DIR_OK && rec == NULL))
		return AF_DIR_OK;
	if (rc != AF_DIR_OK)
		return rc;
	*removing = af_dir_user_removing(rec);
	for (k = 0; k < 2 && !*removing; k++) {
		json_array_foreach(json_object_get(rec, kinds[k]->field), i, v)
		{
			const char *name = json_string_value(v);

			if (name == NULL ||
			    af_dir__key(key, sizeof(key), kinds[k]->members,
					name) != AF_DIR_OK)
				continue;
			r = mend_one(dir, sets, key, user);
			if (r < 0) {
				json_decref(rec);
				return (af_dir_status)r;
			}
			*mended += (size_t)r;
		}
	}
	json_decref(rec);
	return AF_DIR_OK;
}

af_dir_status af_dir_memberships_mend(af_dir *dir, int (*stop)(void *arg),
				      void (*removing)(void *arg,
						       const char *user),
				      void *arg, size_t *users, size_t *mended)
{
	json_t *names = NULL, *sets = NULL, *v;
	af_dir_status rc;
	size_t i;
	int marked;

	if (users == NULL || mended == NULL)
		return AF_DIR_INVALID;
	*users = 0;
	*mended = 0;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__members(dir, "users", &names);
	if (rc != AF_DIR_OK)
		return rc;
	sets = json_object();
	if (sets == NULL)
		rc = AF_DIR_NOMEM;
	json_array_foreach(names, i, v)
	{
		if (rc != AF_DIR_OK || (stop != NULL && stop(arg)))
			break;
		marked = 0;
		rc = mend_user(dir, sets, json_string_value(v), mended,
			       &marked);
		if (rc == AF_DIR_OK)
			(*users)++;
		if (rc == AF_DIR_OK && marked && removing != NULL)
			removing(arg, json_string_value(v));
	}
	json_decref(sets);
	json_decref(names);
	return rc;
}
