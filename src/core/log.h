/* core/log.h - leveled logging to stderr, one line per message, thread-safe.
 * Owns: the global log level (GPULET_LOG=error|warn|info|debug, default warn). */
#ifndef GL_CORE_LOG_H
#define GL_CORE_LOG_H

#include "core/status.h"

typedef enum { GL_LOG_ERROR = 0, GL_LOG_WARN, GL_LOG_INFO, GL_LOG_DEBUG } gl_log_level_t;

void gl_log_set_level(gl_log_level_t lvl);
gl_log_level_t gl_log_level(void);
void gl_log(gl_log_level_t lvl, const char *fmt, ...) GL_PRINTF(2, 3);

#define GL_LOGE(...) gl_log(GL_LOG_ERROR, __VA_ARGS__)
#define GL_LOGW(...) gl_log(GL_LOG_WARN, __VA_ARGS__)
#define GL_LOGI(...) gl_log(GL_LOG_INFO, __VA_ARGS__)
#define GL_LOGD(...) gl_log(GL_LOG_DEBUG, __VA_ARGS__)

#endif
