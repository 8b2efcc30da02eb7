/* QR codes as UTF-8 half blocks for the terminal (see qr.h). */
#include <string.h>

#include <openssl/crypto.h>
#include <qrencode.h>

#include "qr.h"

#define ANSI_ON	 "\033[40;37m" /* white on black */
#define ANSI_OFF "\033[0m"

static const struct {
	af_ctl_qr_status st;
	const char *text;
} statuses[] = {
#define AF_CTL_QR_XX(name, value, text) {AF_CTL_QR_##name, (text)},
	AF_CTL_QR_STATUS_MAP(AF_CTL_QR_XX)
#undef AF_CTL_QR_XX
};

const char *af_ctl_qr_strerror(af_ctl_qr_status st)
{
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		if (statuses[i].st == st)
			return statuses[i].text;
	}
	return "unknown status";
}

/*
 * Whether the module at (x, y) of the drawing, quiet zone included, is
 * dark. Everything outside the symbol is quiet zone, and so light.
 */
static int dark_at(const unsigned char *modules, size_t width, size_t x,
		   size_t y)
{
	if (x < AF_CTL_QR_QUIET || y < AF_CTL_QR_QUIET)
		return 0;
	x -= AF_CTL_QR_QUIET;
	y -= AF_CTL_QR_QUIET;
	if (x >= width || y >= width)
		return 0;
	return modules[y * width + x] & 1;
}

/* The cell for an upper and a lower module (see the table in qr.h). */
static const char *cell(int upper_dark, int lower_dark)
{
	if (upper_dark)
		return lower_dark ? " " : "\u2584";
	return lower_dark ? "\u2580" : "\u2588";
}

/*
 * Appends s and a NUL to buf (the next put writes over the NUL); 0, or -1
 * when they would not fit.
 */
static int put(char *buf, size_t cap, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (cap - *o <= n)
		return -1;
	memcpy(buf + *o, s, n + 1);
	*o += n;
	return 0;
}

af_ctl_qr_status af_ctl_qr_draw(const unsigned char *modules, size_t width,
				unsigned flags, char *buf, size_t cap,
				size_t *len)
{
	const size_t side = width + 2 * AF_CTL_QR_QUIET;
	const int ansi = (flags & AF_CTL_QR_ANSI) != 0;
	size_t x, y, o = 0;

	if (len != NULL)
		*len = 0;
	if (modules == NULL || buf == NULL || cap == 0 || width == 0 ||
	    width > AF_CTL_QR_WIDTH_MAX || (flags & ~AF_CTL_QR_ANSI) != 0)
		return AF_CTL_QR_ERR_ARG;
	for (y = 0; y < side; y += 2) {
		if (ansi && put(buf, cap, &o, ANSI_ON) != 0)
			goto small;
		for (x = 0; x < side; x++) {
			if (put(buf, cap, &o,
				cell(dark_at(modules, width, x, y),
				     dark_at(modules, width, x, y + 1))) != 0)
				goto small;
		}
		if ((ansi && put(buf, cap, &o, ANSI_OFF) != 0) ||
		    put(buf, cap, &o, "\n") != 0)
			goto small;
	}
	if (len != NULL)
		*len = o;
	return AF_CTL_QR_OK;
small:
	/* What was drawn already shows part of the (maybe secret) text. */
	OPENSSL_cleanse(buf, cap);
	buf[0] = '\0';
	return AF_CTL_QR_ERR_TOO_SMALL;
}

af_ctl_qr_status af_ctl_qr_render(const char *text, unsigned flags, char *buf,
				  size_t cap, size_t *len)
{
	af_ctl_qr_status st;
	QRcode *qr;
	size_t n, width;

	if (len != NULL)
		*len = 0;
	if (text == NULL || buf == NULL || cap == 0)
		return AF_CTL_QR_ERR_ARG;
	n = strnlen(text, AF_CTL_QR_TEXT_MAX + 1);
	if (n == 0)
		return AF_CTL_QR_ERR_ARG;
	if (n > AF_CTL_QR_TEXT_MAX)
		return AF_CTL_QR_ERR_TOO_LONG;
	/*
	 * Version 0 lets libqrencode pick the smallest symbol that holds the
	 * text; 8-bit mode keeps the URI's bytes exactly as they are, and
	 * case sensitivity (1) keeps its lower-case letters.
	 */
	qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (qr == NULL)
		return AF_CTL_QR_ERR_ENCODE;
	width = qr->width > 0 ? (size_t)qr->width : 0;
	st = width > 0 && width <= AF_CTL_QR_WIDTH_MAX
		     ? af_ctl_qr_draw(qr->data, width, flags, buf, cap, len)
		     : AF_CTL_QR_ERR_ENCODE;
	/* The matrix spells out the text, which may be a secret. */
	if (qr->data != NULL && width > 0 && width <= AF_CTL_QR_WIDTH_MAX)
		OPENSSL_cleanse(qr->data, width * width);
	QRcode_free(qr);
	return st;
}
