/*
 * The floor the broker is measured against: a pass-through relay in C over rabbitmq-c that
 * does only what a message router cannot avoid. It takes messages from an input queue,
 * publishes each unchanged (body and properties) to an output queue with publisher confirms,
 * waits for the confirms of a batch, and then acknowledges the batch with one `multiple` ack:
 * at-least-once, ack after confirm, exactly like the broker. No parsing, no routing.
 *
 *   c-relay URL INPUT OUTPUT COUNT [PREFETCH]
 *
 * Relays COUNT messages and prints one line: the messages, the wall time and the CPU time of
 * this process from the first delivery to the last ack (start-up not counted), and the CPU per
 * message. Exits 1 with a message on any error. Built by `make c-relay` (the system's compiler
 * and Debian's librabbitmq-dev); `broker-dev bench-floor` runs it beside `broker run`.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { CONSUME = 1, PUBLISH = 2 };

/* A delivery waiting to be relayed: its tag and the message (owning its memory). */
typedef struct {
    uint64_t tag;
    amqp_message_t message;
} delivery_t;

static _Noreturn void die(const char *what, const char *detail) {
    fprintf(stderr, "c-relay: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void check_reply(amqp_rpc_reply_t reply, const char *what) {
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        die(what, amqp_error_string2(reply.library_error));
    default:
        die(what, "the server refused (channel or connection closed)");
    }
}

static double seconds(struct timeval value) { return (double)value.tv_sec + (double)value.tv_usec / 1e6; }

static double cpu_now(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

static double wall_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Reads the message of a basic.deliver frame already taken off the connection. */
static void read_delivery(amqp_connection_state_t connection, amqp_frame_t *frame, delivery_t *into) {
    amqp_basic_deliver_t *deliver = frame->payload.method.decoded;
    into->tag = deliver->delivery_tag;
    check_reply(amqp_read_message(connection, CONSUME, &into->message, 0), "reading a delivery");
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: c-relay URL INPUT OUTPUT COUNT [PREFETCH]\n");
        return 2;
    }
    struct amqp_connection_info info;
    char *url = strdup(argv[1]);
    if (amqp_parse_url(url, &info) != AMQP_STATUS_OK) die("cannot parse the URL", argv[1]);
    const char *input = argv[2], *output = argv[3];
    long count = atol(argv[4]);
    int prefetch = argc > 5 ? atoi(argv[5]) : 256;
    if (count <= 0 || prefetch <= 0 || prefetch > 65535) die("COUNT and PREFETCH must be positive", NULL);

    amqp_connection_state_t connection = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(connection);
    if (!socket || amqp_socket_open(socket, info.host, info.port) != AMQP_STATUS_OK)
        die("cannot connect to", info.host);
    check_reply(
        amqp_login(connection, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password), "login");
    amqp_channel_open(connection, CONSUME);
    check_reply(amqp_get_rpc_reply(connection), "opening the consuming channel");
    amqp_channel_open(connection, PUBLISH);
    check_reply(amqp_get_rpc_reply(connection), "opening the publishing channel");
    amqp_confirm_select(connection, PUBLISH);
    check_reply(amqp_get_rpc_reply(connection), "confirm.select");
    amqp_basic_qos(connection, CONSUME, 0, (uint16_t)prefetch, 0);
    check_reply(amqp_get_rpc_reply(connection), "basic.qos");
    amqp_basic_consume(connection, CONSUME, amqp_cstring_bytes(input), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(connection), "basic.consume");

    delivery_t *batch = calloc((size_t)prefetch, sizeof(delivery_t));
    /* Deliveries that arrived while a batch waited for its confirms: the next batch's start. */
    delivery_t *early = calloc((size_t)prefetch, sizeof(delivery_t));
    int early_count = 0;
    uint64_t published = 0, confirmed = 0;
    long relayed = 0;
    double cpu_start = 0, wall_start = 0;

    while (relayed < count) {
        /* 1. A batch: what arrived early, then what is there now, waiting only for the first. */
        int size = early_count;
        memcpy(batch, early, sizeof(delivery_t) * (size_t)early_count);
        early_count = 0;
        while (size < prefetch && relayed + size < count) {
            struct timeval wait = {size == 0 ? 30 : 0, 0};
            amqp_envelope_t envelope;
            amqp_maybe_release_buffers(connection);
            amqp_rpc_reply_t reply = amqp_consume_message(connection, &envelope, &wait, 0);
            if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                reply.library_error == AMQP_STATUS_TIMEOUT) {
                if (size == 0) die("no message arrived within 30 s", input);
                break;
            }
            check_reply(reply, "consuming");
            batch[size].tag = envelope.delivery_tag;
            batch[size].message = envelope.message;
            /* The message now belongs to the batch: free only the envelope's own strings. */
            amqp_bytes_free(envelope.routing_key);
            amqp_bytes_free(envelope.exchange);
            amqp_bytes_free(envelope.consumer_tag);
            size++;
        }
        if (cpu_start == 0) {
            cpu_start = cpu_now();
            wall_start = wall_now();
        }
        /* 2. Publish each unchanged, with confirms. */
        for (int i = 0; i < size; i++) {
            int status = amqp_basic_publish(connection, PUBLISH, amqp_empty_bytes, amqp_cstring_bytes(output), 0, 0,
                &batch[i].message.properties, batch[i].message.body);
            if (status != AMQP_STATUS_OK) die("publishing", amqp_error_string2(status));
            published++;
        }
        /* 3. Wait for every confirm; keep deliveries that arrive meanwhile for the next batch. */
        while (confirmed < published) {
            amqp_frame_t frame;
            int status = amqp_simple_wait_frame(connection, &frame);
            if (status != AMQP_STATUS_OK) die("waiting for confirms", amqp_error_string2(status));
            if (frame.frame_type != AMQP_FRAME_METHOD) continue;
            switch (frame.payload.method.id) {
            case AMQP_BASIC_ACK_METHOD: {
                amqp_basic_ack_t *ack = frame.payload.method.decoded;
                confirmed = ack->delivery_tag; /* in order: `multiple` or not, all up to it */
                break;
            }
            case AMQP_BASIC_NACK_METHOD:
                die("a publish was refused (basic.nack)", NULL);
            case AMQP_BASIC_RETURN_METHOD:
                die("a publish was returned", output);
            case AMQP_BASIC_DELIVER_METHOD:
                if (early_count == prefetch) die("more deliveries than the prefetch allows", NULL);
                read_delivery(connection, &frame, &early[early_count++]);
                break;
            case AMQP_CHANNEL_CLOSE_METHOD:
            case AMQP_CONNECTION_CLOSE_METHOD:
                die("the server closed the channel or connection", NULL);
            default:
                break;
            }
        }
        /* 4. One ack for the whole batch. */
        if (size > 0) {
            if (amqp_basic_ack(connection, CONSUME, batch[size - 1].tag, 1) != AMQP_STATUS_OK) die("acking", NULL);
        }
        for (int i = 0; i < size; i++) amqp_destroy_message(&batch[i].message);
        relayed += size;
    }
    double cpu = cpu_now() - cpu_start, wall = wall_now() - wall_start;
    printf("c-relay: %ld messages in %.3f s, CPU %.3f s: %.2f us per message\n", relayed, wall, cpu,
        cpu / (double)relayed * 1e6);
    for (int i = 0; i < early_count; i++) amqp_destroy_message(&early[i].message);
    amqp_channel_close(connection, PUBLISH, AMQP_REPLY_SUCCESS);
    amqp_channel_close(connection, CONSUME, AMQP_REPLY_SUCCESS);
    amqp_connection_close(connection, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(connection);
    free(batch);
    free(early);
    free(url);
    return 0;
}
