/* Enrollment QR codes as SVG. */
#include <qrencode.h>

#include "web/qr.h"

#define QUIET 4

int af_qr_svg(af_buf *b, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int x, y, size;

	if (qr == NULL)
		return -1;
	size = qr->width + 2 * QUIET;
	af_buf_printf(b,
		      "<svg xmlns=\"http://www.w3.org/2000/svg\" "
		      "viewBox=\"0 0 %d %d\" width=\"240\" height=\"240\" "
		      "role=\"img\" aria-label=\"Enrollment QR code\" "
		      "shape-rendering=\"crispEdges\"><rect width=\"%d\" "
		      "height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
		      size, size, size, size);
	for (y = 0; y < qr->width; y++) {
		for (x = 0; x < qr->width; x++) {
			/* Bit 0 of each module byte is "dark". */
			if (qr->data[y * qr->width + x] & 1)
				af_buf_printf(b, "M%d %dh1v1h-1z", x + QUIET,
					      y + QUIET);
		}
	}
	af_buf_puts(b, "\"/></svg>");
	QRcode_free(qr);
	return b->failed ? -1 : 0;
}
