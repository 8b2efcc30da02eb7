/*
 * Shared by sign.c and keycache.c: the key cache's lookups, in the
 * uncompressed form 0x04 || x || y of a P-256 point.
 */
#ifndef AF_DEVICE_INTERNAL_H
#define AF_DEVICE_INTERNAL_H

#include <stdint.h>

#include <openssl/evp.h>

#include "device/device.h"

#define AF_DEVICE_POINT_LEN 65

/* A new reference to the cached key of point, or NULL (k may be NULL). */
EVP_PKEY *af_device__keys_get(af_device_keys *k, const uint8_t *point);

/* Caches pkey (checked) as point's key, taking a reference of its own. */
void af_device__keys_put(af_device_keys *k, const uint8_t *point,
			 EVP_PKEY *pkey);

#endif /* AF_DEVICE_INTERNAL_H */
