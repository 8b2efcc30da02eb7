/*
 * A User-Agent header told in a few words a person knows ("Firefox on
 * Windows"), for the phone that is asked to approve a sign-in. Only names
 * from the tables below ever come out, so nothing the browser sent is
 * echoed; an agent that names none of them is told as unknown.
 */
#include <stdio.h>
#include <string.h>

#include "common/httpparse.h"

struct ua_name {
	const char *token; /* looked for in the header, case-sensitive */
	const char *name;  /* what is said */
};

/*
 * Browsers, in the order they are looked for: most agents name the
 * engines they imitate too (Edge says "Chrome/" and "Safari/", Chrome on
 * iOS says "Safari/"), so the specific ones come first.
 */
static const struct ua_name browsers[] = {
	{"Edg/", "Edge"},
	{"EdgA/", "Edge"},
	{"EdgiOS/", "Edge"},
	{"OPR/", "Opera"},
	{"OPiOS/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"YaBrowser/", "Yandex Browser"},
	{"Vivaldi/", "Vivaldi"},
	{"FxiOS/", "Firefox"},
	{"Firefox/", "Firefox"},
	{"CriOS/", "Chrome"},
	{"Chromium/", "Chromium"},
	{"Chrome/", "Chrome"},
	{"Version/", "Safari"}, /* with "Safari/", checked below */
	{"MSIE ", "Internet Explorer"},
	{"Trident/", "Internet Explorer"},
};

/* Systems, likewise: iOS agents say "like Mac OS X", Android "Linux". */
static const struct ua_name systems[] = {
	{"iPhone", "iOS"},	{"iPad", "iPadOS"},    {"iPod", "iOS"},
	{"Android", "Android"}, {"CrOS", "ChromeOS"},  {"Windows", "Windows"},
	{"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *first_named(const char *ua, const struct ua_name *t,
			       size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (strstr(ua, t[i].token) == NULL)
			continue;
		/* "Version/" is Safari's only beside "Safari/". */
		if (strcmp(t[i].name, "Safari") == 0 &&
		    strstr(ua, "Safari/") == NULL)
			continue;
		return t[i].name;
	}
	return NULL;
}

hp_status hp_user_agent_describe(const char *ua, char *out, size_t outcap)
{
	char head[HP_USER_AGENT_SCAN + 1];
	const char *browser, *system;
	size_t n;
	int w;

	if (out == NULL || outcap == 0)
		return HP_ERR_ARG;
	out[0] = '\0';
	if (ua == NULL)
		return HP_ERR_ARG;
	n = strnlen(ua, HP_USER_AGENT_SCAN);
	memcpy(head, ua, n);
	head[n] = '\0';
	browser = first_named(head, browsers, NELEMS(browsers));
	system = first_named(head, systems, NELEMS(systems));
	if (browser == NULL && system == NULL)
		return HP_ERR_SYNTAX;
	if (browser != NULL && system != NULL)
		w = snprintf(out, outcap, "%s on %s", browser, system);
	else if (browser != NULL)
		w = snprintf(out, outcap, "%s", browser);
	else
		w = snprintf(out, outcap, "a browser on %s", system);
	if (w < 0 || (size_t)w >= outcap) {
		out[0] = '\0';
		return HP_ERR_TOO_BIG;
	}
	return HP_OK;
}
