/*
 * QR codes drawn as text for authflowctl (device enroll-code on a
 * terminal), made with libqrencode at error correction level M.
 *
 * Each text line holds two rows of modules: a character cell shows the
 * upper module in its top half and the lower one in its bottom half. Light
 * modules are drawn in the foreground colour and dark ones left as
 * background, so a cell is one of four characters:
 *
 *   upper light, lower light   U+2588 FULL BLOCK        "█"
 *   upper light, lower dark    U+2580 UPPER HALF BLOCK  "▀"
 *   upper dark,  lower light   U+2584 LOWER HALF BLOCK  "▄"
 *   upper dark,  lower dark    U+0020 SPACE             " "
 *
 * A quiet zone of AF_CTL_QR_QUIET light modules surrounds the code. With
 * a symbol of W modules the text has (W + 2 * AF_CTL_QR_QUIET + 1) / 2
 * lines of W + 2 * AF_CTL_QR_QUIET characters, each ending in "\n"; when
 * the height is odd the lower half of the last line is light (quiet zone).
 * With AF_CTL_QR_ANSI every line also starts with an ANSI escape that sets
 * a white foreground on a black background and ends (before its newline)
 * with one that resets the colours, so that the code reads the same on
 * light and dark terminal themes.
 *
 * The text encoded may be a secret (an enrollment URI carries a one-time
 * code): libqrencode's module matrix is wiped before it is freed, and so
 * is a partly drawn buffer on failure; the caller wipes its buffer after
 * use.
 *
 * Thread-safety: every function is re-entrant (libqrencode's encoder is
 * re-entrant); buffers belong to the calling thread for the call.
 */
#ifndef AUTHFLOW_CTL_QR_H
#define AUTHFLOW_CTL_QR_H

#include <stddef.h>

#if defined(__GNUC__)
#define AF_CTL_QR_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_CTL_QR_NODISCARD
#endif

#define AF_CTL_QR_STATUS_MAP(XX)                                  \
	XX(OK, 0, "success")                                      \
	XX(ERR_ARG, -1, "invalid argument")                       \
	XX(ERR_TOO_LONG, -2, "text too long for a QR code")       \
	XX(ERR_TOO_SMALL, -3, "buffer too small for the QR code") \
	XX(ERR_ENCODE, -4, "the QR code could not be made")

typedef enum af_ctl_qr_status {
#define AF_CTL_QR_XX(name, value, text) AF_CTL_QR_##name = (value),
	AF_CTL_QR_STATUS_MAP(AF_CTL_QR_XX)
#undef AF_CTL_QR_XX
} af_ctl_qr_status;

/* A static, never NULL, English message for a status. */
const char *af_ctl_qr_strerror(af_ctl_qr_status st);

#define AF_CTL_QR_QUIET	    ((size_t)2) /* modules of quiet zone on each side */
#define AF_CTL_QR_TEXT_MAX  1024	/* bytes of text one code may encode */
#define AF_CTL_QR_WIDTH_MAX 177		/* modules of the largest symbol (40) */
/*
 * Bytes of the largest drawing with AF_CTL_QR_ANSI and its NUL: 91 lines
 * of 181 three-byte cells, the two escapes and the newline. A buffer this
 * large always fits.
 */
#define AF_CTL_QR_BUF	    65536

/* Flags of af_ctl_qr_draw() and af_ctl_qr_render(). */
#define AF_CTL_QR_ANSI 0x1 /* colour escapes around every line */

/*
 * Draws a module matrix as text into buf (cap bytes): modules holds width
 * * width bytes, row by row, bit 0 set for a dark module (libqrencode's
 * layout; other bits are ignored). width: 1..AF_CTL_QR_WIDTH_MAX. flags:
 * 0 or AF_CTL_QR_ANSI. On AF_CTL_QR_OK buf holds the NUL-terminated text
 * and *len (may be NULL) its length. AF_CTL_QR_ERR_ARG, or
 * AF_CTL_QR_ERR_TOO_SMALL (buf is then wiped and holds "").
 */
AF_CTL_QR_NODISCARD af_ctl_qr_status
af_ctl_qr_draw(const unsigned char *modules, size_t width, unsigned flags,
	       char *buf, size_t cap, size_t *len);

/*
 * Encodes text (1..AF_CTL_QR_TEXT_MAX bytes, 8-bit mode, ECC level M, the
 * smallest version that fits) with QRcode_encodeString() and draws it
 * with af_ctl_qr_draw(). AF_CTL_QR_OK, AF_CTL_QR_ERR_ARG,
 * AF_CTL_QR_ERR_TOO_LONG, AF_CTL_QR_ERR_TOO_SMALL or AF_CTL_QR_ERR_ENCODE
 * (libqrencode failed, out of memory among other causes).
 */
AF_CTL_QR_NODISCARD af_ctl_qr_status af_ctl_qr_render(const char *text,
						      unsigned flags, char *buf,
						      size_t cap, size_t *len);

#endif /* AUTHFLOW_CTL_QR_H */
