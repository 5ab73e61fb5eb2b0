/* onnx/pb.c - protobuf-c glue: the counting allocator and a bounded wire-format pre-check. */
#include "onnx/pb.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static _Thread_local bool pb_oom;

static void *pb_alloc(void *data, size_t n) {
  (void)data;
  void *p = gl_malloc(n ? n : 1);
  if (!p) pb_oom = true;
  return p;
}

bool gl_pb_take_oom(void) {
  bool was = pb_oom;
  pb_oom = false;
  return was;
}

static void pb_free(void *data, void *p) {
  (void)data;
  gl_free(p);
}

ProtobufCAllocator gl_pb_allocator = {pb_alloc, pb_free, NULL};

/* Reads a varint at *pos (< end); returns 0 or -1 when truncated or longer than 10 bytes. */
static int read_varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*pos >= end) return -1;
    uint8_t b = buf[(*pos)++];
    if (shift == 63 && (b & 0x7e)) return -1; /* more than 64 bits */
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

gl_status_t gl_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                        const char *what) {
  struct {
    const ProtobufCMessageDescriptor *desc;
    size_t end;
  } stack[GL_PB_MAX_DEPTH + 1];
  int depth = 0;
  size_t pos = 0;
  stack[0].desc = desc;
  stack[0].end = len;
  for (;;) {
    while (depth > 0 && pos == stack[depth].end) depth--;
    if (pos == stack[depth].end) break; /* depth 0: the whole buffer is consumed */
    size_t end = stack[depth].end;
    size_t at = pos;
    uint64_t tag, v;
    if (read_varint(buf, &pos, end, &tag))
      return gl_err(GL_EPARSE, "%s: malformed protobuf: truncated tag at byte %zu", what, at);
    uint64_t field = tag >> 3;
    unsigned wire = (unsigned)(tag & 7);
    if (field == 0 || field > 536870911u)
      return gl_err(GL_EPARSE, "%s: malformed protobuf: bad field number at byte %zu", what, at);
    switch (wire) {
      case 0:
        if (read_varint(buf, &pos, end, &v))
          return gl_err(GL_EPARSE, "%s: malformed protobuf: truncated varint at byte %zu", what, at);
        break;
      case 1:
        if (end - pos < 8)
          return gl_err(GL_EPARSE, "%s: malformed protobuf: truncated fixed64 at byte %zu", what, at);
        pos += 8;
        break;
      case 5:
        if (end - pos < 4)
          return gl_err(GL_EPARSE, "%s: malformed protobuf: truncated fixed32 at byte %zu", what, at);
        pos += 4;
        break;
      case 2: {
        if (read_varint(buf, &pos, end, &v) || v > end - pos)
          return gl_err(GL_EPARSE, "%s: malformed protobuf: length at byte %zu runs past the end", what, at);
        const ProtobufCFieldDescriptor *f =
            stack[depth].desc ? protobuf_c_message_descriptor_get_field(stack[depth].desc, (unsigned)field) : NULL;
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
          if (depth == GL_PB_MAX_DEPTH)
            return gl_err(GL_ELIMIT, "%s: messages nest deeper than %d at byte %zu", what, GL_PB_MAX_DEPTH, at);
          depth++;
          stack[depth].desc = f->descriptor;
          stack[depth].end = pos + (size_t)v;
        } else {
          pos += (size_t)v;
        }
        break;
      }
      default:
        return gl_err(GL_EPARSE, "%s: malformed protobuf: wire type %u at byte %zu is not supported", what,
                      wire, at);
    }
  }
  return GL_OK;
}

const char *gl_pb_dtype_name(int code) {
  static _Thread_local char buf[32];
  switch (code) {
    case 8: return "string";
    case 14: return "complex64";
    case 15: return "complex128";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    default: break;
  }
  const char *n = gl_dtype_name((gl_dtype_t)code);
  if (code != 0 && n && strcmp(n, "undefined")) return n;
  snprintf(buf, sizeof buf, "data type %d", code);
  return buf;
}
