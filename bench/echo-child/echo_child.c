/*
 * A minimal MCP stdio server for benchmarks: the floor a child can reach, so that what a
 * benchmark measures above it is the broker's own cost (the demo child is Swift and does real
 * work per call; forgejo-mcp calls Forgejo).
 *
 * Newline-delimited JSON-RPC on stdin/stdout. It reads only the top-level `id` and `method` of
 * each message (and `params.protocolVersion` of `initialize`), answers
 *   initialize  -> the requested protocol version, tools capability
 *   tools/list  -> one tool, `echo` (readOnlyHint, so a read-only tool policy lets it through)
 *   tools/call  -> a fixed text result
 *   anything else with an id -> an empty result
 * and ignores notifications. One write(2) per answer.
 *
 *   cc -O2 -o echo-child bench/echo-child/echo_child.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

typedef struct { const char *start; size_t length; } span;

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* Past the JSON value starting at p (string, object, array or scalar); NULL when malformed. */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') { p++; continue; }
            if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') { p = skip_value(p, end); if (!p) return NULL; p--; continue; }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') { if (--depth == 0) return p + 1; }
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n') p++;
    return p;
}

/* The value of member `name` of the object spanning [p, end), or a zero span. */
static span member(const char *p, const char *end, const char *name) {
    span none = {NULL, 0};
    size_t name_length = strlen(name);
    p = skip_space(p, end);
    if (p >= end || *p != '{') return none;
    p++;
    for (;;) {
        p = skip_space(p, end);
        if (p >= end || *p == '}' || *p != '"') return none;
        const char *key = p + 1;
        const char *after_key = skip_value(p, end);
        if (!after_key) return none;
        size_t key_length = (size_t)(after_key - 1 - key);
        p = skip_space(after_key, end);
        if (p >= end || *p != ':') return none;
        p = skip_space(p + 1, end);
        const char *value_end = skip_value(p, end);
        if (!value_end) return none;
        if (key_length == name_length && memcmp(key, name, name_length) == 0) {
            span found = {p, (size_t)(value_end - p)};
            return found;
        }
        p = skip_space(value_end, end);
        if (p < end && *p == ',') p++;
    }
}

static int equals(span s, const char *quoted) {
    size_t length = strlen(quoted);
    return s.length == length && memcmp(s.start, quoted, length) == 0;
}

static void write_all(const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(STDOUT_FILENO, data, length);
        if (written < 0) { if (errno == EINTR) continue; exit(0); }
        data += written;
        length -= (size_t)written;
    }
}

static char out[65536];

static void answer(span id, const char *result_format, span argument) {
    int length = snprintf(out, sizeof out, "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"result\":", (int)id.length, id.start);
    length += snprintf(out + length, sizeof out - (size_t)length, result_format, (int)argument.length, argument.start);
    length += snprintf(out + length, sizeof out - (size_t)length, "}\n");
    if (length > 0 && (size_t)length < sizeof out) write_all(out, (size_t)length);
}

static void handle(const char *line, const char *end) {
    span id = member(line, end, "id");
    if (!id.start) return; /* a notification */
    span method = member(line, end, "method");
    span none = {"", 0};
    if (equals(method, "\"initialize\"")) {
        span params = member(line, end, "params");
        span version = params.start ? member(params.start, params.start + params.length, "protocolVersion") : none;
        if (!version.start) version = (span){"\"2025-06-18\"", 12};
        answer(id, "{\"protocolVersion\":%.*s,\"capabilities\":{\"tools\":{}},"
                   "\"serverInfo\":{\"name\":\"echo-child\",\"version\":\"1\"}}", version);
    } else if (equals(method, "\"tools/list\"")) {
        answer(id, "{\"tools\":[{\"name\":\"echo\",\"description\":\"Answers at once\","
                   "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}},"
                   "\"annotations\":{\"readOnlyHint\":true}}]}%.*s", none);
    } else if (equals(method, "\"tools/call\"")) {
        answer(id, "{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}%.*s", none);
    } else {
        answer(id, "{}%.*s", none);
    }
}

int main(void) {
    size_t capacity = 1 << 20, used = 0;
    char *buffer = malloc(capacity);
    if (!buffer) return 1;
    for (;;) {
        if (used == capacity) {
            capacity *= 2;
            char *grown = realloc(buffer, capacity);
            if (!grown) return 1;
            buffer = grown;
        }
        ssize_t got = read(STDIN_FILENO, buffer + used, capacity - used);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        used += (size_t)got;
        char *start = buffer, *newline;
        while ((newline = memchr(start, '\n', (size_t)(buffer + used - start)))) {
            handle(start, newline);
            start = newline + 1;
        }
        used = (size_t)(buffer + used - start);
        memmove(buffer, start, used);
    }
}
