// The parts of rabbitmq-c (Debian's librabbitmq-dev 0.11) that Swift cannot import directly:
// the variadic amqp_login, and method/flag macros defined with casts.
#ifndef BROKER_CRABBITMQ_SHIM_H
#define BROKER_CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/eventfd.h>
#include <poll.h>

static inline amqp_rpc_reply_t broker_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                       int channel_max, int frame_max, int heartbeat,
                                                       const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
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

static const amqp_flags_t broker_flag_headers = AMQP_BASIC_HEADERS_FLAG;
static const amqp_flags_t broker_flag_delivery_mode = AMQP_BASIC_DELIVERY_MODE_FLAG;
static const amqp_flags_t broker_flag_content_type = AMQP_BASIC_CONTENT_TYPE_FLAG;
static const amqp_flags_t broker_flag_app_id = AMQP_BASIC_APP_ID_FLAG;

#endif
