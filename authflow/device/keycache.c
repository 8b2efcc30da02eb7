/*
 * A bounded cache of device public keys that passed the public-key check,
 * so that a device's every signed request does not decode and check its
 * key again. Direct-mapped: each key has one slot, chosen from its
 * coordinates, and a new key takes the slot over. Keys are public, so a
 * slot is compared with memcmp; a key chosen to collide only costs its
 * sender a cache miss.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "device_internal.h"

struct keyslot {
	uint8_t point[AF_DEVICE_POINT_LEN];
	EVP_PKEY *pkey; /* NULL: empty */
};

struct af_device_keys {
	pthread_mutex_t lock;
	size_t nslots;
	struct keyslot *slots;
};

af_device_status af_device_keys_new(size_t nslots, af_device_keys **out)
{
	af_device_keys *k;

	if (out == NULL || nslots == 0 || nslots > AF_DEVICE_KEYS_MAX)
		return AF_DEVICE_BAD_REQUEST;
	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return AF_DEVICE_INTERNAL;
	k->slots = calloc(nslots, sizeof(*k->slots));
	if (k->slots == NULL || pthread_mutex_init(&k->lock, NULL) != 0) {
		free(k->slots);
		free(k);
		return AF_DEVICE_INTERNAL;
	}
	k->nslots = nslots;
	*out = k;
	return AF_DEVICE_OK;
}

void af_device_keys_free(af_device_keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nslots; i++)
		EVP_PKEY_free(k->slots[i].pkey);
	free(k->slots);
	(void)pthread_mutex_destroy(&k->lock);
	free(k);
}

static struct keyslot *slot_of(af_device_keys *k, const uint8_t *point)
{
	size_t h = 0;
	int i;

	/* The x coordinate's last bytes are as good as random. */
	for (i = 0; i < 8; i++)
		h = (h << 8) | point[AF_DEVICE_POINT_LEN / 2 - 8 + i];
	return &k->slots[h % k->nslots];
}

EVP_PKEY *af_device__keys_get(af_device_keys *k, const uint8_t *point)
{
	struct keyslot *s;
	EVP_PKEY *pkey = NULL;

	if (k == NULL)
		return NULL;
	(void)pthread_mutex_lock(&k->lock);
	s = slot_of(k, point);
	if (s->pkey != NULL &&
	    memcmp(s->point, point, AF_DEVICE_POINT_LEN) == 0 &&
	    EVP_PKEY_up_ref(s->pkey) == 1)
		pkey = s->pkey;
	(void)pthread_mutex_unlock(&k->lock);
	return pkey;
}

void af_device__keys_put(af_device_keys *k, const uint8_t *point,
			 EVP_PKEY *pkey)
{
	struct keyslot *s;
	EVP_PKEY *old = NULL;

	if (k == NULL || EVP_PKEY_up_ref(pkey) != 1)
		return;
	(void)pthread_mutex_lock(&k->lock);
	s = slot_of(k, point);
	old = s->pkey;
	memcpy(s->point, point, AF_DEVICE_POINT_LEN);
	s->pkey = pkey;
	(void)pthread_mutex_unlock(&k->lock);
	/* Freed outside the lock: another thread may still verify with it. */
	EVP_PKEY_free(old);
}
