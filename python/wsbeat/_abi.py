"""The C ABI of libwsbeat as ctypes declarations.

DO NOT EDIT: generated from include/wsbeat.h by python/tools/gen_abi.py
(``python3 python/tools/gen_abi.py``); tests/test_abi.py fails when it is stale.
"""

# fmt: off
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Dict, List, Tuple

# ---- #define
WS_CLOSE_REASON_MAX = 124
WS_MAX_DURATION_MS = 604800000
WS_MAX_MESSAGE_SIZE = 1073741824
WS_MAX_OUTBOX_MESSAGES = 16777216
WS_MAX_EVENT_CAPACITY = 65536
WS_MAX_RUNTIME_THREADS = 256

# ---- enums (each also as a name -> value table)
# enum ws_result
WS_OK = 0
WS_ERR_NULL_ARGUMENT = 1
WS_ERR_INVALID_ARGUMENT = 2
WS_ERR_INVALID_UTF8 = 3
WS_ERR_INVALID_URL = 4
WS_ERR_INVALID_CONFIG = 5
WS_ERR_INVALID_HEADER = 6
WS_ERR_TLS = 7
WS_ERR_OUTBOX_FULL = 8
WS_ERR_MESSAGE_TOO_LARGE = 9
WS_ERR_CLOSED = 10
WS_ERR_SPAWN = 11
WS_ERR_TIMEOUT = 12
WS_ERR_WRONG_MODE = 13
WS_ERR_IN_CALLBACK = 14
WS_ERR_LOGGER_TAKEN = 15
WS_ERR_PANIC = 16
WS_ERR_CALLBACK = 17
WS_RESULT: Dict[str, int] = {
    'WS_OK': 0,
    'WS_ERR_NULL_ARGUMENT': 1,
    'WS_ERR_INVALID_ARGUMENT': 2,
    'WS_ERR_INVALID_UTF8': 3,
    'WS_ERR_INVALID_URL': 4,
    'WS_ERR_INVALID_CONFIG': 5,
    'WS_ERR_INVALID_HEADER': 6,
    'WS_ERR_TLS': 7,
    'WS_ERR_OUTBOX_FULL': 8,
    'WS_ERR_MESSAGE_TOO_LARGE': 9,
    'WS_ERR_CLOSED': 10,
    'WS_ERR_SPAWN': 11,
    'WS_ERR_TIMEOUT': 12,
    'WS_ERR_WRONG_MODE': 13,
    'WS_ERR_IN_CALLBACK': 14,
    'WS_ERR_LOGGER_TAKEN': 15,
    'WS_ERR_PANIC': 16,
    'WS_ERR_CALLBACK': 17,
}

# enum ws_event_kind
WS_EVENT_CONNECTING = 0
WS_EVENT_OPENED = 1
WS_EVENT_TEXT = 2
WS_EVENT_BINARY = 3
WS_EVENT_PONG = 4
WS_EVENT_HEARTBEAT_TIMEOUT = 5
WS_EVENT_CLOSED = 6
WS_EVENT_RECONNECTING = 7
WS_EVENT_ERROR = 8
WS_EVENT_STOPPED = 9
WS_EVENT_KIND: Dict[str, int] = {
    'WS_EVENT_CONNECTING': 0,
    'WS_EVENT_OPENED': 1,
    'WS_EVENT_TEXT': 2,
    'WS_EVENT_BINARY': 3,
    'WS_EVENT_PONG': 4,
    'WS_EVENT_HEARTBEAT_TIMEOUT': 5,
    'WS_EVENT_CLOSED': 6,
    'WS_EVENT_RECONNECTING': 7,
    'WS_EVENT_ERROR': 8,
    'WS_EVENT_STOPPED': 9,
}

# enum ws_close_initiator
WS_INITIATOR_NONE = 0
WS_INITIATOR_REMOTE = 1
WS_INITIATOR_LOCAL = 2
WS_INITIATOR_ABNORMAL = 3
WS_CLOSE_INITIATOR: Dict[str, int] = {
    'WS_INITIATOR_NONE': 0,
    'WS_INITIATOR_REMOTE': 1,
    'WS_INITIATOR_LOCAL': 2,
    'WS_INITIATOR_ABNORMAL': 3,
}

# enum ws_error_kind
WS_ERROR_NONE = 0
WS_ERROR_DNS = 1
WS_ERROR_CONNECT = 2
WS_ERROR_CONNECT_TIMEOUT = 3
WS_ERROR_TLS = 4
WS_ERROR_HTTP_STATUS = 5
WS_ERROR_HANDSHAKE = 6
WS_ERROR_PROTOCOL = 7
WS_ERROR_MESSAGE_TOO_LARGE = 8
WS_ERROR_IO = 9
WS_ERROR_HEARTBEAT_TIMEOUT = 10
WS_ERROR_CALLBACK = 11
WS_ERROR_CONNECTION_LOST = 12
WS_ERROR_CERTIFICATE = 13
WS_ERROR_INTERNAL = 14
WS_ERROR_PROXY = 15
WS_ERROR_PROXY_AUTH = 16
WS_ERROR_KIND: Dict[str, int] = {
    'WS_ERROR_NONE': 0,
    'WS_ERROR_DNS': 1,
    'WS_ERROR_CONNECT': 2,
    'WS_ERROR_CONNECT_TIMEOUT': 3,
    'WS_ERROR_TLS': 4,
    'WS_ERROR_HTTP_STATUS': 5,
    'WS_ERROR_HANDSHAKE': 6,
    'WS_ERROR_PROTOCOL': 7,
    'WS_ERROR_MESSAGE_TOO_LARGE': 8,
    'WS_ERROR_IO': 9,
    'WS_ERROR_HEARTBEAT_TIMEOUT': 10,
    'WS_ERROR_CALLBACK': 11,
    'WS_ERROR_CONNECTION_LOST': 12,
    'WS_ERROR_CERTIFICATE': 13,
    'WS_ERROR_INTERNAL': 14,
    'WS_ERROR_PROXY': 15,
    'WS_ERROR_PROXY_AUTH': 16,
}

# enum ws_stop_reason
WS_STOP_NONE = 0
WS_STOP_CLOSED = 1
WS_STOP_RECONNECT_DISABLED = 2
WS_STOP_MAX_ATTEMPTS = 3
WS_STOP_POLICY_DECLINED = 4
WS_STOP_INTERNAL = 5
WS_STOP_REASON: Dict[str, int] = {
    'WS_STOP_NONE': 0,
    'WS_STOP_CLOSED': 1,
    'WS_STOP_RECONNECT_DISABLED': 2,
    'WS_STOP_MAX_ATTEMPTS': 3,
    'WS_STOP_POLICY_DECLINED': 4,
    'WS_STOP_INTERNAL': 5,
}

# enum ws_message_kind
WS_MESSAGE_TEXT = 1
WS_MESSAGE_BINARY = 2
WS_MESSAGE_KIND: Dict[str, int] = {
    'WS_MESSAGE_TEXT': 1,
    'WS_MESSAGE_BINARY': 2,
}

# enum ws_client_state
WS_STATE_CONNECTING = 0
WS_STATE_OPEN = 1
WS_STATE_RECONNECTING = 2
WS_STATE_CLOSING = 3
WS_STATE_STOPPED = 4
WS_CLIENT_STATE: Dict[str, int] = {
    'WS_STATE_CONNECTING': 0,
    'WS_STATE_OPEN': 1,
    'WS_STATE_RECONNECTING': 2,
    'WS_STATE_CLOSING': 3,
    'WS_STATE_STOPPED': 4,
}

# enum ws_log_level
WS_LOG_OFF = 0
WS_LOG_ERROR = 1
WS_LOG_WARN = 2
WS_LOG_INFO = 3
WS_LOG_DEBUG = 4
WS_LOG_TRACE = 5
WS_LOG_LEVEL: Dict[str, int] = {
    'WS_LOG_OFF': 0,
    'WS_LOG_ERROR': 1,
    'WS_LOG_WARN': 2,
    'WS_LOG_INFO': 3,
    'WS_LOG_DEBUG': 4,
    'WS_LOG_TRACE': 5,
}

# enum ws_heartbeat_mode
WS_HEARTBEAT_OFF = 0
WS_HEARTBEAT_PING = 1
WS_HEARTBEAT_SEED_JSON = 2
WS_HEARTBEAT_MODE: Dict[str, int] = {
    'WS_HEARTBEAT_OFF': 0,
    'WS_HEARTBEAT_PING': 1,
    'WS_HEARTBEAT_SEED_JSON': 2,
}

# ---- structs (field order and C types as in the header)

class ws_message(Structure):
    _fields_ = [
        ('kind', c_uint32),
        ('data', c_void_p),
        ('len', c_size_t),
    ]


class ws_event(Structure):
    _fields_ = [
        ('kind', c_uint32),
        ('data', c_char_p),
        ('len', c_size_t),
        ('text', c_void_p),
        ('text_len', c_size_t),
        ('close_code', c_uint16),
        ('initiator', c_uint32),
        ('will_reconnect', c_bool),
        ('reconnect', c_bool),
        ('attempt', c_uint32),
        ('delay_ms', c_uint64),
        ('rtt_us', c_uint64),
        ('silent_ms', c_uint64),
        ('error_kind', c_uint32),
        ('stop_reason', c_uint32),
        ('messages', POINTER(ws_message)),
        ('message_count', c_size_t),
        ('endpoint', c_uint32),
        ('compression', c_bool),
    ]


class ws_client_stats(Structure):
    _fields_ = [
        ('connects', c_uint64),
        ('reconnects', c_uint64),
        ('missed_heartbeats', c_uint64),
        ('messages_in', c_uint64),
        ('messages_out', c_uint64),
        ('bytes_in', c_uint64),
        ('bytes_out', c_uint64),
        ('last_rtt_us', c_int64),
        ('smoothed_rtt_us', c_int64),
        ('outbox_len', c_uint64),
        ('uptime_ms', c_int64),
        ('last_close_code', c_uint16),
        ('last_close_reason', c_char * WS_CLOSE_REASON_MAX),
        ('compression', c_bool),
    ]


# The C declarations of every struct field, for tests/test_abi.py's offset check.
STRUCT_C_FIELDS: Dict[str, List[Tuple[str, str]]] = {
    'ws_message': [
        ('kind', 'ws_message_kind'),
        ('data', 'const uint8_t *'),
        ('len', 'size_t'),
    ],
    'ws_event': [
        ('kind', 'ws_event_kind'),
        ('data', 'const uint8_t *'),
        ('len', 'size_t'),
        ('text', 'const char *'),
        ('text_len', 'size_t'),
        ('close_code', 'uint16_t'),
        ('initiator', 'ws_close_initiator'),
        ('will_reconnect', 'bool'),
        ('reconnect', 'bool'),
        ('attempt', 'uint32_t'),
        ('delay_ms', 'uint64_t'),
        ('rtt_us', 'uint64_t'),
        ('silent_ms', 'uint64_t'),
        ('error_kind', 'ws_error_kind'),
        ('stop_reason', 'ws_stop_reason'),
        ('messages', 'const struct ws_message *'),
        ('message_count', 'size_t'),
        ('endpoint', 'uint32_t'),
        ('compression', 'bool'),
    ],
    'ws_client_stats': [
        ('connects', 'uint64_t'),
        ('reconnects', 'uint64_t'),
        ('missed_heartbeats', 'uint64_t'),
        ('messages_in', 'uint64_t'),
        ('messages_out', 'uint64_t'),
        ('bytes_in', 'uint64_t'),
        ('bytes_out', 'uint64_t'),
        ('last_rtt_us', 'int64_t'),
        ('smoothed_rtt_us', 'int64_t'),
        ('outbox_len', 'uint64_t'),
        ('uptime_ms', 'int64_t'),
        ('last_close_code', 'uint16_t'),
        ('last_close_reason', 'char[WS_CLOSE_REASON_MAX]'),
        ('compression', 'bool'),
    ],
}

# ---- callback types
WS_EVENT_CALLBACK: Any = CFUNCTYPE(None, c_void_p, POINTER(ws_event))
WS_HEARTBEAT_MATCHER_CALLBACK: Any = CFUNCTYPE(c_bool, c_void_p, c_void_p, c_size_t, c_uint32)
WS_BEFORE_CONNECT_CALLBACK: Any = CFUNCTYPE(c_int, c_void_p, c_uint32, c_void_p)
WS_CLOSE_CODE_CALLBACK: Any = CFUNCTYPE(c_bool, c_void_p, c_uint16)
WS_LOG_CALLBACK: Any = CFUNCTYPE(None, c_void_p, c_uint32, c_char_p, c_char_p)

# ---- functions: name -> (argtypes, restype)
FUNCTIONS: Dict[str, Tuple[List[Any], Any]] = {
    'ws_version': ([], c_char_p),
    'ws_connect': ([c_char_p, c_void_p, WS_EVENT_CALLBACK, c_void_p, POINTER(c_void_p)], c_uint32),
    'ws_on_event': ([c_void_p, WS_EVENT_CALLBACK, c_void_p], c_uint32),
    'ws_send': ([c_void_p, c_char_p, c_size_t, c_uint32], c_uint32),
    'ws_send_wait': ([c_void_p, c_char_p, c_size_t, c_uint32, c_int64], c_uint32),
    'ws_close': ([c_void_p, c_uint16, c_char_p], c_uint32),
    'ws_reconnect_now': ([c_void_p], c_uint32),
    'ws_free': ([c_void_p], c_uint32),
    'ws_state': ([c_void_p, POINTER(c_uint32)], c_uint32),
    'ws_stats': ([c_void_p, POINTER(ws_client_stats)], c_uint32),
    'ws_next_event': ([c_void_p, c_int64, POINTER(ws_event)], c_uint32),
    'ws_event_release': ([c_void_p], c_uint32),
    'ws_config_new': ([], c_void_p),
    'ws_config_free': ([c_void_p], None),
    'ws_config_set_heartbeat': ([c_void_p, c_uint32, c_uint64, c_uint64], c_uint32),
    'ws_config_set_custom_heartbeat': ([c_void_p, c_uint64, c_uint64, c_char_p, c_size_t, c_uint32, WS_HEARTBEAT_MATCHER_CALLBACK, c_void_p], c_uint32),
    'ws_config_set_before_connect': ([c_void_p, WS_BEFORE_CONNECT_CALLBACK, c_void_p], c_uint32),
    'ws_config_set_reconnect_on_close': ([c_void_p, WS_CLOSE_CODE_CALLBACK, c_void_p], c_uint32),
    'ws_config_set_reconnect': ([c_void_p, c_bool], c_uint32),
    'ws_config_set_backoff': ([c_void_p, c_uint64, c_uint64, c_double, c_double], c_uint32),
    'ws_config_set_max_attempts': ([c_void_p, c_uint32], c_uint32),
    'ws_config_set_min_uptime': ([c_void_p, c_uint64], c_uint32),
    'ws_config_set_retry_after_cap': ([c_void_p, c_uint64], c_uint32),
    'ws_config_set_retry_certificate_errors': ([c_void_p, c_bool], c_uint32),
    'ws_config_set_pong_events': ([c_void_p, c_bool], c_uint32),
    'ws_config_set_outbox_limits': ([c_void_p, c_size_t, c_size_t], c_uint32),
    'ws_config_set_max_message_size': ([c_void_p, c_size_t], c_uint32),
    'ws_config_set_compression': ([c_void_p, c_bool, c_uint32, c_bool, c_size_t], c_uint32),
    'ws_config_set_connect_timeout': ([c_void_p, c_uint64], c_uint32),
    'ws_config_set_close_timeout': ([c_void_p, c_uint64], c_uint32),
    'ws_config_set_event_capacity': ([c_void_p, c_size_t], c_uint32),
    'ws_config_set_proxy': ([c_void_p, c_char_p], c_uint32),
    'ws_config_add_endpoint': ([c_void_p, c_char_p], c_uint32),
    'ws_config_set_runtime': ([c_void_p, c_void_p], c_uint32),
    'ws_config_add_header': ([c_void_p, c_char_p, c_char_p], c_uint32),
    'ws_config_add_subprotocol': ([c_void_p, c_char_p], c_uint32),
    'ws_config_tls_add_ca_pem': ([c_void_p, c_char_p, c_size_t], c_uint32),
    'ws_config_tls_add_ca_file': ([c_void_p, c_char_p], c_uint32),
    'ws_config_tls_set_client_cert_pem': ([c_void_p, c_char_p, c_size_t, c_char_p, c_size_t], c_uint32),
    'ws_config_tls_set_bundled_roots': ([c_void_p, c_bool], c_uint32),
    'ws_config_tls_set_native_roots': ([c_void_p, c_bool], c_uint32),
    'ws_config_tls_use_native_tls': ([c_void_p, c_bool], c_uint32),
    'ws_config_tls_dangerous_disable_verification': ([c_void_p, c_bool], c_uint32),
    'ws_result_str': ([c_uint32], c_char_p),
    'ws_last_error': ([], c_char_p),
    'ws_event_kind_str': ([c_uint32], c_char_p),
    'ws_error_kind_str': ([c_uint32], c_char_p),
    'ws_request_url': ([c_void_p], c_char_p),
    'ws_request_endpoint': ([c_void_p], c_uint32),
    'ws_request_set_url': ([c_void_p, c_char_p], c_uint32),
    'ws_request_set_header': ([c_void_p, c_char_p, c_char_p], c_uint32),
    'ws_request_add_header': ([c_void_p, c_char_p, c_char_p], c_uint32),
    'ws_request_remove_header': ([c_void_p, c_char_p], c_uint32),
    'ws_request_header_count': ([c_void_p], c_size_t),
    'ws_request_header_name': ([c_void_p, c_size_t], c_char_p),
    'ws_request_header_value': ([c_void_p, c_size_t], c_char_p),
    'ws_set_logger': ([WS_LOG_CALLBACK, c_void_p, c_uint32], c_uint32),
    'ws_clear_logger': ([], c_uint32),
    'ws_runtime_new': ([c_uint32, POINTER(c_void_p)], c_uint32),
    'ws_runtime_free': ([c_void_p], None),
    'ws_runtime_threads': ([c_void_p], c_uint32),
    'ws_runtime_clients': ([c_void_p], c_uint32),
}
