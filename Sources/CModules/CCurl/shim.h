#ifndef PASSLINE_CCURL_SHIM_H
#define PASSLINE_CCURL_SHIM_H

#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

// libcurl's setopt and getinfo are variadic, which Swift cannot call: one typed wrapper each.

static inline CURLcode passline_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode passline_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode passline_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode passline_curl_easy_setopt_blob(CURL *handle, CURLoption option, void *data, size_t length) {
    struct curl_blob blob = { data, length, CURL_BLOB_COPY };
    return curl_easy_setopt(handle, option, &blob);
}
static inline CURLcode passline_curl_easy_setopt_write(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}
static inline CURLcode passline_curl_easy_setopt_header(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}
static inline CURLcode passline_curl_easy_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode passline_curl_easy_setopt_sockets(CURL *handle, int (*opened)(void *, curl_socket_t, curlsocktype),
                                                         int (*closing)(void *, curl_socket_t), void *context) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_SOCKOPTFUNCTION, opened);
    if (code == CURLE_OK) code = curl_easy_setopt(handle, CURLOPT_SOCKOPTDATA, context);
    if (code == CURLE_OK) code = curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, closing);
    if (code == CURLE_OK) code = curl_easy_setopt(handle, CURLOPT_CLOSESOCKETDATA, context);
    return code;
}
/// Called (with `context`) once the transfer has a connection and is about to send its request.
static inline CURLcode passline_curl_easy_setopt_prereq(CURL *handle, int (*callback)(void *, char *, char *, int, int), void *context) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_PREREQFUNCTION, callback);
    if (code == CURLE_OK) code = curl_easy_setopt(handle, CURLOPT_PREREQDATA, context);
    return code;
}
/// Holds (1) or releases (0) a TCP socket's partial segments; releasing sends what is held.
static inline int passline_tcp_cork(int socket, int on) {
    return setsockopt(socket, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}
static inline int passline_close(int socket) { return close(socket); }
/// The local TCP port of a socket, or -1: what tells one connection from another in the
/// PREREQ callback (which names ports, not sockets).
static inline int passline_local_port(int socket) {
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(socket, (struct sockaddr *)&address, &length) != 0) return -1;
    if (address.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&address)->sin_port);
    if (address.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
    return -1;
}
static inline CURLcode passline_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode passline_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLMcode passline_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}

// Option and info constants that Swift imports poorly (enum values built by macros).
static const CURLoption PASSLINE_CURLOPT_URL = CURLOPT_URL;
static const CURLoption PASSLINE_CURLOPT_POSTFIELDS = CURLOPT_COPYPOSTFIELDS;
static const CURLoption PASSLINE_CURLOPT_POSTFIELDSIZE = CURLOPT_POSTFIELDSIZE;
static const CURLoption PASSLINE_CURLOPT_CUSTOMREQUEST = CURLOPT_CUSTOMREQUEST;
static const CURLoption PASSLINE_CURLOPT_HTTPHEADER = CURLOPT_HTTPHEADER;
static const CURLoption PASSLINE_CURLOPT_HTTP_VERSION = CURLOPT_HTTP_VERSION;
static const CURLoption PASSLINE_CURLOPT_PIPEWAIT = CURLOPT_PIPEWAIT;
static const CURLoption PASSLINE_CURLOPT_TIMEOUT_MS = CURLOPT_TIMEOUT_MS;
static const CURLoption PASSLINE_CURLOPT_CONNECTTIMEOUT_MS = CURLOPT_CONNECTTIMEOUT_MS;
static const CURLoption PASSLINE_CURLOPT_WRITEDATA = CURLOPT_WRITEDATA;
static const CURLoption PASSLINE_CURLOPT_HEADERDATA = CURLOPT_HEADERDATA;
static const CURLoption PASSLINE_CURLOPT_PRIVATE = CURLOPT_PRIVATE;
static const CURLoption PASSLINE_CURLOPT_SSLCERT_BLOB = CURLOPT_SSLCERT_BLOB;
static const CURLoption PASSLINE_CURLOPT_SSLKEY_BLOB = CURLOPT_SSLKEY_BLOB;
static const CURLoption PASSLINE_CURLOPT_SSLCERTTYPE = CURLOPT_SSLCERTTYPE;
static const CURLoption PASSLINE_CURLOPT_SSLKEYTYPE = CURLOPT_SSLKEYTYPE;
static const CURLoption PASSLINE_CURLOPT_CAINFO = CURLOPT_CAINFO;
static const CURLoption PASSLINE_CURLOPT_CAINFO_BLOB = CURLOPT_CAINFO_BLOB;
static const CURLoption PASSLINE_CURLOPT_NOSIGNAL = CURLOPT_NOSIGNAL;
static const CURLoption PASSLINE_CURLOPT_TCP_KEEPALIVE = CURLOPT_TCP_KEEPALIVE;
static const CURLoption PASSLINE_CURLOPT_MAXAGE_CONN = CURLOPT_MAXAGE_CONN;
static const CURLoption PASSLINE_CURLOPT_ERRORBUFFER = CURLOPT_ERRORBUFFER;
static const CURLoption PASSLINE_CURLOPT_NOPROXY = CURLOPT_NOPROXY;
static const CURLoption PASSLINE_CURLOPT_PREREQDATA = CURLOPT_PREREQDATA;
static const CURLoption PASSLINE_CURLOPT_POST = CURLOPT_POST;
static const CURLoption PASSLINE_CURLOPT_HTTPGET = CURLOPT_HTTPGET;
static const CURLoption PASSLINE_CURLOPT_UPKEEP_INTERVAL_MS = CURLOPT_UPKEEP_INTERVAL_MS;
static const long PASSLINE_CURL_HTTP_VERSION_2TLS = CURL_HTTP_VERSION_2TLS;
static const long PASSLINE_CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
static const CURLINFO PASSLINE_CURLINFO_RESPONSE_CODE = CURLINFO_RESPONSE_CODE;
static const CURLINFO PASSLINE_CURLINFO_PRIVATE = CURLINFO_PRIVATE;
static const CURLINFO PASSLINE_CURLINFO_HTTP_VERSION = CURLINFO_HTTP_VERSION;
static const CURLMoption PASSLINE_CURLMOPT_PIPELINING = CURLMOPT_PIPELINING;
static const CURLMoption PASSLINE_CURLMOPT_MAX_HOST_CONNECTIONS = CURLMOPT_MAX_HOST_CONNECTIONS;
static const CURLMoption PASSLINE_CURLMOPT_MAX_CONCURRENT_STREAMS = CURLMOPT_MAX_CONCURRENT_STREAMS;
static const long PASSLINE_CURLPIPE_MULTIPLEX = CURLPIPE_MULTIPLEX;
static const int PASSLINE_CURL_GLOBAL_DEFAULT = CURL_GLOBAL_DEFAULT;

#endif
