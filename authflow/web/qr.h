/*
 * QR codes as SVG for the enrollment page (libqrencode). The SVG is one
 * path of unit squares with a quiet zone of four modules, so it scales
 * crisply and needs no inline style.
 *
 * Thread-safety: re-entrant (libqrencode's encoder is re-entrant).
 */
#ifndef AF_WEB_QR_H
#define AF_WEB_QR_H

#include "http/buf.h"

/* Appends an <svg> of text (ECC level M) to b; 0, or -1 on failure. */
int af_qr_svg(af_buf *b, const char *text);

#endif /* AF_WEB_QR_H */
