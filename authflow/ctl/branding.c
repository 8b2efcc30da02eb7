/*
 * authflowctl's branding commands over the admin API (admin/branding.c
 * lists the endpoints):
 *
 *   branding show
 *   branding set [--name N] [--color #RRGGBB] [--help-text T]
 *       [--help-url URL] [--logo FILE | --no-logo]
 *   branding reset
 *
 * An empty value ("--name ''") clears that part. The server checks every
 * value (and the logo's type and size); this side only reads the logo
 * file, bounded, and sends it as base64.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "commands.h"
#include "common.h"

/* Files larger than this are not read: the server takes far less. */
#define LOGO_READ_MAX ((size_t)1024 * 1024)

/* The string v holds, or fallback: a server's answer is not trusted. */
static const char *str_or(const json_t *v, const char *fallback)
{
	const char *s = json_string_value(v);

	return s != NULL ? s : fallback;
}

static int print_branding(json_t *answer)
{
	static const char *const keys[] = {"name", "color", "help_text",
					   "help_url"};
	json_t *logo = json_object_get(answer, "logo");
	char text[160] = "";
	size_t i;
	int rc = AF_CTL_EXIT_OK;

	for (i = 0; i < AF_CTL_NELEMS(keys) && rc == AF_CTL_EXIT_OK; i++)
		rc = af_ctl_put_line(
			"", keys[i],
			json_string_value(json_object_get(answer, keys[i])));
	if (json_is_object(logo))
		snprintf(text, sizeof(text),
			 "%s, %" JSON_INTEGER_FORMAT " bytes, sha256 %.16s",
			 str_or(json_object_get(logo, "type"), "?"),
			 json_integer_value(json_object_get(logo, "size")),
			 str_or(json_object_get(logo, "sha256"), "?"));
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_line("", "logo", text);
	if (rc == AF_CTL_EXIT_OK && json_object_get(answer, "updated_at"))
		rc = af_ctl_put_value("", "updated_at",
				      json_object_get(answer, "updated_at"));
	return rc;
}

/* The file at path as standard base64 into *out (to free); exit status. */
static int read_logo(const char *path, char **out)
{
	unsigned char *raw = malloc(LOGO_READ_MAX + 1);
	struct stat sb = {0};
	size_t n = 0;
	FILE *fp;
	int fd, rc = AF_CTL_EXIT_OK;

	*out = NULL;
	if (raw == NULL)
		return af_ctl_no_memory();
	/* Not blocking: a FIFO would wait for a writer that never comes. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	fp = fd >= 0 ? fdopen(fd, "rb") : NULL;
	if (fp == NULL) {
		rc = af_ctl_usage_fail("branding set: --logo %s: %s", path,
				       errno == ENOENT ? "no such file"
						       : "cannot be read");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/* A folder opens for reading too, and reads as nothing. */
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = af_ctl_usage_fail("branding set: --logo %s: %s", path,
				       S_ISDIR(sb.st_mode) ? "is a folder"
							   : "not a file");
		fclose(fp);
		goto out;
	}
	n = fread(raw, 1, LOGO_READ_MAX + 1, fp);
	if (ferror(fp) || n == 0 || n > LOGO_READ_MAX)
		rc = af_ctl_usage_fail("branding set: --logo %s: %s", path,
				       n > LOGO_READ_MAX ? "file too large"
				       : n == 0		 ? "empty file"
							 : "cannot be read");
	fclose(fp);
	if (rc != AF_CTL_EXIT_OK)
		goto out;
	*out = malloc(n / 3 * 4 + 5);
	if (*out == NULL) {
		rc = af_ctl_no_memory();
		goto out;
	}
	(void)EVP_EncodeBlock((unsigned char *)*out, raw, (int)n);
out:
	free(raw);
	return rc;
}

/* Sets patch[key] to arg, or to null when arg is empty; exit status. */
static int put_text(json_t *patch, const char *key, const char *arg)
{
	json_t *v =
		arg != NULL && arg[0] != '\0' ? json_string(arg) : json_null();

	if (v == NULL)
		return af_ctl_usage_fail("branding set: %s is not UTF-8", key);
	if (json_object_set_new(patch, key, v) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

/* One option of branding set into patch; state counts the logo options. */
static int branding_option(json_t *patch, int c, const char *arg,
			   const char *cmd, void *state)
{
	int *logos = state;
	char *b64 = NULL;
	int rc;

	(void)cmd;
	switch (c) {
	case 'n':
		return put_text(patch, "name", arg);
	case 'c':
		return put_text(patch, "color", arg);
	case 't':
		return put_text(patch, "help_text", arg);
	case 'u':
		return put_text(patch, "help_url", arg);
	case 'L':
		if ((*logos)++ > 0)
			break;
		return put_text(patch, "logo", "");
	default:
		if ((*logos)++ > 0)
			break;
		rc = read_logo(arg, &b64);
		if (rc == AF_CTL_EXIT_OK)
			rc = put_text(patch, "logo", b64);
		free(b64);
		return rc;
	}
	return af_ctl_usage_fail("branding set: give --logo or --no-logo "
				 "once");
}

static int branding_set(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"color", required_argument, NULL, 'c'},
		{"help-text", required_argument, NULL, 't'},
		{"help-url", required_argument, NULL, 'u'},
		{"logo", required_argument, NULL, 'l'},
		{"no-logo", no_argument, NULL, 'L'},
		AF_CTL_OPT_END,
	};
	static const af_ctl_patch set = {
		"branding set",	 opts,		NULL, "PATCH", "branding",
		branding_option, print_branding};
	int logos = 0;

	return af_ctl_run_patch(ctl, argc, argv, &set, &logos);
}

/* The answer is only {"ok": true}: one line confirms, as other changes do. */
static int print_reset(json_t *answer)
{
	(void)answer;
	printf("reset the branding to the built-in look\n");
	return AF_CTL_EXIT_OK;
}

int af_ctl_cmd_branding(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple show = {
		"branding show", NULL, 0, "GET", "branding", print_branding};
	static const af_ctl_simple reset = {
		"branding reset", NULL, 0, "DELETE", "branding", print_reset};
	static const af_ctl_verb verbs[] = {
		{"show", NULL, &show},
		{"set", branding_set, NULL},
		{"reset", NULL, &reset},
	};

	return af_ctl_run_verb(ctl, "branding", verbs, AF_CTL_NELEMS(verbs),
			       argc, argv);
}
