/*
 * repl_link - TLS 1.3 PSK link for the replication stream (see
 * repl_link.h)
 *
 * The PSK enters OpenSSL as a resumption-style session: the client's
 * psk_use_session callback and the server's psk_find_session callback
 * both build an SSL_SESSION holding the key, TLS 1.3 and the cipher
 * TLS_AES_128_GCM_SHA256 (the PSK's hash must be the cipher's, SHA-256).
 * The handshake still uses an ephemeral (EC)DH share (psk_dhe_ke), so a
 * leaked key does not open recorded traffic. Tickets are off: every
 * connection uses the external key.
 *
 * Nagle's algorithm is off on the socket: a SYNC or an ACK is a small
 * segment that follows a larger one, and waiting for the peer's
 * delayed acknowledgement (40 ms on Linux) would stall every round.
 * The link already writes whole frames from one buffer, so nothing
 * tiny goes out that could have waited.
 *
 * Buffers: received bytes are cut into frames as they arrive, so the
 * input never contains more than one frame plus one read. Output is one
 * buffer with a write offset; written bytes are dropped in large steps
 * to keep moving memory cheap.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "repl_link.h"
#include "repl_wire.h"
#include "tls.h"
#include "xalloc.h"

#define PSK_IDENTITY "hapost-replication"
#define PSK_LABEL "hapost replication PSK v1"
#define PSK_LEN 32
#define READ_STEP ((size_t)64 << 10)
#define WRITE_STEP ((size_t)1 << 20)
#define KEY_FILE_MAX 4096

enum link_state { LINK_CONNECTING, LINK_HANDSHAKE, LINK_OPEN, LINK_FAILED };

struct repl_link {
	struct ev_loop *loop;
	SSL *ssl;
	int fd;
	enum link_state state;
	char *peer;
	const struct repl_link_ops *ops;
	void *arg;
	ev_io io;
	struct buf in;
	struct buf out;
	size_t out_off;
	bool want_write; /* OpenSSL needs the socket writable */
	int busy;	 /* depth of callbacks into the owner */
	bool free_pending;
};

static int psk_ex_index = -1;

static SSL_SESSION *
psk_session(SSL *ssl)
{
	static const unsigned char aes128gcm[] = {0x13, 0x01};
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	const unsigned char *key = SSL_CTX_get_ex_data(ctx, psk_ex_index);
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *s;

	if (key == NULL || cipher == NULL)
		return NULL;
	s = SSL_SESSION_new();
	if (s == NULL)
		return NULL;
	if (!SSL_SESSION_set1_master_key(s, key, PSK_LEN) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

static int
psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
	   SSL_SESSION **sess)
{
	SSL_SESSION *s = psk_session(ssl);

	if (s == NULL)
		return 0;
	if (md != NULL &&
	    md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
		SSL_SESSION_free(s);
		*sess = NULL;
		return 1;
	}
	*id = (const unsigned char *)PSK_IDENTITY;
	*idlen = strlen(PSK_IDENTITY);
	*sess = s;
	return 1;
}

static int
psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	if (idlen != strlen(PSK_IDENTITY) ||
	    memcmp(id, PSK_IDENTITY, idlen) != 0) {
		*sess = NULL;
		return 1;
	}
	*sess = psk_session(ssl);
	return *sess != NULL;
}

static void
free_key(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	 void *argp)
{
	if (ptr != NULL) {
		OPENSSL_cleanse(ptr, PSK_LEN);
		free(ptr);
	}
}

/* Reads key_file and derives the PSK into key. */
static int
derive_key(const char *key_file, unsigned char *key, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	EVP_MD_CTX *md;
	unsigned len = 0;
	int ret = -1;

	if (read_file(key_file, &text, KEY_FILE_MAX) < 0) {
		snprintf(err, errlen, "replication_key_file %s: %s", key_file,
			 errno == EFBIG ? "larger than 4 KiB"
					: strerror(errno));
		goto out;
	}
	while (text.len > 0 && (text.data[text.len - 1] == '\n' ||
				text.data[text.len - 1] == '\r' ||
				text.data[text.len - 1] == ' ' ||
				text.data[text.len - 1] == '\t'))
		text.len--;
	if (text.len < REPL_KEY_MIN) {
		snprintf(err, errlen,
			 "replication_key_file %s: %zu bytes of key, at least "
			 "%d needed (for example: openssl rand -hex 32)",
			 key_file, text.len, REPL_KEY_MIN);
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, PSK_LABEL, sizeof(PSK_LABEL)) ||
	    !EVP_DigestUpdate(md, text.data, text.len) ||
	    !EVP_DigestFinal_ex(md, key, &len) || len != PSK_LEN) {
		tls_error_string(err, errlen);
		EVP_MD_CTX_free(md);
		goto out;
	}
	EVP_MD_CTX_free(md);
	ret = 0;
out:
	if (text.data != NULL)
		OPENSSL_cleanse(text.data, text.cap);
	buf_free(&text);
	return ret;
}

SSL_CTX *
repl_link_ctx_new(const char *key_file, bool server, char *err, size_t errlen)
{
	unsigned char *key;
	SSL_CTX *ctx;

	if (psk_ex_index < 0)
		psk_ex_index =
		    SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_key);
	key = xmalloc(PSK_LEN);
	if (derive_key(key_file, key, err, errlen) < 0) {
		free(key);
		return NULL;
	}
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		tls_error_string(err, errlen);
		free(key);
		return NULL;
	}
	SSL_CTX_set_ex_data(ctx, psk_ex_index, key);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256")) {
		tls_error_string(err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (server)
		SSL_CTX_set_psk_find_session_callback(ctx, psk_find_cb);
	else
		SSL_CTX_set_psk_use_session_callback(ctx, psk_use_cb);
	return ctx;
}

void
repl_link_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

static void
destroy(struct repl_link *l)
{
	ev_io_stop(l->loop, &l->io);
	if (l->ssl != NULL) {
		if (l->state == LINK_OPEN)
			SSL_shutdown(l->ssl);
		SSL_free(l->ssl);
	}
	ERR_clear_error();
	if (l->fd >= 0)
		close(l->fd);
	buf_free(&l->in);
	buf_free(&l->out);
	free(l->peer);
	free(l);
}

void
repl_link_free(struct repl_link **lp)
{
	struct repl_link *l = *lp;

	*lp = NULL;
	if (l == NULL)
		return;
	if (l->busy > 0) {
		l->free_pending = true;
		ev_io_stop(l->loop, &l->io);
		return;
	}
	destroy(l);
}

static void
fail(struct repl_link *l, const char *reason)
{
	bool in_handshake = l->state == LINK_HANDSHAKE;

	if (l->state == LINK_FAILED || l->free_pending)
		return;
	l->state = LINK_FAILED;
	ev_io_stop(l->loop, &l->io);
	l->busy++;
	l->ops->closed(l, reason, in_handshake, l->arg);
	l->busy--;
}

/* Fails the link with OpenSSL's reason for result r of a call. */
static void
fail_ssl(struct repl_link *l, int r, const char *what)
{
	char why[512], reason[600];
	int e = SSL_get_error(l->ssl, r);

	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && r == 0) ||
	    (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
					   SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		ERR_clear_error();
		fail(l, "connection closed by the peer");
		return;
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(why, sizeof(why), "%s",
			 errno != 0 ? strerror(errno) : "connection lost");
	else
		tls_error_string(why, sizeof(why));
	snprintf(reason, sizeof(reason), "%s: %s", what, why);
	fail(l, reason);
}

static void
update_io(struct repl_link *l)
{
	int events = EV_READ;

	if (l->state == LINK_FAILED || l->free_pending)
		return;
	if (l->state == LINK_CONNECTING || l->want_write ||
	    (l->state == LINK_OPEN && l->out.len > l->out_off))
		events |= EV_WRITE;
	if ((l->io.events & (EV_READ | EV_WRITE)) == events &&
	    ev_is_active(&l->io))
		return;
	ev_io_stop(l->loop, &l->io);
	ev_io_set(&l->io, l->fd, events);
	ev_io_start(l->loop, &l->io);
}

/* Hands every complete frame in l->in to the owner. */
static void
deliver_frames(struct repl_link *l)
{
	size_t off = 0;
	const void *body;
	size_t body_len;
	uint8_t type;
	ssize_t used;

	while (l->state == LINK_OPEN && !l->free_pending) {
		used = repl_frame_next(l->in.data + off, l->in.len - off, &type,
				       &body, &body_len);
		if (used < 0) {
			fail(l, "invalid frame from the peer");
			return;
		}
		if (used == 0)
			break;
		off += (size_t)used;
		l->ops->frame(l, type, body, body_len, l->arg);
	}
	if (!l->free_pending)
		buf_consume(&l->in, off);
}

static void
do_read(struct repl_link *l)
{
	int r, e;

	while (l->state == LINK_OPEN && !l->free_pending) {
		buf_reserve(&l->in, READ_STEP);
		ERR_clear_error();
		errno = 0;
		r = SSL_read(l->ssl, l->in.data + l->in.len, (int)READ_STEP);
		if (r > 0) {
			l->in.len += (size_t)r;
			deliver_frames(l);
			continue;
		}
		e = SSL_get_error(l->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			return;
		if (e == SSL_ERROR_WANT_WRITE) {
			l->want_write = true;
			return;
		}
		fail_ssl(l, r, "read");
		return;
	}
}

static void
do_write(struct repl_link *l)
{
	size_t left;
	int r, e;

	while (l->state == LINK_OPEN && !l->free_pending &&
	       l->out.len > l->out_off) {
		left = l->out.len - l->out_off;
		if (left > WRITE_STEP)
			left = WRITE_STEP;
		ERR_clear_error();
		errno = 0;
		r = SSL_write(l->ssl, l->out.data + l->out_off, (int)left);
		if (r > 0) {
			l->out_off += (size_t)r;
			continue;
		}
		e = SSL_get_error(l->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			break;
		fail_ssl(l, r, "write");
		return;
	}
	if (l->out_off == l->out.len) {
		buf_reset(&l->out);
		l->out_off = 0;
	} else if (l->out_off > WRITE_STEP * 4) {
		buf_consume(&l->out, l->out_off);
		l->out_off = 0;
	}
	if (l->ops->drained != NULL && l->state == LINK_OPEN &&
	    !l->free_pending && repl_link_pending(l) < REPL_LINK_LOW_WATER)
		l->ops->drained(l, l->arg);
}

static void
do_handshake(struct repl_link *l)
{
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(l->ssl);
	if (r == 1) {
		l->state = LINK_OPEN;
		l->ops->ready(l, l->arg);
		return;
	}
	e = SSL_get_error(l->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return;
	if (e == SSL_ERROR_WANT_WRITE) {
		l->want_write = true;
		return;
	}
	fail_ssl(l, r, "TLS handshake");
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct repl_link *l = w->data;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	char reason[300];

	l->busy++;
	l->want_write = false;
	if (l->state == LINK_CONNECTING) {
		if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr != 0) {
			snprintf(reason, sizeof(reason), "connect: %s",
				 strerror(soerr));
			fail(l, reason);
		} else {
			l->state = LINK_HANDSHAKE;
		}
	}
	if (l->state == LINK_HANDSHAKE)
		do_handshake(l);
	if (l->state == LINK_OPEN && !l->free_pending)
		do_read(l);
	if (l->state == LINK_OPEN && !l->free_pending)
		do_write(l);
	update_io(l);
	l->busy--;
	if (l->free_pending && l->busy == 0)
		destroy(l);
}

struct repl_link *
repl_link_new(struct ev_loop *loop, SSL_CTX *ctx, int fd, bool connecting,
	      const char *peer, const struct repl_link_ops *ops, void *arg)
{
	struct repl_link *l = xcalloc(1, sizeof(*l));

	l->loop = loop;
	l->fd = fd;
	l->peer = xstrdup(peer);
	l->ops = ops;
	l->arg = arg;
	l->state = connecting ? LINK_CONNECTING : LINK_HANDSHAKE;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int)) <
	    0)
		log_debug("setsockopt(TCP_NODELAY) on the link to %s failed: "
			  "%m",
			  peer);
	buf_init(&l->in);
	buf_init(&l->out);
	ev_io_init(&l->io, io_cb, fd, EV_READ | EV_WRITE);
	l->io.data = l;
	l->ssl = SSL_new(ctx);
	if (l->ssl == NULL || !SSL_set_fd(l->ssl, fd))
		log_fatal("cannot create a TLS connection for the replication "
			  "link");
	if (SSL_is_server(l->ssl))
		SSL_set_accept_state(l->ssl);
	else
		SSL_set_connect_state(l->ssl);
	ev_io_start(loop, &l->io);
	return l;
}

void
repl_link_send2(struct repl_link *l, uint8_t type, const void *head,
		size_t head_len, const void *body, size_t len)
{
	if (l->state == LINK_FAILED || l->free_pending)
		return;
	repl_frame_begin(&l->out, type, head_len + len);
	if (head_len > 0)
		buf_append(&l->out, head, head_len);
	if (len > 0)
		buf_append(&l->out, body, len);
	if (l->busy == 0)
		update_io(l);
}

void
repl_link_send(struct repl_link *l, uint8_t type, const void *body, size_t len)
{
	repl_link_send2(l, type, NULL, 0, body, len);
}

size_t
repl_link_pending(const struct repl_link *l)
{
	return l->out.len - l->out_off;
}

const char *
repl_link_peer(const struct repl_link *l)
{
	return l->peer;
}

void
repl_link_set_ops(struct repl_link *l, const struct repl_link_ops *ops,
		  void *arg)
{
	l->ops = ops;
	l->arg = arg;
}
