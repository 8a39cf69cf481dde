/*
 * repl_link - the replication peer link: TCP with TLS 1.3 and an external
 * pre-shared key, carrying repl_wire frames
 *
 * Both nodes read the same replication_key_file; the PSK is SHA-256 over
 * a fixed label and the file's content (trailing whitespace removed,
 * at least REPL_KEY_MIN bytes left). There are no certificates: a peer
 * without the key fails the handshake (the PSK binder does not verify),
 * and so does any client that is not a hapost replicator.
 *
 * A link is non-blocking on the caller's libev loop. The owner queues
 * frames with repl_link_send(); the link writes them in order and hands
 * every complete received frame to ops->frame. When the link fails (I/O
 * error, end of stream, invalid frame, failed handshake) it calls
 * ops->closed once, and the owner then calls repl_link_free(). Freeing a
 * link from inside one of its own callbacks is allowed: the memory goes
 * when the callback returns.
 */
#ifndef HAPOST_REPL_LINK_H
#define HAPOST_REPL_LINK_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPL_KEY_MIN 32
/* ops->drained is called when fewer bytes than this wait to be sent. */
#define REPL_LINK_LOW_WATER ((size_t)4 << 20)

struct repl_link;

struct repl_link_ops {
	/* The handshake finished: frames may flow. */
	void (*ready)(struct repl_link *l, void *arg);
	void (*frame)(struct repl_link *l, uint8_t type, const void *body,
		      size_t len, void *arg);
	/* in_handshake: the link failed before the handshake finished. */
	void (*closed)(struct repl_link *l, const char *reason,
		       bool in_handshake, void *arg);
	/* May be NULL. */
	void (*drained)(struct repl_link *l, void *arg);
};

/*
 * Builds the client or server context with the PSK from key_file.
 * Returns NULL with the reason in err.
 */
SSL_CTX *repl_link_ctx_new(const char *key_file, bool server, char *err,
			   size_t errlen);
void repl_link_ctx_free(SSL_CTX *ctx);

/*
 * Takes over fd (non-blocking; with connecting, a connect(2) is in
 * progress) and starts the handshake. peer names the other end in logs.
 */
struct repl_link *repl_link_new(struct ev_loop *loop, SSL_CTX *ctx, int fd,
				bool connecting, const char *peer,
				const struct repl_link_ops *ops, void *arg);
void repl_link_send(struct repl_link *l, uint8_t type, const void *body,
		    size_t len);
/* Queues one frame whose body is the two parts one after the other. */
void repl_link_send2(struct repl_link *l, uint8_t type, const void *head,
		     size_t head_len, const void *body, size_t len);
/* Bytes queued and not yet written. */
size_t repl_link_pending(const struct repl_link *l);
/* Hands the link to another owner (its callbacks change). */
void repl_link_set_ops(struct repl_link *l, const struct repl_link_ops *ops,
		       void *arg);
const char *repl_link_peer(const struct repl_link *l);
/* Closes the connection (no callback) and sets *lp to NULL. */
void repl_link_free(struct repl_link **lp);

#endif
