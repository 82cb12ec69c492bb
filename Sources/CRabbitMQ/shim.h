// The parts of rabbitmq-c (Debian's librabbitmq-dev 0.11) that Swift cannot import directly:
// the variadic amqp_login, and method macros defined with casts.
#ifndef BROKER_CRABBITMQ_SHIM_H
#define BROKER_CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/eventfd.h>
#include <poll.h>

// Logs in with PLAIN and tells RabbitMQ which notifications the broker handles: a server-side
// consumer cancel (the queue was deleted) and connection.blocked/unblocked (resource alarms).
// rabbitmq-c merges these capabilities with its own; without them RabbitMQ sends neither.
static inline amqp_rpc_reply_t broker_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                       int channel_max, int frame_max, int heartbeat,
                                                       const char *user, const char *password,
                                                       const char *connection_name) {
    amqp_table_entry_t capabilities[2];
    capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
    capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[0].value.value.boolean = 1;
    capabilities[1].key = amqp_cstring_bytes("connection.blocked");
    capabilities[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[1].value.value.boolean = 1;
    amqp_table_entry_t properties[2];
    properties[0].key = amqp_cstring_bytes("capabilities");
    properties[0].value.kind = AMQP_FIELD_KIND_TABLE;
    properties[0].value.value.table.num_entries = 2;
    properties[0].value.value.table.entries = capabilities;
    properties[1].key = amqp_cstring_bytes("connection_name");
    properties[1].value.kind = AMQP_FIELD_KIND_UTF8;
    properties[1].value.value.bytes = amqp_cstring_bytes(connection_name);
    amqp_table_t table = {2, properties};
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &table, AMQP_SASL_METHOD_PLAIN,
                                      user, password);
}

static const amqp_method_number_t broker_method_basic_ack = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t broker_method_basic_nack = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t broker_method_basic_return = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t broker_method_basic_deliver = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t broker_method_basic_consume = AMQP_BASIC_CONSUME_METHOD;
static const amqp_method_number_t broker_method_basic_cancel = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t broker_method_channel_close = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t broker_method_channel_close_ok = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t broker_method_connection_close = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t broker_method_connection_close_ok = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t broker_method_connection_blocked = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t broker_method_connection_unblocked = AMQP_CONNECTION_UNBLOCKED_METHOD;

#endif
