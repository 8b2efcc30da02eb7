/*
 * Fuzz target: the memory store's state file (state_dir/store.aof), as
 * store_check_state() and store_open() read it back at start. The file
 * is a disk's word: a crash may cut its last record, a disk may damage
 * any byte, an operator may copy in a file of another version. Every
 * record is checksummed, so random bytes would stop at the first
 * checksum; the input is instead a list of steps that write the file:
 *
 *   byte 0         bit 0: the next 8 bytes are the file's header, as
 *                  they are, in place of "AFSTORE1"
 *   then, each step a tag byte t:
 *     t & 0x80     raw bytes: n = next byte, then n bytes as they are
 *                  (a torn or zero-filled tail, damage, a stray header)
 *     otherwise    a record with a correct checksum unless t & 0x08,
 *                  a correct length complement unless t & 0x10:
 *                  op = t & 0x07 (1 set, 2 delete, 3 set add, 4 set
 *                  remove; 0 and 5..7 are no operation at all);
 *                  expiry: the next 8 bytes (little-endian ms since the
 *                  epoch, any value) when t & 0x20, else an hour from
 *                  now when t & 0x40, else none;
 *                  then a key length byte and the key, a 2-byte
 *                  little-endian data length and the data (cut at the
 *                  input's end).
 *
 * Nothing may crash or leak. store_check_state() must judge the file as
 * store_open() does (both accept, or both refuse it as corrupt), each
 * refusal is one line, and a file the store opened (its torn tail cut,
 * perhaps compacted) and closed again must open again.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/store.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_NAME  "store.aof"
#define INPUT_MAX  ((size_t)256 * 1024)
#define FILE_MAX   ((size_t)2 * INPUT_MAX)
#define HEADER_LEN 8u
#define PRE_LEN	   (8u + 32u) /* length, its complement, SHA-256 */
#define BODY_FIXED (1u + 8u + 4u + 4u)

/* What is left of the input. */
struct input {
	const uint8_t *p;
	size_t n;
};

/* The file being written. */
struct file {
	uint8_t *data;
	size_t len;
};

static size_t take(struct input *in, size_t want, const uint8_t **out)
{
	size_t n = want < in->n ? want : in->n;

	*out = in->p;
	in->p += n;
	in->n -= n;
	return n;
}

static unsigned take_byte(struct input *in)
{
	const uint8_t *b;

	return take(in, 1, &b) == 1 ? b[0] : 0;
}

static void put(struct file *f, const void *p, size_t n)
{
	if (n > FILE_MAX - f->len)
		n = FILE_MAX - f->len;
	memcpy(f->data + f->len, p, n);
	f->len += n;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	unsigned i;

	for (i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* One record of tag t, its fields read from in. */
static void put_record(struct file *f, struct input *in, unsigned t)
{
	uint8_t pre[PRE_LEN], fixed[BODY_FIXED], *body;
	const uint8_t *key, *val, *ex;
	uint64_t expire = 0;
	size_t klen, dlen, blen;

	if (t & 0x20) {
		size_t n = take(in, 8, &ex);

		expire = get_le(ex, n);
	} else if (t & 0x40)
		expire = ((uint64_t)time(NULL) + 3600) * 1000;
	klen = take(in, take_byte(in), &key);
	dlen = take_byte(in);
	dlen |= (size_t)take_byte(in) << 8;
	dlen = take(in, dlen, &val);
	blen = BODY_FIXED + klen + dlen;
	body = malloc(blen);
	if (body == NULL)
		abort();
	fixed[0] = (uint8_t)(t & 0x07);
	put_le(fixed + 1, expire, 8);
	put_le(fixed + 9, klen, 4);
	memcpy(body, fixed, 13);
	memcpy(body + 13, key, klen);
	put_le(body + 13 + klen, dlen, 4);
	memcpy(body + 17 + klen, val, dlen);
	put_le(pre, blen, 4);
	put_le(pre + 4, (uint32_t)~blen ^ (t & 0x10 ? 1u : 0u), 4);
	af_sha256(body, blen, pre + 8);
	if (t & 0x08)
		pre[8] ^= 0x01;
	put(f, pre, sizeof(pre));
	put(f, body, blen);
	free(body);
}

/* The next want bytes of in, as they are. */
static void put_raw(struct file *f, struct input *in, size_t want)
{
	const uint8_t *raw;
	size_t n = take(in, want, &raw);

	put(f, raw, n);
}

static void build(struct file *f, struct input *in)
{
	unsigned t;

	if (take_byte(in) & 0x01)
		put_raw(f, in, HEADER_LEN);
	else
		put(f, "AFSTORE1", HEADER_LEN);
	while (in->n > 0 && f->len < FILE_MAX) {
		t = take_byte(in);
		if (t & 0x80)
			put_raw(f, in, take_byte(in));
		else
			put_record(f, in, t);
	}
}

/* Empties dir: the state file and the side files of cut tails. */
static void empty_dir(const char *dir)
{
	char path[4096];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     de->d_name) >= sizeof(path) ||
		    unlink(path) != 0)
			abort();
	}
	closedir(d);
}

static void write_file(const char *dir, const struct file *f)
{
	char path[4096];
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/" FILE_NAME, dir) >=
	    sizeof(path))
		abort();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (off < f->len) {
		n = write(fd, f->data + off, f->len - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	close(fd);
}

/* A refusal's message is one line, and says something. */
static void one_line(store_status rc, const char *err)
{
	if (rc != STORE_OK && (err[0] == '\0' || strchr(err, '\n') != NULL))
		abort();
}

static store_status open_close(const store_options *o)
{
	char err[512] = "";
	store_ctx *st = NULL;
	store_status rc = store_open(o, &st, err, sizeof(err));

	if ((rc == STORE_OK) != (st != NULL))
		abort();
	one_line(rc, err);
	store_close(st);
	return rc;
}

/* A new state folder, on tmpfs when there is one: the store fsyncs. */
static void make_dir(char *dir, size_t cap)
{
	snprintf(dir, cap, "%s/af-fuzz-state.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[64];
	store_options o = {.backend = STORE_BACKEND_MEMORY, .state_dir = dir};
	struct input in = {data, size < INPUT_MAX ? size : INPUT_MAX};
	struct file f = {malloc(FILE_MAX), 0};
	char err[512] = "";
	store_status checked, opened;

	if (f.data == NULL)
		abort();
	build(&f, &in);
	make_dir(dir, sizeof(dir));
	write_file(dir, &f);
	free(f.data);

	checked = store_check_state(&o, err, sizeof(err));
	one_line(checked, err);
	if (checked != STORE_OK && checked != STORE_ERR_CORRUPT)
		abort();
	opened = open_close(&o);
	if (opened != checked)
		abort();
	/* What the store made of the file, it reads again. */
	if (opened == STORE_OK &&
	    (store_check_state(&o, err, sizeof(err)) != STORE_OK ||
	     open_close(&o) != STORE_OK))
		abort();
	empty_dir(dir);
	if (rmdir(dir) != 0)
		abort();
	return 0;
}
