/* Status names and messages, generated from TC_STATUS_MAP. */
#include "tokencode.h"

const char *tc_strerror(tc_status st)
{
	switch (st) {
#define TC_XX(name, value, text) \
	case TC_##name:          \
		return text;
		TC_STATUS_MAP(TC_XX)
#undef TC_XX
	}
	return "unknown error";
}

const char *tc_status_name(tc_status st)
{
	switch (st) {
#define TC_XX(name, value, text) \
	case TC_##name:          \
		return #name;
		TC_STATUS_MAP(TC_XX)
#undef TC_XX
	}
	return "UNKNOWN";
}
