/* core/status.h - gpulet's one status vocabulary and the thread's last error message.
 * Owns: gl_status_t (0 ok, negative errors, positive non-error codes such as GL_AGAIN) and
 * gl_err(), which records a one-line message for the calling thread and returns the code.
 * Does not own: logging (core/log.h). */
#ifndef GL_CORE_STATUS_H
#define GL_CORE_STATUS_H

#define GL_STATUS_MAP(X)                                                    \
  X(GL_OK, 0, "ok")                                                         \
  X(GL_AGAIN, 1, "again")                                                   \
  X(GL_EINVAL, -1, "invalid argument")                                      \
  X(GL_ENOMEM, -2, "out of memory")                                         \
  X(GL_EIO, -3, "input/output error")                                       \
  X(GL_EPARSE, -4, "malformed input")                                       \
  X(GL_EUNSUPPORTED, -5, "unsupported")                                     \
  X(GL_ESHAPE, -6, "shape mismatch")                                        \
  X(GL_ETYPE, -7, "type mismatch")                                          \
  X(GL_ENOTFOUND, -8, "not found")                                          \
  X(GL_ELIMIT, -9, "limit exceeded")                                        \
  X(GL_EBACKEND, -10, "backend failure")                                    \
  X(GL_ETIMEOUT, -11, "timed out")                                          \
  X(GL_EBUSY, -12, "busy")                                                  \
  X(GL_ESTATE, -13, "wrong state")                                          \
  X(GL_EDEVICE, -14, "device failure")

typedef enum {
#define GL__S(name, code, msg) name = code,
  GL_STATUS_MAP(GL__S)
#undef GL__S
} gl_status_t;

#define GL_MUST_USE __attribute__((warn_unused_result))
#define GL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* The status's name, e.g. "GL_EINVAL"; never NULL. */
const char *gl_status_name(gl_status_t s);
/* A short description of the status, e.g. "invalid argument"; never NULL. */
const char *gl_status_str(gl_status_t s);

/* Records a formatted one-line message as this thread's last error and returns s. */
gl_status_t gl_err(gl_status_t s, const char *fmt, ...) GL_PRINTF(2, 3);
/* Prefixes this thread's last error with a formatted context ("loading x.onnx: ...") and returns s. */
gl_status_t gl_err_wrap(gl_status_t s, const char *fmt, ...) GL_PRINTF(2, 3);
/* This thread's last error message ("" if none); valid until the next gl_err on this thread. */
const char *gl_errmsg(void);
void gl_err_clear(void);

/* Evaluates expr; returns its status from the enclosing function if it is an error. */
#define GL_TRY(expr)                                                        \
  do {                                                                      \
    gl_status_t gl__st = (expr);                                            \
    if (gl__st < 0) return gl__st;                                          \
  } while (0)

/* Programmer errors only: aborts with file and line. Input errors return a status instead. */
#define GL_ASSERT(cond)                                                     \
  do {                                                                      \
    if (!(cond)) gl__assert_fail(#cond, __FILE__, __LINE__);                \
  } while (0)
#ifdef __cplusplus
[[noreturn]] void gl__assert_fail(const char *what, const char *file, int line);
#else
_Noreturn void gl__assert_fail(const char *what, const char *file, int line);
#endif

#endif
