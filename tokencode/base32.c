/*
 * RFC 4648 base32. Decoding is lenient where people are (case, spaces,
 * hyphens, missing padding) and strict where a mistake would change the key
 * (characters outside the alphabet, impossible lengths, stray bits).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "tokencode.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

/* Significant characters in a final group of 8 that encoders can emit. */
static int valid_tail(size_t chars)
{
	switch (chars % 8) {
	case 0:
	case 2:
	case 4:
	case 5:
	case 7:
		return 1;
	default:
		return 0;
	}
}

tc_status tc_base32_decode(const char *text, size_t textlen, uint8_t *out,
			   size_t outcap, size_t *outlen)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0, chars = 0, i;
	int padding = 0;
	tc_status st = TC_OK;

	if (text == NULL || out == NULL || outlen == NULL)
		return TC_ERR_ARG;
	*outlen = 0;
	if (textlen > TC_BASE32_MAX)
		return TC_ERR_ARG;

	for (i = 0; i < textlen; i++) {
		char c = text[i];
		int v;

		if (c == ' ' || c == '-')
			continue;
		if (c == '=') {
			padding = 1;
			continue;
		}
		v = value_of(c);
		if (v < 0 || padding) {
			st = TC_ERR_BASE32_CHAR;
			goto out;
		}
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		chars++;
		if (bits >= 8) {
			bits -= 8;
			if (n >= outcap) {
				st = TC_ERR_BUFFER;
				goto out;
			}
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Left-over bits must be the zero padding of the last quantum. */
	if (!valid_tail(chars) || acc != 0) {
		st = TC_ERR_BASE32_LENGTH;
		goto out;
	}
	*outlen = n;
out:
	OPENSSL_cleanse(&acc, sizeof(acc));
	if (st != TC_OK)
		OPENSSL_cleanse(out, n);
	return st;
}

size_t tc_base32_encoded_len(size_t len)
{
	return (len / 5) * 8 + (len % 5 * 8 + 4) / 5;
}

tc_status tc_base32_encode(const uint8_t *data, size_t len, char *out,
			   size_t outcap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0, i;

	if ((data == NULL && len > 0) || out == NULL)
		return TC_ERR_ARG;
	if (len > SIZE_MAX / 8 - 1 || outcap < tc_base32_encoded_len(len) + 1)
		return TC_ERR_BUFFER;

	for (i = 0; i < len; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[n++] = alphabet[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		out[n++] = alphabet[(acc << (5 - bits)) & 31];
	out[n] = '\0';
	OPENSSL_cleanse(&acc, sizeof(acc));
	return TC_OK;
}
