/*
 * The commands of authflowctl over the admin API (/admin/v1/): option
 * parsing per command, request bodies, and the human output (tables for
 * lists, "key: value" lines for one object).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ui.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "common/jose.h"
#include "common/util.h"
#include "http.h"
#include "table.h"

/* The most days a signing key's status may say it has, or had, left. */
#define KEY_DAYS_MAX 100000

#define AUDIT_LIMIT_MAX	  1000		   /* events of one audit listing */
#define AUDIT_SEQ_MAX	  999999999999999L /* as the admin API takes */
#define AUDIT_LIMIT_DEF	  50
#define INACTIVE_DAYS_MAX 36500 /* user list --inactive-days, as the server */
#define REFRESH_GRACE_MAX 60	/* app --refresh-grace, as the server */
#define KEEP_PREVIOUS_MAX (30L * 86400) /* --keep-previous, as the server */
#define PASSWORD_BUF	  (AF_CTL_PASSWORD_MAX + 1)

static const char usage_head[] =
	"usage: authflowctl [--url URL] [--token TOKEN] [--json] COMMAND ...\n"
	"       authflowctl --help | --version | COMMAND --help\n"
	"\n"
	"URL and token also come from AUTHFLOW_URL and AUTHFLOW_ADMIN_TOKEN\n"
	"(prefer the variable: a --token is visible to other local users).\n"
	"Default URL: http://127.0.0.1:8080; http:// only to this host (the\n"
	"token would cross the network in clear text), https:// elsewhere.\n"
	"--json prints the server's JSON.\n"
	"AUTHFLOW_CA_FILE: a PEM file of the CAs to trust for https instead\n"
	"of the system's.\n"
	"\n";

/* Each command group's lines: all of them in --help, one with COMMAND --help.
 */
static const struct usage_section {
	const char *group;
	const char *text;
} usage_sections[] = {
	{"status", "  status\n"},
	{"user",
	 "  user add NAME [--name N] [--given-name N] [--family-name N]\n"
	 "           [--email E] [--email-verified] [--domain D]\n"
	 "           [--ou OU]... [--group G]... [--password-stdin "
	 "[--temporary]]\n"
	 "           [--disabled]\n"
	 "  user list [--inactive-days N] | show NAME | remove NAME | unlock "
	 "NAME\n"
	 "           (unlock: lifts the sign-in lock and delay, and the pause\n"
	 "           of pushes to the phone after a report or at the push "
	 "limit)\n"
	 "           (--inactive-days: only users idle for more than N days:\n"
	 "           neither signed in, made, enabled nor given a password\n"
	 "           in them)\n"
	 "  user set NAME [--name N] [--given-name N] [--family-name N]\n"
	 "           [--email E] [--email-verified on|off]\n"
	 "           [--domain D] [--enabled on|off] [--ou OU]... [--group "
	 "G]...\n"
	 "           [--password-change on|off]\n"
	 "           (--ou, --group: the whole list, replacing the user's;\n"
	 "           group add-member adds one; an empty value clears:\n"
	 "           --email '', --group '')\n"
	 "  user passwd NAME [--password-stdin] [--temporary]\n"
	 "           (--password-stdin reads one line; a second one is "
	 "refused;\n"
	 "           on a terminal it is typed once, without echo)\n"
	 "           (--temporary, --password-change on: the user must choose\n"
	 "           a new password at the next sign-in, after the password\n"
	 "           and any second factor)\n"},
	{"group",
	 "  group add NAME [--description D] | list | show NAME | remove NAME\n"
	 "  group set NAME --description D   (an empty D removes it)\n"
	 "  group add-member NAME USER | remove-member NAME USER\n"},
	{"ou", "  ou add NAME | list | show NAME | remove NAME\n"
	       "  ou add-member NAME USER | remove-member NAME USER\n"},
	{"policy",
	 "  policy add NAME --sso on|off --remote-access on|off\n"
	 "          [--number-matching on|off|workflow]\n"
	 "  policy list | show NAME | remove NAME\n"
	 "  policy set NAME [--sso on|off] [--remote-access on|off]\n"
	 "          [--number-matching on|off|workflow]\n"
	 "  policy assign|unassign NAME --user U | --group G | --ou OU\n"},
	{"app",
	 "  app add --name N [--display-name D] --redirect-uri URI...\n"
	 "          [--post-logout-uri URI]... [--backchannel-logout-uri URI]\n"
	 "          [--allow-refresh] [--jwt-access-tokens]\n"
	 "          [--refresh-grace SECONDS] [--admins-may-deploy]\n"
	 "          [--claim NAME=ATTR]...\n"
	 "  app list | show ID | remove ID | drop-previous-secret ID\n"
	 "  app rotate-secret ID [--keep-previous DURATION]\n"
	 "  app set ID [--name N] [--display-name D] [--redirect-uri URI]...\n"
	 "          [--post-logout-uri URI]... [--backchannel-logout-uri URI]\n"
	 "          [--enabled on|off]\n"
	 "          [--allow-refresh on|off] [--refresh-grace SECONDS]\n"
	 "          [--admins-may-deploy on|off] [--jwt-access-tokens on|off]\n"
	 "          [--claim NAME=ATTR]... | [--no-claims]\n"
	 "          (--redirect-uri, --post-logout-uri, --claim: the whole "
	 "list;\n"
	 "          --backchannel-logout-uri \"\": none)\n"
	 "          (--refresh-grace: 0..60 s, default 0; how long a refresh\n"
	 "          token just rotated out is still taken, for an app whose\n"
	 "          workers may refresh with the same token at once)\n"
	 "  app deploy|undeploy ID --all | [--domain D]... [--ou OU]...\n"
	 "          [--group G]... [--user U]...\n"},
	{"workflow",
	 "  workflow show\n"
	 "  workflow set [--number-matching on|off] [--legacy on|off]\n"
	 "          [--min-app-version ios=V,android=V | none]   (the whole "
	 "map)\n"
	 "          [--push-limit COUNT[/PERIOD]] [--report-pause DURATION | "
	 "off]\n"
	 "          [--enroll-after-password on|off]\n"
	 "          (PERIOD, DURATION: a number and s, m, h or d: 300s, 15m, "
	 "1h)\n"},
	{"device",
	 "  device enroll-code USER | list USER | show ID | remove ID\n"
	 "  device rename ID NAME          (the help desk's name for the "
	 "phone)\n"
	 "  device revoke-codes USER       (the user's unused enrollment "
	 "codes)\n"},
	{"push", "  push queue [--limit N]       (1..1000, default 50)\n"},
	{"branding",
	 "  branding show | reset\n"
	 "  branding set [--name N] [--color #RRGGBB] [--help-text T]\n"
	 "          [--help-url https:...|mailto:...|tel:...]\n"
	 "          [--logo FILE | --no-logo]   (an empty value clears that "
	 "part)\n"},
	{"keys",
	 "  keys status | rotate [--after DURATION] | retire KID\n"
	 "                               (--after: published now, signing\n"
	 "                               then, 5m..1d; retire: out of "
	 "/jwks)\n"},
	{"sessions",
	 "  sessions list USER | end USER   (end: also the user's codes and\n"
	 "                               tokens, and sign-ins under way)\n"
	 "  sessions end-one USER SID    (that browser's session only)\n"
	 "  sessions tokens USER         (the applications holding a refresh\n"
	 "                               token of the user: offline access)\n"},
	{"audit",
	 "  audit [--limit N] [--before SEQ] [--actor A] [--action A]\n"
	 "        [--target T] [--user U] [--since WHEN] [--until WHEN]\n"
	 "        (WHEN: a duration ago, 24h or 7d, or a UTC date or time,\n"
	 "        2026-12-01 or 2026-12-01T08:30Z)\n"
	 "                               (1..1000, default 50; events older\n"
	 "                               than SEQ; --action mfa. takes every\n"
	 "                               mfa.* action; --user: the user's\n"
	 "                               own and those naming them, such as\n"
	 "                               a device removed or a group "
	 "joined)\n"},
};

static const char usage_foot[] =
	"\n"
	"Exit status: 0 done, 1 refused by the server, 2 bad usage, 3 cannot\n"
	"reach the server, 4 not found, 5 already there or in the way (a name\n"
	"taken, a limit reached), 6 the server cannot now: try again (busy, "
	"its\n"
	"state store down, or in the way for a while it states). `status`\n"
	"exits 6 when the server reports its store down, and prints the status\n"
	"all the same.\n";

void af_ctl_usage(FILE *out)
{
	size_t i;

	fputs(usage_head, out);
	for (i = 0; i < AF_CTL_NELEMS(usage_sections); i++)
		fputs(usage_sections[i].text, out);
	fputs(usage_foot, out);
}

int af_ctl_usage_of(FILE *out, const char *group)
{
	size_t i, n = strcspn(group, " ");

	for (i = 0; i < AF_CTL_NELEMS(usage_sections); i++) {
		if (strlen(usage_sections[i].group) != n ||
		    strncmp(usage_sections[i].group, group, n) != 0)
			continue;
		fprintf(out,
			"usage: authflowctl [--url URL] [--token TOKEN] "
			"[--json] %s ...\n\n",
			usage_sections[i].group);
		fputs(usage_sections[i].text, out);
		fputs(usage_foot, out);
		fputs("\n'authflowctl --help' shows every command, the URL and "
		      "the token.\n",
		      out);
		return 0;
	}
	return -1;
}

const af_cli_prog af_ctl_prog = {"authflowctl", af_ctl_usage, af_ctl_usage_of};

/* ---- option parsing ---- */

/* Turns a helper's refusal of an option value into the exit status. */
static int opt_value(af_ctl_status st, const char *cmd, const char *opt,
		     const char *value)
{
	if (st == AF_CTL_OK)
		return AF_CTL_EXIT_OK;
	if (st == AF_CTL_ERR_NOMEM)
		return af_ctl_no_memory();
	return af_ctl_usage_fail("%s: bad value for %s: '%s' (%s)", cmd, opt,
				 value, af_ctl_strerror(st));
}

static int set_string(json_t *obj, const char *key, const char *value,
		      const char *cmd, const char *opt)
{
	json_t *v = json_string(value);

	/* jansson refuses text that is not UTF-8 (see args.c). */
	if (v == NULL)
		return opt_value(AF_CTL_ERR_ARG, cmd, opt, value);
	if (json_object_set_new(obj, key, v) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

static int set_bool(json_t *obj, const char *key, int value)
{
	if (json_object_set_new(obj, key, json_boolean(value)) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

static int set_onoff(json_t *obj, const char *key, const char *value,
		     const char *cmd, const char *opt)
{
	int on = 0;
	af_ctl_status st = af_ctl_parse_onoff(value, &on);

	if (st != AF_CTL_OK)
		return af_ctl_usage_fail("%s: %s takes on or off, not '%s'",
					 cmd, opt, value);
	return set_bool(obj, key, on);
}

static int append(json_t *obj, const char *key, const char *value,
		  const char *cmd, const char *opt)
{
	return opt_value(af_ctl_append(obj, key, value), cmd, opt, value);
}

/* ---- requests ---- */

/* ---- human output ---- */

static int print_users(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"USERNAME", "username", AF_CTL_CELL_TEXT},
		{"NAME", "name", AF_CTL_CELL_TEXT},
		{"EMAIL", "email", AF_CTL_CELL_TEXT},
		{"ENABLED", "enabled", AF_CTL_CELL_BOOL},
		{"GROUPS", "groups", AF_CTL_CELL_LIST},
		{"POLICY", "policy", AF_CTL_CELL_TEXT},
		{"LAST-SIGN-IN", "last_sign_in.time", AF_CTL_CELL_TIME},
	};
	return af_ctl_print_table(answer, "users", cols, AF_CTL_NELEMS(cols));
}

static int print_groups(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"NAME", "name", AF_CTL_CELL_TEXT},
		{"DESCRIPTION", "description", AF_CTL_CELL_TEXT},
	};
	return af_ctl_print_table(answer, "groups", cols, AF_CTL_NELEMS(cols));
}

static int print_ous(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"NAME", "name", AF_CTL_CELL_TEXT},
	};
	return af_ctl_print_table(answer, "ous", cols, AF_CTL_NELEMS(cols));
}

/*
 * A policy's number_matching in words, as policy show and list print it:
 * yes, no, or "workflow" for null (the workflow setting decides), not "-".
 */
static int number_matching_words(json_t *policy)
{
	const json_t *nm = json_object_get(policy, "number_matching");
	const char *says = json_is_null(nm)    ? "workflow"
			   : json_is_true(nm)  ? "yes"
			   : json_is_false(nm) ? "no"
					       : NULL;

	if (says != NULL && json_object_set_new(policy, "number_matching",
						json_string(says)) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

static int print_policy(json_t *answer)
{
	int rc = number_matching_words(answer);

	return rc == AF_CTL_EXIT_OK ? af_ctl_print_kv(answer) : rc;
}

/* Number matching is shown too: a policy without it is more exposed. */
static int print_policies(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"NAME", "name", AF_CTL_CELL_TEXT},
		{"SSO", "sso", AF_CTL_CELL_BOOL},
		{"REMOTE-ACCESS", "remote_access", AF_CTL_CELL_BOOL},
		{"NUMBER-MATCHING", "number_matching", AF_CTL_CELL_TEXT},
		{"USERS", "assigned.users", AF_CTL_CELL_LIST},
		{"GROUPS", "assigned.groups", AF_CTL_CELL_LIST},
		{"OUS", "assigned.ous", AF_CTL_CELL_LIST},
	};
	json_t *p;
	size_t i;
	int rc = AF_CTL_EXIT_OK;

	json_array_foreach(json_object_get(answer, "policies"), i, p)
	{
		if (rc == AF_CTL_EXIT_OK && json_is_object(p))
			rc = number_matching_words(p);
	}
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return af_ctl_print_table(answer, "policies", cols,
				  AF_CTL_NELEMS(cols));
}

static int print_apps(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"CLIENT-ID", "client_id", AF_CTL_CELL_TEXT},
		{"NAME", "name", AF_CTL_CELL_TEXT},
		{"DISPLAY-NAME", "display_name", AF_CTL_CELL_TEXT},
		{"ENABLED", "enabled", AF_CTL_CELL_BOOL},
		{"DEPLOYMENT", "deployment", AF_CTL_CELL_DEPLOY},
	};
	return af_ctl_print_table(answer, "apps", cols, AF_CTL_NELEMS(cols));
}

static int print_sessions(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"SID", "sid", AF_CTL_CELL_TEXT},
		{"AUTH-TIME", "auth_time", AF_CTL_CELL_TIME},
		{"LAST-USED", "last_used", AF_CTL_CELL_TIME},
		{"ENDS", "ends_at", AF_CTL_CELL_TIME},
		{"AMR", "amr", AF_CTL_CELL_LIST},
		{"IP", "ip", AF_CTL_CELL_TEXT},
		{"BROWSER", "browser", AF_CTL_CELL_TEXT},
		{"APPS", "apps", AF_CTL_CELL_LIST},
	};
	return af_ctl_print_table(answer, "sessions", cols,
				  AF_CTL_NELEMS(cols));
}

static int print_grants(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"APP", "app", AF_CTL_CELL_TEXT},
		{"CLIENT-ID", "client_id", AF_CTL_CELL_TEXT},
		{"SCOPE", "scope", AF_CTL_CELL_TEXT},
		{"AUTH-TIME", "auth_time", AF_CTL_CELL_TIME},
		{"EXPIRES", "expires_at", AF_CTL_CELL_TIME},
		{"AMR", "amr", AF_CTL_CELL_LIST},
		{"CURRENT", "current", AF_CTL_CELL_BOOL},
	};
	return af_ctl_print_table(answer, "grants", cols, AF_CTL_NELEMS(cols));
}

static int print_audit(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"SEQ", "seq", AF_CTL_CELL_TEXT},
		{"TIME", "ts", AF_CTL_CELL_TIME},
		{"ACTOR", "actor", AF_CTL_CELL_TEXT},
		{"ACTION", "action", AF_CTL_CELL_TEXT},
		{"TARGET", "target", AF_CTL_CELL_TEXT},
		{"IP", "ip", AF_CTL_CELL_TEXT},
		{"DETAIL", "detail", AF_CTL_CELL_JSON},
	};
	const json_t *next = json_object_get(answer, "next_before");
	int rc =
		af_ctl_print_table(answer, "events", cols, AF_CTL_NELEMS(cols));

	/*
	 * On stderr, so that a script reading the table gets rows only; the
	 * same command with --before pages back, its filters kept.
	 */
	if (rc == AF_CTL_EXIT_OK && json_is_integer(next))
		fprintf(stderr,
			"older events: run the same command with --before "
			"%" JSON_INTEGER_FORMAT "\n",
			json_integer_value(next));
	return rc;
}

/* Key kid's member of af_keyring_status(), or NULL. */
static const json_t *key_member(const json_t *st, const char *kid,
				const char *member)
{
	const json_t *k;
	size_t i;

	json_array_foreach(json_object_get(st, "keys"), i, k)
	{
		const char *has = json_string_value(json_object_get(k, "kid"));

		if (kid != NULL && has != NULL && strcmp(has, kid) == 0)
			return json_object_get(k, member);
	}
	return NULL;
}

/*
 * The signing key of af_keyring_status(): kid, expiry, the published
 * successor, when it signs and when it expires, days until signing runs
 * out (the successor's end, when one is published), from how many days
 * before the alert runs, and the alert when it does.
 */
static int print_key_status(const json_t *st)
{
	const char *kid = json_string_value(json_object_get(st, "signing_kid"));
	const char *next = json_string_value(json_object_get(st, "next_kid"));
	const json_t *days = json_object_get(st, "expires_in_days");
	char when[AF_CTL_TIME_BUF];
	json_int_t n = json_integer_value(days);
	int rc;

	/* Beyond some centuries either way: no answer of authflow's. */
	if (!json_is_object(st) || !json_is_integer(days) ||
	    n < -KEY_DAYS_MAX || n > KEY_DAYS_MAX)
		return af_ctl_bad_answer();
	af_ctl_time(key_member(st, kid, "expires_at"), when, sizeof(when));
	rc = af_ctl_put_line("", "signing_kid", kid != NULL ? kid : "none");
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_line("", "expires_at", when);
	if (rc == AF_CTL_EXIT_OK && next != NULL) {
		rc = af_ctl_put_line("", "next_kid", next);
		af_ctl_time(json_object_get(st, "next_signs_from"), when,
			    sizeof(when));
		if (rc == AF_CTL_EXIT_OK)
			rc = af_ctl_put_line("", "next_signs_from", when);
		af_ctl_time(key_member(st, next, "expires_at"), when,
			    sizeof(when));
		if (rc == AF_CTL_EXIT_OK)
			rc = af_ctl_put_line("", "next_expires_at", when);
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_value("", "days_left", days);
	/* From how many days before expiry the server alerts. */
	if (rc == AF_CTL_EXIT_OK &&
	    json_is_integer(json_object_get(st, "alert_days")))
		rc = af_ctl_put_value("", "alert_days",
				      json_object_get(st, "alert_days"));
	if (rc != AF_CTL_EXIT_OK || !json_is_true(json_object_get(st, "alert")))
		return rc;
	if (kid == NULL)
		printf("ALERT: there is no current signing key\n");
	else if (n < 0)
		printf("ALERT: the signing key expired %" JSON_INTEGER_FORMAT
		       " day%s ago\n",
		       -n, n == -1 ? "" : "s");
	else if (n <= 1)
		printf("ALERT: the signing key expires within a day\n");
	else
		printf("ALERT: the signing key expires in %" JSON_INTEGER_FORMAT
		       " days\n",
		       n);
	return AF_CTL_EXIT_OK;
}

/* The status, then every key of the ring, retired ones to come too. */
static int print_keys(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"KID", "kid", AF_CTL_CELL_TEXT},
		{"SIGNS_FROM", "signs_from", AF_CTL_CELL_TIME},
		{"EXPIRES_AT", "expires_at", AF_CTL_CELL_TIME},
		{"LEAVES_JWKS", "retire_after", AF_CTL_CELL_TIME},
		{"SIGNING", "signing", AF_CTL_CELL_BOOL},
	};
	int rc = print_key_status(answer);

	/* keys retire of the key a planned rotation had lined up. */
	if (rc == AF_CTL_EXIT_OK &&
	    json_is_true(json_object_get(answer, "rotation_called_off")))
		printf("the planned rotation is off: the signing key signs "
		       "until its expires_at\n");

	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_print_table(answer, "keys", cols,
					AF_CTL_NELEMS(cols));
	return rc;
}

static int print_rotated_key(json_t *answer)
{
	const json_t *kid = json_object_get(answer, "kid");
	int rc;

	if (!json_is_string(kid))
		return af_ctl_bad_answer();
	rc = af_ctl_put_value("", "kid", kid);
	return rc != AF_CTL_EXIT_OK ? rc : print_keys(answer);
}

/*
 * Whether answer has what print_status() shows, as the admin API's
 * status sends it; users and apps may be null when they cannot be
 * counted.
 */
static int status_ok(const json_t *answer)
{
	const json_t *store = json_object_get(answer, "store");
	const json_t *keys = json_object_get(answer, "keys");

	return json_is_string(json_object_get(answer, "issuer")) &&
	       json_is_string(json_object_get(answer, "version")) &&
	       json_is_string(json_object_get(store, "backend")) &&
	       json_is_boolean(json_object_get(store, "ok")) &&
	       json_is_object(keys) &&
	       json_is_integer(json_object_get(keys, "expires_in_days"));
}

static int print_status(json_t *answer)
{
	static const char *const top[] = {"issuer", "version"};
	static const struct {
		const char *key, *off;
	} features[] = {
		{"sso", "OFF (features.sso: every application asks for the "
			"password, whatever the policies say)"},
		{"remote_access_mfa",
		 "OFF (features.remote_access_mfa: remote-access policies "
		 "sign in with the password alone)"},
	};
	const json_t *store = json_object_get(answer, "store");
	const char *backend =
		json_string_value(json_object_get(store, "backend"));
	char line[128];
	size_t i;
	int rc = AF_CTL_EXIT_OK;

	/* Checked first: a failure prints nothing on stdout. */
	if (!status_ok(answer))
		return af_ctl_bad_answer();
	for (i = 0; i < AF_CTL_NELEMS(top) && rc == AF_CTL_EXIT_OK; i++)
		rc = af_ctl_put_value("", top[i],
				      json_object_get(answer, top[i]));
	snprintf(
		line, sizeof(line), "%s, %s%s", backend,
		json_is_true(json_object_get(store, "ok")) ? "ok" : "DOWN",
		json_is_true(json_object_get(store, "evicts"))
			? ", EVICTS KEYS WHEN FULL (set redis maxmemory-policy "
			  "noeviction)"
			: "");
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_line("", "store", line);
	/* A feature switched off in the file overrides every policy. */
	for (i = 0; i < AF_CTL_NELEMS(features) && rc == AF_CTL_EXIT_OK; i++) {
		const json_t *on = json_object_get(
			json_object_get(answer, "features"), features[i].key);

		if (!json_is_boolean(on))
			continue;
		snprintf(line, sizeof(line), "%s",
			 json_is_true(on) ? "on" : features[i].off);
		rc = af_ctl_put_line("", features[i].key, line);
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_value("", "users",
				      json_object_get(answer, "users"));
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_value("", "apps",
				      json_object_get(answer, "apps"));
	if (rc == AF_CTL_EXIT_OK)
		rc = print_key_status(json_object_get(answer, "keys"));
	return rc;
}

/*
 * Once only, the warning that goes with a new client secret, and the
 * server's own "warning" when the answer has one (the change was made,
 * but its audit event could not be written).
 */
static void secret_warning(const json_t *answer)
{
	const char *server =
		json_string_value(json_object_get(answer, "warning"));
	char *clean = NULL;

	fprintf(stderr, "authflowctl: the client secret is shown only once: "
			"store it safely now\n");
	if (server != NULL &&
	    af_table_clean(server, &clean, NULL) == AF_TABLE_OK)
		fprintf(stderr, "authflowctl: warning: %s\n", clean);
	free(clean);
}

/* The three lines of `app add`, then the warning on stderr. */
static int print_new_app(json_t *answer)
{
	static const char *const keys[] = {"client_id", "client_secret",
					   "metadata_url"};
	size_t i;
	int rc = AF_CTL_EXIT_OK;

	for (i = 0; i < AF_CTL_NELEMS(keys); i++) {
		if (!json_is_string(json_object_get(answer, keys[i])))
			return af_ctl_bad_answer();
	}
	for (i = 0; i < AF_CTL_NELEMS(keys) && rc == AF_CTL_EXIT_OK; i++)
		rc = af_ctl_put_value("", keys[i],
				      json_object_get(answer, keys[i]));
	if (rc == AF_CTL_EXIT_OK)
		secret_warning(answer);
	return rc;
}

static int print_new_secret(json_t *answer)
{
	const json_t *id = json_object_get(answer, "client_id");
	const json_t *secret = json_object_get(answer, "client_secret");
	int rc;

	if (!json_is_string(id) || !json_is_string(secret))
		return af_ctl_bad_answer();
	rc = af_ctl_put_value("", "client_id", id);
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_value("", "client_secret", secret);
	if (rc == AF_CTL_EXIT_OK &&
	    json_object_get(answer, "previous_secret_until") != NULL)
		rc = af_ctl_put_value(
			"", "previous_secret_until",
			json_object_get(answer, "previous_secret_until"));
	if (rc == AF_CTL_EXIT_OK)
		secret_warning(answer);
	return rc;
}

/* ---- the command frame ---- */

/* ---- passwords ---- */

static int password_status(af_ctl_status st)
{
	switch (st) {
	case AF_CTL_OK:
		return AF_CTL_EXIT_OK;
	case AF_CTL_ERR_EMPTY:
		return af_ctl_fail(AF_CTL_EXIT_USAGE, "no password given");
	case AF_CTL_ERR_TOO_LONG:
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "the password is longer than %d bytes",
				   AF_CTL_PASSWORD_MAX);
	case AF_CTL_ERR_ARG:
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "the password holds a NUL byte");
	default:
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "cannot read the password");
	}
}

/*
 * Reads a line typed on the terminal without echo into buf (cap bytes),
 * through OpenSSL's UI: whatever ends the read, Ctrl-C or another signal
 * included, it turns echo back on, and it wipes its own copy of the line.
 * buf is wiped on every error.
 */
static int read_hidden(const char *prompt, char *buf, size_t cap)
{
	UI *ui = UI_new();
	int rc = AF_CTL_EXIT_OK, got;

	if (ui == NULL)
		return af_ctl_no_memory();
	got = UI_add_input_string(ui, prompt, 0, buf, 0, (int)cap - 1) < 0
		      ? -1
		      : UI_process(ui);
	if (got == -2)
		rc = af_ctl_fail(AF_CTL_EXIT_USAGE,
				 "interrupted: nothing was changed");
	else if (got != 0 &&
		 ERR_GET_REASON(ERR_peek_last_error()) == UI_R_RESULT_TOO_LARGE)
		rc = password_status(AF_CTL_ERR_TOO_LONG);
	else if (got != 0)
		rc = password_status(AF_CTL_ERR_IO);
	else if (buf[0] == '\0')
		rc = password_status(AF_CTL_ERR_EMPTY);
	UI_free(ui);
	ERR_clear_error();
	if (rc != AF_CTL_EXIT_OK)
		OPENSSL_cleanse(buf, cap);
	return rc;
}

/*
 * After the password's line on standard input: the end of the input, or
 * one more line end (the LF of a CR LF) and then the end. A second line
 * would otherwise be dropped without a word ("a\nb\n" set "a"), and which
 * line was meant cannot be told, so it is refused before anything is
 * sent; pw (PASSWORD_BUF bytes) is wiped then.
 */
static int stdin_ends(char *pw)
{
	int c = getc(stdin);

	if (c == '\n')
		c = getc(stdin);
	if (c == EOF && !ferror(stdin))
		return AF_CTL_EXIT_OK;
	OPENSSL_cleanse(pw, PASSWORD_BUF);
	if (c == EOF)
		return password_status(AF_CTL_ERR_IO);
	return af_ctl_fail(AF_CTL_EXIT_USAGE,
			   "standard input holds more than one line: give "
			   "the password alone, on one line");
}

/*
 * A new password into pw (PASSWORD_BUF bytes): one line of standard input
 * with --password-stdin (typed once without echo on a terminal) or when
 * it is not a terminal, else typed twice without echo. pw is wiped on every
 * error; the caller wipes it after use.
 */
static int read_password(int from_stdin, char *pw)
{
	char again[PASSWORD_BUF];
	int rc;

	/* Unbuffered, so no copy of the password stays in stdio's buffer. */
	setvbuf(stdin, NULL, _IONBF, 0);
	/*
	 * --password-stdin on a terminal: the one line, typed without echo;
	 * waiting for the end of the input after it would look like a hang.
	 */
	if (from_stdin && isatty(STDIN_FILENO))
		return read_hidden("Password: ", pw, PASSWORD_BUF);
	if (from_stdin || !isatty(STDIN_FILENO)) {
		rc = password_status(af_ctl_read_line(stdin, pw, PASSWORD_BUF));
		if (rc == AF_CTL_EXIT_OK)
			rc = stdin_ends(pw);
		return rc;
	}
	rc = read_hidden("New password: ", pw, PASSWORD_BUF);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	rc = read_hidden("Again: ", again, sizeof(again));
	if (rc == AF_CTL_EXIT_OK && !af_ct_streq(pw, again))
		rc = af_ctl_fail(AF_CTL_EXIT_USAGE, "the two passwords differ");
	OPENSSL_cleanse(again, sizeof(again));
	if (rc != AF_CTL_EXIT_OK)
		OPENSSL_cleanse(pw, PASSWORD_BUF);
	return rc;
}

/* Reads a password and sets obj["password"]; every copy is wiped. */
static int add_password(json_t *obj, int from_stdin)
{
	char pw[PASSWORD_BUF];
	json_t *v;
	int rc;

	rc = read_password(from_stdin, pw);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	v = json_string(pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (v == NULL)
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "the password is not valid UTF-8");
	if (json_object_set_new(obj, "password", v) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

/* ---- status ---- */

/*
 * The status is printed whole (or as --json), and then a store the
 * server reports down makes the exit status 1 with one line on stderr:
 * monitoring and scripts see the outage, not only a reader of "DOWN".
 */
int af_ctl_cmd_status(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {AF_CTL_OPT_END};
	const json_t *store;
	const char *backend;
	json_t *answer = NULL;
	af_cli_optparse p;
	int rc;

	af_ctl_opt_begin(&p, "status", argc, argv, opts);
	if (af_ctl_next_opt(ctl, &p) == AF_CTL_OPT_STOP)
		return p.rc;
	rc = af_cli_positionals(&p, 0, NULL, "");
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_call(ctl, "GET", "status", NULL, &answer);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	if (!ctl->json)
		rc = print_status(answer);
	else if (json_dumpf(answer, stdout, JSON_INDENT(2)) != 0 ||
		 putchar('\n') == EOF)
		rc = af_ctl_fail(AF_CTL_EXIT_REFUSED, "cannot write output");
	store = json_object_get(answer, "store");
	backend = json_string_value(json_object_get(store, "backend"));
	if (rc == AF_CTL_EXIT_OK && json_is_false(json_object_get(store, "ok")))
		rc = af_ctl_fail(AF_CTL_EXIT_LATER,
				 "the server cannot reach its state store "
				 "(%s): sign-ins and changes fail until it "
				 "can; check the store",
				 backend != NULL ? backend : "unknown");
	json_decref(answer);
	return rc;
}

/* ---- users ---- */

/* The options user add and user set share; 1 when c was one of them. */
static int user_field(json_t *spec, int c, const char *cmd, int *rc)
{
	switch (c) {
	case 'n':
		*rc = set_string(spec, "name", optarg, cmd, "--name");
		return 1;
	case 'G':
		*rc = set_string(spec, "given_name", optarg, cmd,
				 "--given-name");
		return 1;
	case 'F':
		*rc = set_string(spec, "family_name", optarg, cmd,
				 "--family-name");
		return 1;
	case 'e':
		*rc = set_string(spec, "email", optarg, cmd, "--email");
		return 1;
	case 'd':
		*rc = set_string(spec, "domain", optarg, cmd, "--domain");
		return 1;
	case 'o':
		*rc = append(spec, "ous", optarg, cmd, "--ou");
		return 1;
	case 'g':
		*rc = append(spec, "groups", optarg, cmd, "--group");
		return 1;
	default:
		return 0;
	}
}

static int user_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"given-name", required_argument, NULL, 'G'},
		{"family-name", required_argument, NULL, 'F'},
		{"email", required_argument, NULL, 'e'},
		{"email-verified", no_argument, NULL, 'V'},
		{"domain", required_argument, NULL, 'd'},
		{"ou", required_argument, NULL, 'o' | AF_CLI_OPT_MANY},
		{"group", required_argument, NULL, 'g' | AF_CLI_OPT_MANY},
		{"password-stdin", no_argument, NULL, 'P'},
		{"temporary", no_argument, NULL, 'T'},
		{"disabled", no_argument, NULL, 'D'},
		AF_CTL_OPT_END,
	};
	json_t *spec = json_object();
	af_cli_optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK, pw_stdin = 0, temporary = 0;

	if (spec == NULL)
		return af_ctl_no_memory();
	af_ctl_opt_begin(&p, "user add", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1 || c == AF_CTL_OPT_STOP)
			break;
		if (c == 'V')
			rc = set_bool(spec, "email_verified", 1);
		else if (c == 'D')
			rc = set_bool(spec, "enabled", 0);
		else if (c == 'P')
			pw_stdin = 1;
		else if (c == 'T')
			temporary = 1;
		else if (!user_field(spec, c, p.cmd, &rc))
			rc = af_ctl_usage_fail("user add: bad option");
	}
	if (c == AF_CTL_OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, 1, NULL, "NAME");
	/*
	 * A user added without a password cannot sign in at all, so there is
	 * nothing to replace; said before the token or a password is asked
	 * for.
	 */
	if (rc == AF_CTL_EXIT_OK && temporary && !pw_stdin)
		rc = af_ctl_usage_fail("user add: --temporary needs "
				       "--password-stdin (a user without a "
				       "password has none to change)");
	if (rc == AF_CTL_EXIT_OK && temporary)
		rc = set_bool(spec, "password_change_required", 1);
	if (rc == AF_CTL_EXIT_OK)
		rc = set_string(spec, "username", argv[optind], p.cmd, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_need_token(ctl);
	if (rc == AF_CTL_EXIT_OK && pw_stdin)
		rc = add_password(spec, 1);
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_call_print(ctl, "POST", "users", spec,
				       af_ctl_print_kv);
out:
	json_decref(spec);
	return rc;
}

static int user_set_option(json_t *patch, int c, const char *arg,
			   const char *cmd, void *state)
{
	int rc = AF_CTL_EXIT_OK;

	(void)state;
	if (c == 'V')
		return set_onoff(patch, "email_verified", arg, cmd,
				 "--email-verified");
	if (c == 'E')
		return set_onoff(patch, "enabled", arg, cmd, "--enabled");
	if (c == 'C')
		return set_onoff(patch, "password_change_required", arg, cmd,
				 "--password-change");
	/* An empty value clears: null removes a field, [] empties a list. */
	if (arg[0] == '\0' && strchr("nGFed", c) != NULL)
		return json_object_set_new(patch,
					   c == 'n'   ? "name"
					   : c == 'G' ? "given_name"
					   : c == 'F' ? "family_name"
					   : c == 'e' ? "email"
						      : "domain",
					   json_null()) == 0
			       ? AF_CTL_EXIT_OK
			       : af_ctl_no_memory();
	if (arg[0] == '\0' && (c == 'o' || c == 'g'))
		return json_object_set_new(patch, c == 'o' ? "ous" : "groups",
					   json_array()) == 0
			       ? AF_CTL_EXIT_OK
			       : af_ctl_no_memory();
	if (!user_field(patch, c, cmd, &rc))
		return af_ctl_usage_fail("user set: bad option");
	return rc;
}

static int user_set(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"given-name", required_argument, NULL, 'G'},
		{"family-name", required_argument, NULL, 'F'},
		{"email", required_argument, NULL, 'e'},
		{"email-verified", required_argument, NULL, 'V'},
		{"domain", required_argument, NULL, 'd'},
		{"enabled", required_argument, NULL, 'E'},
		{"ou", required_argument, NULL, 'o' | AF_CLI_OPT_MANY},
		{"group", required_argument, NULL, 'g' | AF_CLI_OPT_MANY},
		{"password-change", required_argument, NULL, 'C'},
		AF_CTL_OPT_END,
	};
	static const af_ctl_patch set = {
		"user set",	 opts,		 "NAME", "PATCH", "users/{}",
		user_set_option, af_ctl_print_kv};

	return af_ctl_run_patch(ctl, argc, argv, &set, NULL);
}

/*
 * PUT users/NAME/password: "<before>NAME<after>", and that a lock stays
 * when the user is locked (a new password lifts none: "user unlock"
 * does).
 */
static int passwd_said(json_t *answer, const char *before, const char *after)
{
	const char *name =
		json_string_value(json_object_get(answer, "username"));
	int rc;

	if (name == NULL)
		return af_ctl_bad_answer();
	rc = af_ctl_confirm(before, name, after, NULL);
	if (rc == AF_CTL_EXIT_OK &&
	    json_is_true(json_object_get(answer, "locked")))
		rc = af_ctl_confirm(
			"the user is still locked by failed sign-ins: "
			"authflowctl user unlock ",
			name, " lifts the lock", NULL);
	return rc;
}

static int print_passwd(json_t *answer)
{
	return passwd_said(answer, "set the password of user ", NULL);
}

/*
 * The answer does not say the password is temporary, so the printer
 * does: the administrator is to tell the user what to expect.
 */
static int print_temporary_passwd(json_t *answer)
{
	return passwd_said(answer, "set a temporary password for user ",
			   ": it must be changed at the next sign-in");
}

static int user_passwd(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"password-stdin", no_argument, NULL, 'P'},
		{"temporary", no_argument, NULL, 'T'},
		AF_CTL_OPT_END,
	};
	char path[AF_CTL_PATH_BUF], user[AF_CTL_PATH_BUF];
	json_t *body = NULL, *found = NULL;
	af_cli_optparse p;
	int c, rc, pw_stdin = 0, temporary = 0;

	af_ctl_opt_begin(&p, "user passwd", argc, argv, opts);
	for (;;) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == AF_CTL_OPT_STOP)
			return p.rc;
		if (c == 'T')
			temporary = 1;
		else
			pw_stdin = 1;
	}
	rc = af_cli_positionals(&p, 1, NULL, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_make_path(ctl, path, "users/{}/password",
				      argv[optind], NULL);
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_make_path(ctl, user, "users/{}", argv[optind],
				      NULL);
	/* Refuse before the password is typed, not after: no token, or
	 * no such user (looked up only when it is to be typed). */
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_need_token(ctl);
	if (rc == AF_CTL_EXIT_OK && !pw_stdin && isatty(STDIN_FILENO))
		rc = af_ctl_call(ctl, "GET", user, NULL, &found);
	json_decref(found);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	body = json_object();
	if (body == NULL)
		return af_ctl_no_memory();
	/* Sent only when asked for: the server's default is a lasting one. */
	rc = temporary ? set_bool(body, "temporary", 1) : AF_CTL_EXIT_OK;
	if (rc == AF_CTL_EXIT_OK)
		rc = add_password(body, pw_stdin);
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_call_print(ctl, "PUT", path, body,
				       temporary ? print_temporary_passwd
						 : print_passwd);
	json_decref(body);
	return rc;
}

/*
 * user list [--inactive-days N]: every user, or those who have neither
 * signed in nor been made in the last N days.
 */
static int user_list(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"inactive-days", required_argument, NULL, 'd'},
		AF_CTL_OPT_END,
	};
	char path[sizeof("users?inactive_days=") + 24];
	af_cli_optparse p;
	long days = 0;
	int c, rc;

	af_ctl_opt_begin(&p, "user list", argc, argv, opts);
	for (;;) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == AF_CTL_OPT_STOP)
			return p.rc;
		if (days > 0)
			return af_ctl_usage_fail(
				"user list: --inactive-days given twice");
		if (af_ctl_parse_long(optarg, 1, INACTIVE_DAYS_MAX, &days) !=
		    AF_CTL_OK)
			return af_ctl_usage_fail(
				"user list: --inactive-days takes a number of "
				"days 1..%d, not '%s'",
				INACTIVE_DAYS_MAX, optarg);
	}
	rc = af_cli_positionals(&p, 0, NULL, "");
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	if (days > 0)
		(void)snprintf(path, sizeof(path), "users?inactive_days=%ld",
			       days);
	else
		(void)snprintf(path, sizeof(path), "users");
	return af_ctl_call_print(ctl, "GET", path, NULL, print_users);
}

static int user_remove(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"user remove", "NAME",	   1,
		"DELETE",      "users/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s, "removed user ");
}

static int user_unlock(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"user unlock",	     "NAME", 1, "POST", "users/{}/unlock",
		af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s, "unlocked user ");
}

int af_ctl_cmd_user(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple show = {
		"user show", "NAME", 1, "GET", "users/{}", af_ctl_print_kv};
	static const af_ctl_verb verbs[] = {
		{"add", user_add, NULL},       {"list", user_list, NULL},
		{"show", NULL, &show},	       {"remove", user_remove, NULL},
		{"unlock", user_unlock, NULL}, {"set", user_set, NULL},
		{"passwd", user_passwd, NULL},
	};

	return af_ctl_run_verb(ctl, "user", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}

/* ---- groups and OUs ---- */

/*
 * group add and ou add: NAME, and the options of opts (--description for
 * a group), POSTed to path.
 */
static int add_named(af_ctl *ctl, int argc, char **argv, const char *cmd,
		     const char *path, const struct option *opts)
{
	json_t *spec = json_object();
	af_cli_optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (spec == NULL)
		return af_ctl_no_memory();
	af_ctl_opt_begin(&p, cmd, argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1 || c == AF_CTL_OPT_STOP)
			break;
		rc = set_string(spec, "description", optarg, p.cmd,
				"--description");
	}
	if (c == AF_CTL_OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, 1, NULL, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = set_string(spec, "name", argv[optind], p.cmd, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_call_print(ctl, "POST", path, spec,
				       af_ctl_print_kv);
out:
	json_decref(spec);
	return rc;
}

static int group_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"description", required_argument, NULL, 'D'},
		AF_CTL_OPT_END,
	};

	return add_named(ctl, argc, argv, "group add", "groups", opts);
}

/* group set NAME --description D: an empty D removes the description. */
static int group_set_option(json_t *patch, int c, const char *arg,
			    const char *cmd, void *state)
{
	(void)c;
	(void)state;
	if (arg[0] != '\0')
		return set_string(patch, "description", arg, cmd,
				  "--description");
	if (json_object_set_new(patch, "description", json_null()) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

static int group_set(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"description", required_argument, NULL, 'D'},
		AF_CTL_OPT_END,
	};
	static const af_ctl_patch set = {
		"group set",	  opts,		  "NAME", "PATCH", "groups/{}",
		group_set_option, af_ctl_print_kv};

	return af_ctl_run_patch(ctl, argc, argv, &set, NULL);
}

static int group_remove(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"group remove", "NAME",	     1,
		"DELETE",	"groups/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s, "removed group ");
}

static int group_add_member(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"group add-member",	"NAME and USER",     2, "PUT",
		"groups/{}/members/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_member(ctl, argc, argv, &s, "added ",
					 " to group ",
					 " was already in group ");
}

static int group_remove_member(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"group remove-member",	"NAME and USER",     2, "DELETE",
		"groups/{}/members/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_member(ctl, argc, argv, &s, "removed ",
					 " from group ", " was not in group ");
}

int af_ctl_cmd_group(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple list = {"group list", NULL,	      0, "GET",
					   "groups",	 print_groups};
	static const af_ctl_simple show = {
		"group show", "NAME", 1, "GET", "groups/{}", af_ctl_print_kv};
	static const af_ctl_verb verbs[] = {
		{"add", group_add, NULL},
		{"set", group_set, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"remove", group_remove, NULL},
		{"add-member", group_add_member, NULL},
		{"remove-member", group_remove_member, NULL},
	};

	return af_ctl_run_verb(ctl, "group", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}

static int ou_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {AF_CTL_OPT_END};

	return add_named(ctl, argc, argv, "ou add", "ous", opts);
}

static int ou_remove(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {"ou remove", "NAME",
					1,	     "DELETE",
					"ous/{}",    af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s, "removed OU ");
}

static int ou_add_member(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"ou add-member", "NAME and USER",     2,
		"PUT",		 "ous/{}/members/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_member(ctl, argc, argv, &s, "added ",
					 " to OU ", " was already in OU ");
}

static int ou_remove_member(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"ou remove-member", "NAME and USER",	 2,
		"DELETE",	    "ous/{}/members/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_member(ctl, argc, argv, &s, "removed ",
					 " from OU ", " was not in OU ");
}

int af_ctl_cmd_ou(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple list = {"ou list", NULL,  0,
					   "GET",     "ous", print_ous};
	static const af_ctl_simple show = {"ou show", "NAME",	      1, "GET",
					   "ous/{}",  af_ctl_print_kv};
	static const af_ctl_verb verbs[] = {
		{"add", ou_add, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"remove", ou_remove, NULL},
		{"add-member", ou_add_member, NULL},
		{"remove-member", ou_remove_member, NULL},
	};

	return af_ctl_run_verb(ctl, "ou", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}

/* ---- policies ---- */

/*
 * --number-matching: on or off for the policy's users, or "workflow" (as
 * the workflow setting says: null).
 */
static int set_number_matching(json_t *spec, const char *value, const char *cmd)
{
	int on = 0;

	if (strcmp(value, "workflow") == 0)
		return json_object_set_new(spec, "number_matching",
					   json_null()) == 0
			       ? AF_CTL_EXIT_OK
			       : af_ctl_no_memory();
	if (af_ctl_parse_onoff(value, &on) != AF_CTL_OK)
		return af_ctl_usage_fail("%s: --number-matching takes on, off "
					 "or workflow, not '%s'",
					 cmd, value);
	return set_bool(spec, "number_matching", on);
}

/*
 * policy add (--sso and --remote-access required) and policy set, with
 * --number-matching.
 */
static int policy_edit(af_ctl *ctl, int argc, char **argv, int is_add)
{
	static const struct option opts[] = {
		{"sso", required_argument, NULL, 's'},
		{"remote-access", required_argument, NULL, 'r'},
		{"number-matching", required_argument, NULL, 'n'},
		AF_CTL_OPT_END,
	};
	const char *cmd = is_add ? "policy add" : "policy set";
	json_t *spec = json_object();
	af_cli_optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (spec == NULL)
		return af_ctl_no_memory();
	af_ctl_opt_begin(&p, cmd, argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1 || c == AF_CTL_OPT_STOP)
			break;
		if (c == 's')
			rc = set_onoff(spec, "sso", optarg, cmd, "--sso");
		else if (c == 'n')
			rc = set_number_matching(spec, optarg, cmd);
		else
			rc = set_onoff(spec, "remote_access", optarg, cmd,
				       "--remote-access");
	}
	if (c == AF_CTL_OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, 1, NULL, "NAME");
	if (rc == AF_CTL_EXIT_OK && is_add &&
	    (json_object_get(spec, "sso") == NULL ||
	     json_object_get(spec, "remote_access") == NULL))
		rc = af_ctl_usage_fail("%s: --sso and --remote-access are "
				       "required",
				       cmd);
	if (rc == AF_CTL_EXIT_OK && !is_add && json_object_size(spec) == 0)
		rc = af_ctl_usage_fail("%s: nothing to change", cmd);
	if (rc == AF_CTL_EXIT_OK && is_add) {
		rc = set_string(spec, "name", argv[optind], cmd, "NAME");
		if (rc == AF_CTL_EXIT_OK)
			rc = af_ctl_call_print(ctl, "POST", "policies", spec,
					       print_policy);
	} else if (rc == AF_CTL_EXIT_OK) {
		rc = af_ctl_send_named(ctl, "PATCH", "policies/{}",
				       argv[optind], spec, print_policy);
	}
out:
	json_decref(spec);
	return rc;
}

static int policy_add(af_ctl *ctl, int argc, char **argv)
{
	return policy_edit(ctl, argc, argv, 1);
}

static int policy_set(af_ctl *ctl, int argc, char **argv)
{
	return policy_edit(ctl, argc, argv, 0);
}

/* policy assign / unassign NAME with exactly one of --user --group --ou. */
static int policy_target(af_ctl *ctl, int argc, char **argv, const char *op)
{
	static const struct option opts[] = {
		{"user", required_argument, NULL, 'u'},
		{"group", required_argument, NULL, 'g'},
		{"ou", required_argument, NULL, 'o'},
		AF_CTL_OPT_END,
	};
	const char *cmd =
		strcmp(op, "assign") == 0 ? "policy assign" : "policy unassign";
	const char *tmpl = strcmp(op, "assign") == 0 ? "policies/{}/assign"
						     : "policies/{}/unassign";
	json_t *body = json_object();
	af_cli_optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (body == NULL)
		return af_ctl_no_memory();
	af_ctl_opt_begin(&p, cmd, argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1 || c == AF_CTL_OPT_STOP)
			break;
		if (json_object_size(body) != 0)
			rc = af_ctl_usage_fail("%s: give one of --user, "
					       "--group, --ou",
					       cmd);
		else
			rc = set_string(body,
					c == 'u'   ? "user"
					: c == 'g' ? "group"
						   : "ou",
					optarg, cmd, "--user/--group/--ou");
	}
	if (c == AF_CTL_OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, 1, NULL, "NAME");
	if (rc == AF_CTL_EXIT_OK && json_object_size(body) != 1)
		rc = af_ctl_usage_fail("%s: give one of --user, --group, --ou",
				       cmd);
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_send_named(ctl, "POST", tmpl, argv[optind], body,
				       print_policy);
out:
	json_decref(body);
	return rc;
}

static int policy_assign(af_ctl *ctl, int argc, char **argv)
{
	return policy_target(ctl, argc, argv, "assign");
}

static int policy_unassign(af_ctl *ctl, int argc, char **argv)
{
	return policy_target(ctl, argc, argv, "unassign");
}

static int policy_remove(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"policy remove", "NAME",	1,
		"DELETE",	 "policies/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s, "removed policy ");
}

int af_ctl_cmd_policy(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple list = {
		"policy list", NULL, 0, "GET", "policies", print_policies};
	static const af_ctl_simple show = {"policy show", "NAME",      1, "GET",
					   "policies/{}", print_policy};
	static const af_ctl_verb verbs[] = {
		{"add", policy_add, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"set", policy_set, NULL},
		{"remove", policy_remove, NULL},
		{"assign", policy_assign, NULL},
		{"unassign", policy_unassign, NULL},
	};

	return af_ctl_run_verb(ctl, "policy", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}

/* ---- applications ---- */

/* The options app add and app set share; 1 when c was one of them. */
/* --refresh-grace SECONDS into spec's refresh_grace_seconds. */
static int set_grace(json_t *spec, const char *arg, const char *cmd)
{
	long s = 0;

	if (af_ctl_parse_long(arg, 0, REFRESH_GRACE_MAX, &s) != AF_CTL_OK)
		return af_ctl_usage_fail(
			"%s: --refresh-grace takes a number of "
			"seconds 0..%d, not '%s'",
			cmd, REFRESH_GRACE_MAX, arg);
	if (json_object_set_new(spec, "refresh_grace_seconds",
				json_integer(s)) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

static int app_field(json_t *spec, int c, const char *cmd, int *rc)
{
	switch (c) {
	case 'D':
		*rc = set_string(spec, "display_name", optarg, cmd,
				 "--display-name");
		return 1;
	case 'r':
		*rc = append(spec, "redirect_uris", optarg, cmd,
			     "--redirect-uri");
		return 1;
	case 'l':
		*rc = append(spec, "post_logout_uris", optarg, cmd,
			     "--post-logout-uri");
		return 1;
	case 'G':
		*rc = set_grace(spec, optarg, cmd);
		return 1;
	case 'B':
		/* "" takes the URI away (app set). */
		*rc = set_string(spec, "backchannel_logout_uri", optarg, cmd,
				 "--backchannel-logout-uri");
		return 1;
	default:
		return 0;
	}
}

/* Adds NAME=ATTR to the claim mapping of spec (made when absent). */
static int add_claim(json_t *spec, const char *arg, const char *cmd)
{
	json_t *claims = json_object_get(spec, "claims");

	if (claims == NULL) {
		claims = json_object();
		if (claims == NULL ||
		    json_object_set_new(spec, "claims", claims) != 0)
			return af_ctl_no_memory();
	}
	return opt_value(af_ctl_claim(claims, arg), cmd, "--claim", arg);
}

static int app_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"display-name", required_argument, NULL, 'D'},
		{"redirect-uri", required_argument, NULL,
		 'r' | AF_CLI_OPT_MANY},
		{"post-logout-uri", required_argument, NULL,
		 'l' | AF_CLI_OPT_MANY},
		{"backchannel-logout-uri", required_argument, NULL, 'B'},
		{"allow-refresh", no_argument, NULL, 'R'},
		{"refresh-grace", required_argument, NULL, 'G'},
		{"jwt-access-tokens", no_argument, NULL, 'J'},
		{"admins-may-deploy", no_argument, NULL, 'A'},
		{"claim", required_argument, NULL, 'c' | AF_CLI_OPT_MANY},
		AF_CTL_OPT_END,
	};
	json_t *spec = json_object();
	af_cli_optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (spec == NULL)
		return af_ctl_no_memory();
	af_ctl_opt_begin(&p, "app add", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1 || c == AF_CTL_OPT_STOP)
			break;
		if (c == 'n')
			rc = set_string(spec, "name", optarg, p.cmd, "--name");
		else if (c == 'R')
			rc = set_bool(spec, "allow_refresh", 1);
		else if (c == 'A')
			rc = set_bool(spec, "admins_may_deploy", 1);
		else if (c == 'J')
			rc = set_string(spec, "access_token_format", "jwt",
					p.cmd, "--jwt-access-tokens");
		else if (c == 'c')
			rc = add_claim(spec, optarg, p.cmd);
		else if (!app_field(spec, c, p.cmd, &rc))
			rc = af_ctl_usage_fail("app add: bad option");
	}
	if (c == AF_CTL_OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, 0, NULL, "");
	if (rc == AF_CTL_EXIT_OK && json_object_get(spec, "name") == NULL)
		rc = af_ctl_usage_fail("app add: --name is required");
	if (rc == AF_CTL_EXIT_OK &&
	    json_object_get(spec, "redirect_uris") == NULL)
		rc = af_ctl_usage_fail("app add: at least one --redirect-uri "
				       "is required");
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_call_print(ctl, "POST", "apps", spec,
				       print_new_app);
out:
	json_decref(spec);
	return rc;
}

static int app_set_option(json_t *patch, int c, const char *arg,
			  const char *cmd, void *state)
{
	int rc = AF_CTL_EXIT_OK, on = 0;

	(void)state;
	if (c == 'E')
		return set_onoff(patch, "enabled", arg, cmd, "--enabled");
	if (c == 'R')
		return set_onoff(patch, "allow_refresh", arg, cmd,
				 "--allow-refresh");
	if (c == 'A')
		return set_onoff(patch, "admins_may_deploy", arg, cmd,
				 "--admins-may-deploy");
	if (c == 'n')
		return set_string(patch, "name", arg, cmd, "--name");
	if (c == 'J') {
		rc = af_ctl_parse_onoff(arg, &on);
		if (rc != AF_CTL_OK)
			return af_ctl_usage_fail(
				"%s: --jwt-access-tokens takes "
				"on or off, not '%s'",
				cmd, arg);
		return set_string(patch, "access_token_format",
				  on ? "jwt" : "opaque", cmd,
				  "--jwt-access-tokens");
	}
	/* The claims given replace the whole mapping; --no-claims empties it.
	 */
	if (c == 'c') {
		const json_t *claims = json_object_get(patch, "claims");

		/* Only --no-claims leaves the mapping empty. */
		if (claims != NULL && json_object_size(claims) == 0)
			return af_ctl_usage_fail("%s: --no-claims and --claim "
						 "together",
						 cmd);
		return add_claim(patch, arg, cmd);
	}
	if (c == 'N')
		return json_object_get(patch, "claims") != NULL
			       ? af_ctl_usage_fail("%s: --no-claims and "
						   "--claim together",
						   cmd)
		       : json_object_set_new(patch, "claims", json_object()) ==
				       0
			       ? AF_CTL_EXIT_OK
			       : af_ctl_no_memory();
	if (!app_field(patch, c, cmd, &rc))
		return af_ctl_usage_fail("app set: bad option");
	return rc;
}

static int app_set(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"display-name", required_argument, NULL, 'D'},
		{"redirect-uri", required_argument, NULL,
		 'r' | AF_CLI_OPT_MANY},
		{"post-logout-uri", required_argument, NULL,
		 'l' | AF_CLI_OPT_MANY},
		{"backchannel-logout-uri", required_argument, NULL, 'B'},
		{"enabled", required_argument, NULL, 'E'},
		{"allow-refresh", required_argument, NULL, 'R'},
		{"refresh-grace", required_argument, NULL, 'G'},
		{"admins-may-deploy", required_argument, NULL, 'A'},
		{"jwt-access-tokens", required_argument, NULL, 'J'},
		{"claim", required_argument, NULL, 'c' | AF_CLI_OPT_MANY},
		{"no-claims", no_argument, NULL, 'N'},
		AF_CTL_OPT_END,
	};
	static const af_ctl_patch set = {
		"app set", opts,	   "ID",	   "PATCH",
		"apps/{}", app_set_option, af_ctl_print_kv};

	return af_ctl_run_patch(ctl, argc, argv, &set, NULL);
}

/* The body member and the option of a deployment target's option. */
static const char *target_member(int c)
{
	return c == 'd'	  ? "domains"
	       : c == 'o' ? "ous"
	       : c == 'g' ? "groups"
			  : "users";
}

static const char *target_option(int c)
{
	return c == 'd'	  ? "--domain"
	       : c == 'o' ? "--ou"
	       : c == 'g' ? "--group"
			  : "--user";
}

/* The targets of app deploy / undeploy, always all four arrays. */
static json_t *deploy_body(void)
{
	return json_pack("{s:[], s:[], s:[], s:[]}", "domains", "ous", "groups",
			 "users");
}

static int app_target(af_ctl *ctl, int argc, char **argv, const char *op)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, 'a'},
		{"domain", required_argument, NULL, 'd' | AF_CLI_OPT_MANY},
		{"ou", required_argument, NULL, 'o' | AF_CLI_OPT_MANY},
		{"group", required_argument, NULL, 'g' | AF_CLI_OPT_MANY},
		{"user", required_argument, NULL, 'u' | AF_CLI_OPT_MANY},
		AF_CTL_OPT_END,
	};
	const int deploy = strcmp(op, "deploy") == 0;
	const char *cmd = deploy ? "app deploy" : "app undeploy";
	json_t *body = deploy_body();
	af_cli_optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK, all = 0, some = 0;

	if (body == NULL)
		return af_ctl_no_memory();
	af_ctl_opt_begin(&p, cmd, argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1 || c == AF_CTL_OPT_STOP)
			break;
		if (c == 'a') {
			all = 1;
			continue;
		}
		some = 1;
		rc = append(body, target_member(c), optarg, cmd,
			    target_option(c));
	}
	if (c == AF_CTL_OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, 1, NULL, "ID");
	if (rc == AF_CTL_EXIT_OK && all == (some > 0))
		rc = af_ctl_usage_fail("%s: give --all, or one or more of "
				       "--domain, --ou, --group, --user",
				       cmd);
	if (rc == AF_CTL_EXIT_OK && all) {
		json_decref(body);
		body = json_pack("{s:b}", "all", 1);
		if (body == NULL)
			rc = af_ctl_no_memory();
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_send_named(ctl, "POST",
				       deploy ? "apps/{}/deploy"
					      : "apps/{}/undeploy",
				       argv[optind], body, af_ctl_print_kv);
out:
	json_decref(body);
	return rc;
}

static int app_deploy(af_ctl *ctl, int argc, char **argv)
{
	return app_target(ctl, argc, argv, "deploy");
}

static int app_undeploy(af_ctl *ctl, int argc, char **argv)
{
	return app_target(ctl, argc, argv, "undeploy");
}

static int app_remove(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"app remove", "ID",	 1,
		"DELETE",     "apps/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s, "removed app ");
}

/*
 * app rotate-secret ID [--keep-previous DURATION]: a new client secret,
 * the one it replaces working that much longer (none: it stops at once).
 */
static int app_rotate(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"keep-previous", required_argument, NULL, 'k'},
		AF_CTL_OPT_END,
	};
	json_t *body = NULL;
	af_cli_optparse p;
	long keep = -1;
	int c, rc;

	af_ctl_opt_begin(&p, "app rotate-secret", argc, argv, opts);
	for (;;) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == AF_CTL_OPT_STOP)
			return p.rc;
		if (af_ctl_parse_duration(optarg, 0, &keep) != AF_CTL_OK ||
		    keep > KEEP_PREVIOUS_MAX)
			return af_ctl_usage_fail(
				"app rotate-secret: --keep-previous takes 0 "
				"or a duration up to 30d, such as 1h or 7d, "
				"not '%s'",
				optarg);
	}
	rc = af_cli_positionals(&p, 1, NULL, "ID");
	if (rc == AF_CTL_EXIT_OK && keep >= 0) {
		body = json_pack("{s:I}", "keep_previous_s", (json_int_t)keep);
		if (body == NULL)
			return af_ctl_no_memory();
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_send_named(ctl, "POST", "apps/{}/rotate-secret",
				       argv[optind], body, print_new_secret);
	json_decref(body);
	return rc;
}

int af_ctl_cmd_app(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple list = {"app list", NULL,   0,
					   "GET",      "apps", print_apps};
	static const af_ctl_simple show = {"app show", "ID",	       1, "GET",
					   "apps/{}",  af_ctl_print_kv};
	static const af_ctl_simple drop_previous = {
		"app drop-previous-secret", "ID",	    1, "DELETE",
		"apps/{}/previous-secret",  af_ctl_print_kv};
	static const af_ctl_verb verbs[] = {
		{"add", app_add, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"remove", app_remove, NULL},
		{"rotate-secret", app_rotate, NULL},
		{"drop-previous-secret", NULL, &drop_previous},
		{"set", app_set, NULL},
		{"deploy", app_deploy, NULL},
		{"undeploy", app_undeploy, NULL},
	};

	return af_ctl_run_verb(ctl, "app", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}

/* ---- keys, sessions, audit ---- */

/*
 * keys rotate [--after DURATION]: a new signing key now, or published now
 * and signing from then on (a planned rotation).
 */
static int keys_rotate(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"after", required_argument, NULL, 'a'},
		AF_CTL_OPT_END,
	};
	json_t *body = NULL;
	af_cli_optparse p;
	long after = -1;
	int c, rc;

	af_ctl_opt_begin(&p, "keys rotate", argc, argv, opts);
	for (;;) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == AF_CTL_OPT_STOP)
			return p.rc;
		/* From what relying parties may cache of /jwks to a day. */
		if (af_ctl_parse_duration(optarg, 0, &after) != AF_CTL_OK ||
		    after > JOSE_ROTATE_AHEAD_MAX_S ||
		    (after > 0 && after < JOSE_JWKS_MAX_AGE_S))
			return af_ctl_usage_fail(
				"keys rotate: --after takes 0 or a duration "
				"from 5m (relying parties may keep /jwks that "
				"long) up to a day, such as 10m or 1h, not "
				"'%s'",
				optarg);
	}
	rc = af_cli_positionals(&p, 0, NULL, "");
	if (rc == AF_CTL_EXIT_OK && after >= 0) {
		body = json_pack("{s:I}", "after_s", (json_int_t)after);
		if (body == NULL)
			return af_ctl_no_memory();
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_call_print(ctl, "POST", "keys/rotate", body,
				       print_rotated_key);
	json_decref(body);
	return rc;
}

int af_ctl_cmd_keys(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple status = {"keys status", NULL,   0,
					     "GET",	    "keys", print_keys};
	static const af_ctl_simple retire = {
		"keys retire", "KID", 1, "DELETE", "keys/{}", print_keys};
	static const af_ctl_verb verbs[] = {
		{"status", NULL, &status},
		{"rotate", keys_rotate, NULL},
		{"retire", NULL, &retire},
	};

	return af_ctl_run_verb(ctl, "keys", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}

static int print_ended(json_t *answer)
{
	if (!json_is_integer(json_object_get(answer, "ended")))
		return af_ctl_bad_answer();
	return af_ctl_print_kv(answer);
}

int af_ctl_cmd_sessions(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple list = {
		"sessions list",    "USER",	   1, "GET",
		"sessions?user={}", print_sessions};
	static const af_ctl_simple end = {
		"sessions end",	    "USER",	1, "DELETE",
		"sessions?user={}", print_ended};
	static const af_ctl_simple end_one = {
		"sessions end-one",	   "USER and SID", 2, "DELETE",
		"sessions?user={}&sid={}", print_ended};
	static const af_ctl_simple tokens = {
		"sessions tokens", "USER",	1, "GET",
		"grants?user={}",  print_grants};
	static const af_ctl_verb verbs[] = {
		{"list", NULL, &list},
		{"end", NULL, &end},
		{"end-one", NULL, &end_one},
		{"tokens", NULL, &tokens},
	};

	return af_ctl_run_verb(ctl, "sessions", verbs, AF_CTL_NELEMS(verbs),
			       argc, argv);
}

/* Adds one filter of "audit" to path; an exit status. */
static int audit_query(char *path, const char *name, const char *value)
{
	af_ctl_http_status st =
		af_ctl_http_query_add(path, AF_CTL_PATH_BUF, name, value);

	if (st == AF_CTL_HTTP_OK)
		return AF_CTL_EXIT_OK;
	if (st == AF_CTL_HTTP_ERR_NOMEM)
		return af_ctl_no_memory();
	return af_ctl_usage_fail("audit: --%s: empty or too long", name);
}

/*
 * audit [--limit N] [--before SEQ] [--actor A] [--action A] [--target T]
 * [--user U] [--since WHEN] [--until WHEN]: the newest events, of those
 * the filters keep.
 */
int af_ctl_cmd_audit(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"limit", required_argument, NULL, 'n'},
		{"before", required_argument, NULL, 'b'},
		{"actor", required_argument, NULL, 'a'},
		{"action", required_argument, NULL, 'A'},
		{"target", required_argument, NULL, 't'},
		{"user", required_argument, NULL, 'u'},
		{"since", required_argument, NULL, 's'},
		{"until", required_argument, NULL, 'U'},
		AF_CTL_OPT_END,
	};
	char path[AF_CTL_PATH_BUF], num[32];
	af_cli_optparse p;
	long limit = AUDIT_LIMIT_DEF, before = 0;
	long long since = 0, until = 0, now = (long long)af_now();
	int c, rc = AF_CTL_EXIT_OK;

	snprintf(path, sizeof(path), "audit");
	af_ctl_opt_begin(&p, "audit", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == AF_CTL_OPT_STOP)
			return p.rc;
		if (c == 'n' && af_ctl_parse_long(optarg, 1, AUDIT_LIMIT_MAX,
						  &limit) != AF_CTL_OK)
			rc = af_ctl_usage_fail("audit: --limit must be "
					       "1..%d, not '%s'",
					       AUDIT_LIMIT_MAX, optarg);
		else if (c == 'b' && af_ctl_parse_long(optarg, 1, AUDIT_SEQ_MAX,
						       &before) != AF_CTL_OK)
			rc = af_ctl_usage_fail("audit: --before takes an "
					       "event number, not '%s'",
					       optarg);
		else if ((c == 's' || c == 'U') &&
			 af_ctl_parse_when(optarg, now,
					   c == 's' ? &since : &until) !=
				 AF_CTL_OK)
			rc = af_ctl_usage_fail(
				"audit: --%s takes a duration ago such as 30m, "
				"24h or 7d, or a UTC date or time such as "
				"2026-12-01 or 2026-12-01T08:30Z, not '%s'",
				c == 's' ? "since" : "until", optarg);
		else if (c == 'a' || c == 'A' || c == 't' || c == 'u')
			rc = audit_query(path,
					 c == 'a'   ? "actor"
					 : c == 'A' ? "action"
					 : c == 't' ? "target"
						    : "user",
					 optarg);
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, 0, NULL, "");
	snprintf(num, sizeof(num), "%ld", limit);
	if (rc == AF_CTL_EXIT_OK)
		rc = audit_query(path, "limit", num);
	snprintf(num, sizeof(num), "%ld", before);
	if (rc == AF_CTL_EXIT_OK && before > 0)
		rc = audit_query(path, "before", num);
	if (rc == AF_CTL_EXIT_OK && since > 0 && until > 0 && until <= since)
		rc = af_ctl_usage_fail("audit: --until must be after --since");
	snprintf(num, sizeof(num), "%lld", since);
	if (rc == AF_CTL_EXIT_OK && since > 0)
		rc = audit_query(path, "since", num);
	snprintf(num, sizeof(num), "%lld", until);
	if (rc == AF_CTL_EXIT_OK && until > 0)
		rc = audit_query(path, "until", num);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return af_ctl_call_print(ctl, "GET", path, NULL, print_audit);
}
